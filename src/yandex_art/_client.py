"""The facade: AIStudio and AsyncAIStudio. Wiring only; ClientCore checks the settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from typing_extensions import Self, Unpack

from . import __version__
from ._gen.image_generation import AsyncImageGeneration, ImageGeneration
from ._gen.transports import image_generation_async_service, operation_service
from ._runtime import logs
from ._runtime.auth import AuthProvider
from ._runtime.client_core import DISCOVERY, ClientCore, ClientSettings, TransportName, Verify
from ._runtime.quota import QuotaStore
from ._runtime.retry import RetryPolicy
from ._runtime.undefined import UNDEFINED, UndefinedOr

__all__ = ["AIStudio", "AsyncAIStudio", "ClientSettings", "DEFAULT_SERVICE_MAP"]

# What the public endpoint discovery (api.cloud.yandex.net:443) answers for our services.
DEFAULT_SERVICE_MAP: dict[str, str] = {
    image_generation_async_service.SERVICE_ID: "llm.api.cloud.yandex.net:443",
    operation_service.SERVICE_ID: "operation.api.cloud.yandex.net:443",
}
F = TypeVar("F")
_LIST_ENDPOINTS = "/yandex.cloud.endpoint.ApiEndpointService/List"


async def _discover(core: ClientCore) -> Mapping[str, str]:
    """Service id -> ``host:port``, as the discovery address lists them (ApiEndpointService.List
    over gRPC; ``GET /endpoints``, the same list as JSON, over REST)."""
    if core.transport == "rest":
        data = await core.rest_call(
            service_id=DISCOVERY,
            http_method="GET",
            path="/endpoints",
            query=None,
            body=None,
            timeout=None,
            idempotent=True,
        )
        items = data.get("endpoints", []) if isinstance(data, dict) else []
        return {
            str(item.get("id")): str(item.get("address"))
            for item in items
            if isinstance(item, dict)
        }
    from ._gen.proto.yandex.cloud.endpoint import ListApiEndpointsRequest, ListApiEndpointsResponse

    answer = await core.grpc_call(
        service_id=DISCOVERY,
        method=_LIST_ENDPOINTS,
        request=ListApiEndpointsRequest(),
        parse=ListApiEndpointsResponse.parse,
        timeout=None,
        idempotent=True,
    )
    return {endpoint.id: endpoint.address for endpoint in answer.endpoints}


@dataclass(frozen=True)
class _Models(Generic[F]):
    image_generation: F

    if not TYPE_CHECKING:  # type checkers keep reporting a misspelt name as unknown

        def __getattr__(self, name: str) -> Any:  # only for names that do not exist
            if name.startswith("_"):
                raise AttributeError(name)
            raise AttributeError(
                f"sdk.models.{name} is not part of this SDK, which covers image generation "
                f"only (sdk.models.image_generation); the official yandex-ai-studio-sdk has it"
            )


class _BaseAIStudio:
    def __init__(
        self,
        *,
        folder_id: str | None = None,
        auth: str | AuthProvider | None = None,
        endpoint: UndefinedOr[str | None] = UNDEFINED,
        address: str | None = None,
        service_map: Mapping[str, str] | None = None,
        verify: Verify | None = None,
        retry_policy: RetryPolicy | None = None,
        transport: TransportName = "grpc",
        enable_server_data_logging: bool | None = None,
        max_reads_per_second: float | None = 50.0,
        allow_insecure: bool = False,
        env: Mapping[str, str] | None = None,
        duration_cache: bool | None = None,
        timeout: float = 60.0,
        default_headers: Mapping[str, str] | None = None,
        yc_profile: str | None = None,
        interceptors: Sequence[Any] | None = None,
        quota_store: str | QuotaStore | None = None,
    ) -> None:
        """Connects nothing yet: channels open on the first call.

        Args:
            folder_id: the folder to bill (default: ``YC_FOLDER_ID``).
            auth: an API key, IAM/OAuth token or ``AuthProvider`` (None: from the environment).
            endpoint: the endpoint-discovery address, as in the official SDK (default:
                ``YC_API_ENDPOINT``, else ``api.cloud.yandex.net:443``, whose answer is known
                and not asked); ``None`` turns discovery off (the public addresses).
            address: ``host[:port]`` serving every service, no discovery (e.g. an emulator).
            service_map: per-service ``host[:port]`` by service id; wins over the others.
            verify: True (system CAs), False (plaintext: loopback only) or a CA bundle's path;
                None (default): TLS with the system CAs, plaintext to loopback addresses.
            retry_policy: how to repeat a call that failed in transport.
            transport: ``"grpc"`` (default) or ``"rest"``.
            enable_server_data_logging: sends ``x-data-logging-enabled`` when set.
            max_reads_per_second: the client-wide operation-read budget (None: none).
            allow_insecure: allow ``verify=False`` towards non-loopback endpoints.
            env: read instead of ``os.environ`` (credentials, proxies, ``YANDEX_ART_LOG``).
            duration_cache: False keeps learned durations off disk (None: ``YANDEX_ART_CACHE``).
            timeout: seconds for each request of a call that passes no ``timeout=``.
            default_headers: headers sent with every call; a ``user-agent`` is appended to
                the SDK's own.
            yc_profile: the ``yc`` CLI profile used when credentials come from ``yc``.
            interceptors: gRPC client interceptors (``grpc.UnaryUnaryClientInterceptor``).
            quota_store: where the folder's quotas are shared: ``"local"`` (every process
                on the host), ``"redis://host:port/db"`` (several hosts; the ``redis``
                extra), ``"process"`` (this client alone); None: ``YANDEX_ART_QUOTA_STORE``,
                else ``"local"``.
        """
        settings = {k: v for k, v in locals().items() if k in ClientSettings.__annotations__}
        self._settings = cast(ClientSettings, settings)
        # Models and operations hold the core, not this object: the core closes itself when
        # the last of them goes, so dropping the client variable never breaks a model.
        self._core = ClientCore(DEFAULT_SERVICE_MAP, __version__, self._settings, _discover)

    @property
    def folder_id(self) -> str:
        return self._core.folder_id

    def with_options(self, **changes: Unpack[ClientSettings]) -> Self:
        """A new client with these settings changed and the others as this one was given them.

        The copy opens its own connections, loop thread and read budget, and is closed on its
        own. Only what you passed in is shared, as passed: an ``AuthProvider`` object (and its
        cached token), ``env``, ``service_map``, ``default_headers``, interceptors.
        """
        merged: ClientSettings = {**self._settings, **changes}
        return type(self)(**merged)

    def setup_default_logging(
        self,
        log_level: int | str = "INFO",
        log_format: str = logs.DEFAULT_LOG_FORMAT,
        date_format: str = logs.DEFAULT_DATE_FORMAT,
    ) -> Self:
        """Log this SDK (the ``yandex_art`` tree) to stderr, as the official SDK's method does
        for its own; nothing changes when that tree already has a handler of yours."""
        logs.setup_default_logging(log_level, log_format, date_format)
        return self


class AIStudio(_BaseAIStudio):
    """Blocking client. ``sdk.models.image_generation('yandex-art')`` makes a model.

    Use it as a context manager, or call :meth:`close`, to release its connections and thread.
    """

    @cached_property
    def models(self) -> _Models[ImageGeneration]:
        return _Models(ImageGeneration(self._core))

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncAIStudio(_BaseAIStudio):
    """Asyncio client. ``sdk.models.image_generation('yandex-art')`` makes a model."""

    @cached_property
    def models(self) -> _Models[AsyncImageGeneration]:
        return _Models(AsyncImageGeneration(self._core))

    async def close(self) -> None:
        await self._core.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

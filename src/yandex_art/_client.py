"""The facade: AIStudio and AsyncAIStudio. Wiring only; ClientCore checks the settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, Self, TypeVar, cast

from . import __version__
from ._gen.image_generation import AsyncImageGeneration, ImageGeneration
from ._gen.transports import image_generation_async_service, operation_service
from ._runtime.auth import AuthProvider
from ._runtime.client_core import ClientCore, ClientSettings, TransportName, Verify
from ._runtime.quota import QuotaStore
from ._runtime.retry import RetryPolicy

__all__ = ["AIStudio", "AsyncAIStudio", "ClientSettings", "DEFAULT_SERVICE_MAP"]

DEFAULT_SERVICE_MAP: dict[str, str] = {
    image_generation_async_service.SERVICE_ID: "llm.api.cloud.yandex.net:443",
    operation_service.SERVICE_ID: "operation.api.cloud.yandex.net:443",
}
F = TypeVar("F")


@dataclass(frozen=True)
class _Models(Generic[F]):
    image_generation: F


class _BaseAIStudio:
    def __init__(
        self,
        *,
        folder_id: str | None = None,
        auth: str | AuthProvider | None = None,
        endpoint: str | None = None,
        service_map: Mapping[str, str] | None = None,
        verify: Verify = True,
        retry_policy: RetryPolicy | None = None,
        transport: TransportName = "grpc",
        enable_server_data_logging: bool | None = None,
        max_reads_per_second: float | None = 50.0,
        allow_insecure: bool = False,
        env: Mapping[str, str] | None = None,
        duration_cache: bool | None = None,
        quota_store: str | QuotaStore | None = None,
    ) -> None:
        """Connects nothing yet: channels open on the first call.

        Args:
            folder_id: the folder to bill (default: ``YC_FOLDER_ID``).
            auth: an API key, IAM/OAuth token or ``AuthProvider`` (None: from the environment).
            endpoint: ``host[:port]`` serving every service (e.g. an emulator).
            service_map: per-service ``host[:port]`` by service id.
            verify: True (system CAs), False (plaintext: loopback only) or a CA bundle's path.
            retry_policy: how to repeat a call that failed in transport.
            transport: ``"grpc"`` (default) or ``"rest"``.
            enable_server_data_logging: sends ``x-data-logging-enabled`` when set.
            max_reads_per_second: the client-wide operation-read budget (None: none).
            allow_insecure: allow ``verify=False`` towards non-loopback endpoints.
            env: read instead of ``os.environ`` (credentials, proxies, ``YANDEX_ART_LOG``).
            duration_cache: False keeps learned durations off disk (None: ``YANDEX_ART_CACHE``).
            quota_store: where the folder's quotas are shared: ``"local"`` (every process
                on the host), ``"redis://host:port/db"`` (several hosts; the ``redis``
                extra), ``"process"`` (this client alone); None: ``YANDEX_ART_QUOTA_STORE``,
                else ``"local"``.
        """
        settings = {k: v for k, v in locals().items() if k in ClientSettings.__annotations__}
        # Models and operations hold the core, not this object: the core closes itself when
        # the last of them goes, so dropping the client variable never breaks a model.
        self._core = ClientCore(DEFAULT_SERVICE_MAP, __version__, cast(ClientSettings, settings))

    @property
    def folder_id(self) -> str:
        return self._core.folder_id


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

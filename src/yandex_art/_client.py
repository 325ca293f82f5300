"""The facade: AIStudio and AsyncAIStudio. Wiring only; the logic lives below."""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypedDict

from ._gen.image_generation import AsyncImageGeneration, ImageGeneration
from ._gen.transports import image_generation_async_service, operation_service
from ._runtime.auth import AuthProvider, coerce_auth
from ._runtime.client_core import (
    ClientCore,
    Endpoint,
    TransportName,
    Verify,
    parse_endpoint,
    user_agent,
)
from ._runtime.errors import ConfigurationError
from ._runtime.retry import RetryPolicy

__all__ = ["AIStudio", "AsyncAIStudio", "ClientSettings", "DEFAULT_SERVICE_MAP"]

DEFAULT_SERVICE_MAP: dict[str, str] = {
    image_generation_async_service.SERVICE_ID: "llm.api.cloud.yandex.net:443",
    operation_service.SERVICE_ID: "operation.api.cloud.yandex.net:443",
}


def _version() -> str:
    from . import __version__

    return __version__


class ClientSettings(TypedDict, total=False):
    """The constructor's keyword arguments, for helpers that pass them on
    (``Emulator.sdk(**settings)``); a test keeps the two equal."""

    folder_id: str | None
    auth: str | AuthProvider | None
    endpoint: str | None
    service_map: Mapping[str, str] | None
    verify: Verify
    retry_policy: RetryPolicy | None
    transport: TransportName
    enable_server_data_logging: bool | None
    max_reads_per_second: float | None
    allow_insecure: bool
    env: Mapping[str, str] | None
    duration_cache: bool | None


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
    ) -> None:
        """Connects nothing yet; channels open on the first call.

        Args:
            folder_id: the Yandex Cloud folder to bill (default: ``YC_FOLDER_ID``).
            auth: an API key, IAM or OAuth token string, or an ``AuthProvider``;
                ``None`` looks in the environment (see the README for the order).
            endpoint: ``host[:port]`` serving every service (e.g. an emulator).
            service_map: per-service ``host[:port]`` by service id.
            verify: ``True`` (system CAs), ``False`` (plaintext, loopback only
                unless ``allow_insecure``), or the path of a CA bundle.
            retry_policy: how to repeat a call that failed in transport.
            transport: ``"grpc"`` (default) or ``"rest"``.
            enable_server_data_logging: sends ``x-data-logging-enabled`` when set.
            max_reads_per_second: the client-wide operation-read budget (None: none).
            allow_insecure: allow ``verify=False`` towards non-loopback endpoints.
            env: the environment to read instead of ``os.environ`` (credentials,
                proxies, ``YANDEX_ART_LOG``).
            duration_cache: ``False`` keeps learned durations out of the
                on-disk cache (``None``: on unless ``YANDEX_ART_CACHE=0``).
        """
        env = os.environ if env is None else env
        folder_id = folder_id if folder_id is not None else env.get("YC_FOLDER_ID")
        if not isinstance(folder_id, str | None):
            raise ConfigurationError(f"folder_id must be a str, not {type(folder_id).__name__}")
        if not folder_id or not folder_id.strip():
            raise ConfigurationError(
                "no folder id: pass folder_id= or set the YC_FOLDER_ID environment variable"
            )
        if not folder_id.isprintable():
            raise ConfigurationError("folder_id must be printable text (no control or surrogate)")
        _check_verify(verify)
        endpoints: dict[str, Endpoint] = {
            service_id: parse_endpoint(default if endpoint is None else endpoint)
            for service_id, default in DEFAULT_SERVICE_MAP.items()
        }
        for service_id, address in (service_map or {}).items():
            if service_id not in DEFAULT_SERVICE_MAP:
                known = ", ".join(sorted(DEFAULT_SERVICE_MAP))
                raise ConfigurationError(
                    f"service_map: unknown service {service_id!r} (known: {known})"
                )
            endpoints[service_id] = parse_endpoint(address)
        if verify is False and not allow_insecure:
            remote = sorted({str(e) for e in endpoints.values() if not e.is_loopback})
            if remote:
                raise ConfigurationError(
                    f"verify=False sends credentials in plaintext; it is allowed only for loopback "
                    f"endpoints, not {', '.join(remote)} (pass allow_insecure=True to force it)"
                )
        self._core = ClientCore(
            folder_id=folder_id,
            auth=coerce_auth(auth, env),
            endpoints=endpoints,
            verify=verify,
            transport=transport,
            retry_policy=retry_policy,
            enable_server_data_logging=enable_server_data_logging,
            user_agent=user_agent(_version()),
            max_reads_per_second=max_reads_per_second,
            env=env,
            duration_cache=duration_cache,
        )
        # A client never closed releases its connections quietly when it is
        # collected or the interpreter exits.
        weakref.finalize(self, self._core.release_quietly)
        self._attach_models()

    def _attach_models(self) -> None:
        raise NotImplementedError

    @property
    def folder_id(self) -> str:
        return str(self._core.folder_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class AIStudio(_BaseAIStudio):
    """Blocking client. ``sdk.models.image_generation('yandex-art')`` makes a model.

    Use it as a context manager, or call :meth:`close`, to release its
    connections and its background event-loop thread.
    """

    models: _SyncModels

    def _attach_models(self) -> None:
        self.models = _SyncModels(ImageGeneration(self._core))

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncAIStudio(_BaseAIStudio):
    """Asyncio client. ``sdk.models.image_generation('yandex-art')`` makes a model."""

    models: _AsyncModels

    def _attach_models(self) -> None:
        self.models = _AsyncModels(AsyncImageGeneration(self._core))

    async def close(self) -> None:
        await self._core.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _check_verify(verify: object) -> None:
    """A CA bundle must be a readable PEM bundle now, not at the first call."""
    if isinstance(verify, bool):
        return
    if not isinstance(verify, str | os.PathLike):
        raise ConfigurationError("verify must be True, False or the path of a CA bundle")
    path = os.fspath(verify)
    if not os.path.isfile(path):
        raise ConfigurationError(f"verify={path!r}: no such CA bundle file")
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigurationError(f"verify={path!r} is not a usable CA bundle ({exc})") from None


@dataclass(frozen=True)
class _SyncModels:
    image_generation: ImageGeneration


@dataclass(frozen=True)
class _AsyncModels:
    image_generation: AsyncImageGeneration

"""The facade: AIStudio and AsyncAIStudio. Wiring only; the logic lives below."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from ._gen.image_generation import AsyncImageGeneration, ImageGeneration
from ._gen.transports import image_generation_async_service, operation_service
from ._runtime.auth import AuthProvider, coerce_auth
from ._runtime.core import ClientCore, Endpoint, TransportName, parse_endpoint
from ._runtime.errors import ConfigurationError
from ._runtime.retry import RetryPolicy

__all__ = ["AIStudio", "AsyncAIStudio", "DEFAULT_SERVICE_MAP"]

DEFAULT_SERVICE_MAP: dict[str, str] = {
    image_generation_async_service.SERVICE_ID: "llm.api.cloud.yandex.net:443",
    operation_service.SERVICE_ID: "operation.api.cloud.yandex.net:443",
}


def _version() -> str:
    from . import __version__

    return __version__


class _BaseAIStudio:
    def __init__(
        self,
        *,
        folder_id: str | None = None,
        auth: str | AuthProvider | None = None,
        endpoint: str | None = None,
        service_map: Mapping[str, str] | None = None,
        verify: bool | str = True,
        retry_policy: RetryPolicy | None = None,
        transport: TransportName = "grpc",
        enable_server_data_logging: bool | None = None,
        max_reads_per_second: float | None = 50.0,
        allow_insecure: bool = False,
        env: Mapping[str, str] | None = None,
        duration_cache: bool | None = None,
    ) -> None:
        env = os.environ if env is None else env
        folder_id = folder_id if folder_id is not None else env.get("YC_FOLDER_ID")
        if not folder_id:
            raise ConfigurationError(
                "no folder id: pass folder_id= or set the YC_FOLDER_ID environment variable"
            )
        if not isinstance(verify, (bool, str)):
            raise ConfigurationError("verify must be True, False or a path to a CA bundle")
        if isinstance(verify, str) and not os.path.isfile(verify):
            raise ConfigurationError(f"verify={verify!r}: no such CA bundle file")
        endpoints: dict[str, Endpoint] = {}
        for service_id, default in DEFAULT_SERVICE_MAP.items():
            endpoints[service_id] = parse_endpoint(endpoint or default)
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
            user_agent=f"yandex-art-sdk/{_version()}",
            max_reads_per_second=max_reads_per_second,
            duration_cache=duration_cache,
        )

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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
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


class _SyncModels:
    def __init__(self, image_generation: ImageGeneration) -> None:
        self.image_generation = image_generation


class _AsyncModels:
    def __init__(self, image_generation: AsyncImageGeneration) -> None:
        self.image_generation = image_generation

"""grpclib client stubs for raw calls to the emulator, built from the generated method tables.

The SDK generates no grpclib stubs (its client is grpcio); these tests speak
to the emulator's grpclib server directly, one method table at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from betterproto2.grpclib.grpclib_client import ServiceStub
from grpclib.client import Channel

from yandex_art._gen.proto.yandex.cloud.endpoint import (
    ApiEndpoint,
    GetApiEndpointRequest,
    ListApiEndpointsRequest,
    ListApiEndpointsResponse,
)
from yandex_art._gen.transports import image_generation_async_service, operation_service

ENDPOINT_METHODS: dict[str, tuple[str, type[Any], type[Any]]] = {
    "/yandex.cloud.endpoint.ApiEndpointService/Get": ("get", GetApiEndpointRequest, ApiEndpoint),
    "/yandex.cloud.endpoint.ApiEndpointService/List": (
        "list",
        ListApiEndpointsRequest,
        ListApiEndpointsResponse,
    ),
}


class TableStub(ServiceStub):
    """``stub.<method>(request, timeout=..., metadata=...)`` for every method of a table."""

    def __init__(
        self,
        channel: Channel,
        methods: Mapping[str, tuple[str, type[Any], type[Any]]],
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(channel, metadata=metadata)
        self._by_name = {name: (path, reply) for path, (name, _, reply) in methods.items()}

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        try:
            path, reply = self.__dict__["_by_name"][name]
        except KeyError:
            raise AttributeError(name) from None

        async def call(request: Any, **kwargs: Any) -> Any:
            return await self._unary_unary(path, request, reply, **kwargs)

        return call


def generation_stub(channel: Channel, metadata: Mapping[str, str] | None = None) -> TableStub:
    return TableStub(channel, image_generation_async_service.GRPC_METHODS, metadata)


def operation_stub(channel: Channel, metadata: Mapping[str, str] | None = None) -> TableStub:
    return TableStub(channel, operation_service.GRPC_METHODS, metadata)


def endpoint_stub(channel: Channel, metadata: Mapping[str, str] | None = None) -> TableStub:
    return TableStub(channel, ENDPOINT_METHODS, metadata)

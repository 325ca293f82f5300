"""The gRPC face: grpclib handlers over :class:`EmulatorService`.

The methods, their paths and message types come from the generated
transports' ``GRPC_METHODS`` tables (ApiEndpointService, which the SDK does
not call, is declared here).

Authentication, call faults, latency and the read quota are applied in a
``RecvRequest`` event hook, before the request message is read.
"""

from __future__ import annotations

import logging
import socket
import time
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime, timezone
from functools import partial
from typing import Any, ClassVar

from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.events import RecvRequest, listen
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server

from .._gen import image_generation_rules as RULES
from .._gen.proto.google.protobuf import Any as AnyMessage
from .._gen.proto.google.rpc import Status as StatusMessage
from .._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    ImageGenerationResponse,
)
from .._gen.proto.yandex.cloud.endpoint import (
    ApiEndpoint,
    GetApiEndpointRequest,
    ListApiEndpointsRequest,
    ListApiEndpointsResponse,
)
from .._gen.proto.yandex.cloud.operation import (
    CancelOperationRequest,
    GetOperationRequest,
    Operation,
)
from .._gen.transports import image_generation_async_service, operation_service
from .._runtime.fields import RpcRule, build
from .errors import EmulatorError
from .faults import status_of
from .service import EmulatorService
from .views import OperationView, result_values

__all__ = ["MAX_MESSAGE_BYTES", "GrpcServer", "build_server", "receive", "to_proto"]

# WHY: hpack, under grpclib, logs every header it decodes at DEBUG, ``authorization``
# included, so an application with ``logging.basicConfig(level=DEBUG)`` would print the
# credentials sent to the emulator. Its tree is held at INFO unless the application set a
# level for it itself.
if logging.getLogger("hpack").level == logging.NOTSET:
    logging.getLogger("hpack").setLevel(logging.INFO)

# Faults, latency and quota are per method kind: every rpc of the image service is "generate".
_METHODS = {
    **dict.fromkeys(image_generation_async_service.GRPC_METHODS, "generate"),
    "/yandex.cloud.operation.OperationService/Get": "get",
    "/yandex.cloud.operation.OperationService/Cancel": "cancel",
}


_authorization: ContextVar[str | None] = ContextVar("yandex_art_emulator_auth", default=None)
_idempotency_key: ContextVar[str | None] = ContextVar("yandex_art_emulator_key", default=None)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _result(image: bytes, model_version: str) -> Any:
    return build(ImageGenerationResponse, result_values(image, model_version))


def to_proto(view: OperationView) -> Operation:
    """The wire message of an operation."""
    operation = Operation(
        id=view.id,
        description=view.description,
        created_at=_time(view.created_at),
        created_by=view.created_by,
        modified_at=_time(view.modified_at),
        done=view.done,
    )
    if view.error is not None:
        operation.error = StatusMessage(code=view.error[0], message=view.error[1])
    elif view.response is not None:
        value = b""
        if view.response.image or view.response.model_version:
            value = bytes(_result(view.response.image, view.response.model_version))
        operation.response = AnyMessage(type_url=view.response.type_url, value=value)
    return operation


class _StrictCodec(ProtoCodec):
    """Answers a request that does not parse with INVALID_ARGUMENT (not UNKNOWN and a traceback)."""

    def decode(self, data: bytes, message_type: Any) -> Any:
        try:
            return super().decode(data, message_type)
        except Exception as exc:
            raise GRPCError(
                Status.INVALID_ARGUMENT,
                f"the request is not a valid {message_type.__name__} message: {type(exc).__name__}",
            ) from None


def _error(exc: EmulatorError) -> GRPCError:
    return GRPCError(exc.status, exc.message)


_ENDPOINTS = "/yandex.cloud.endpoint.ApiEndpointService/"
_ENDPOINT_METHODS: dict[str, tuple[str, type[Any], type[Any]]] = {
    _ENDPOINTS + "Get": ("get", GetApiEndpointRequest, ApiEndpoint),
    _ENDPOINTS + "List": ("list", ListApiEndpointsRequest, ListApiEndpointsResponse),
}


class _Service:
    """One service for grpclib: its ``__mapping__`` comes from a method table."""

    methods: ClassVar[dict[str, tuple[str, type[Any], type[Any]]]] = {}

    def __mapping__(self) -> dict[str, Handler]:
        return {
            path: Handler(self._handler(getattr(self, name)), Cardinality.UNARY_UNARY, req, resp)
            for path, (name, req, resp) in self.methods.items()
        }

    @staticmethod
    def _handler(method: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[None]]:
        async def handle(stream: Any) -> None:
            request = await receive(stream)
            await stream.send_message(await method(request))

        return handle


MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The largest request message accepted (grpcio's default receive limit)."""


async def receive(stream: Any) -> Any:
    """The request message of a unary call, its size checked before it is read.

    WHY: grpclib's ``recv_message`` reads as many bytes as the 5-byte prefix announces,
    buffering (and acknowledging) every frame of a 100 MB message before anything can
    refuse it, and trusting a 4 GiB prefix; here the prefix is read first and a message
    over the limit is refused with RESOURCE_EXHAUSTED (as grpcio does) while the rest of
    it is still unread: the stream is then reset, its bytes never buffered.
    """
    raw = stream._stream  # grpclib's HTTP/2 stream: read in parts, not in one message
    prefix = await raw.recv_data(5)
    if len(prefix) != 5:
        raise GRPCError(Status.INVALID_ARGUMENT, "the request has no message")
    if prefix[0] not in (0, 1):
        raise GRPCError(Status.INVALID_ARGUMENT, "the message's compressed flag is not 0 or 1")
    if prefix[0] == 1:
        raise GRPCError(Status.UNIMPLEMENTED, "compressed messages are not supported")
    length = int.from_bytes(prefix[1:], "big")
    if length > MAX_MESSAGE_BYTES:
        raise GRPCError(
            Status.RESOURCE_EXHAUSTED,
            f"the request message is {length} bytes; at most {MAX_MESSAGE_BYTES} are accepted",
        )
    data = await raw.recv_data(length) if length else b""
    if len(data) != length:
        raise GRPCError(Status.INVALID_ARGUMENT, "the request message is cut short")
    message = stream._codec.decode(data, stream._recv_type)
    (message,) = await stream._dispatch.recv_message(message)  # the RecvMessage event hooks
    stream._messages_received += 1  # the bookkeeping grpclib's own reading does
    raw.connection.messages_received += 1
    raw.connection.last_message_received = time.monotonic()
    return message


class _Generation(_Service):
    """Every rpc of the image service, from the generated tables: an operation rpc starts a
    generation; a unary one generates and answers with the result itself."""

    methods = image_generation_async_service.GRPC_METHODS

    def __init__(self, service: EmulatorService) -> None:
        self._service = service
        self._rpcs = {rpc.grpc_path: rpc for rpc in RULES.RPCS}

    def __mapping__(self) -> dict[str, Handler]:
        mapping = {}
        for path, (_, request_type, response_type) in self.methods.items():
            call = partial(self._call, self._rpcs[path], response_type)
            mapping[path] = Handler(
                self._handler(call), Cardinality.UNARY_UNARY, request_type, response_type
            )
        return mapping

    async def _call(self, rpc: RpcRule, response_type: type[Any], message: Any) -> Any:
        try:
            params = self._service.validate(message, json_names=False, rpc=rpc)
            view = await self._service.generate(
                params,
                _authorization.get(),
                idempotency_key=_idempotency_key.get(),
                result_type_url=rpc.result_type_url,
            )
            if rpc.deferred:
                return to_proto(view)
            return result_message(await self._service.finished(view.id), response_type)
        except EmulatorError as exc:
            raise _error(exc) from None


def result_message(view: OperationView, response_type: type[Any]) -> Any:
    """What a unary rpc answers with: the finished operation's response, or its error."""
    if view.error is not None:
        raise EmulatorError(status_of(view.error[0]), view.error[1])
    if view.response is not None and view.response.image:
        return _result(view.response.image, view.response.model_version)
    return response_type()


class _Operations(_Service):
    methods = operation_service.GRPC_METHODS

    def __init__(self, service: EmulatorService) -> None:
        self._service = service

    async def get(self, message: GetOperationRequest) -> Operation:
        try:
            return to_proto(await self._service.get(message.operation_id))
        except EmulatorError as exc:
            raise _error(exc) from None

    async def cancel(self, message: CancelOperationRequest) -> Operation:
        try:
            return to_proto(self._service.cancel(message.operation_id))
        except EmulatorError as exc:
            raise _error(exc) from None


class _Endpoints(_Service):
    methods = _ENDPOINT_METHODS

    def __init__(self, service: EmulatorService, address: str) -> None:
        self._service = service
        self.address = address

    async def get(self, message: GetApiEndpointRequest) -> ApiEndpoint:
        if message.api_endpoint_id not in self._service.endpoint_ids():
            raise GRPCError(
                Status.NOT_FOUND,
                f"no API endpoint {message.api_endpoint_id!r}",
            )
        return ApiEndpoint(id=message.api_endpoint_id, address=self.address)

    async def list(self, message: ListApiEndpointsRequest) -> ListApiEndpointsResponse:
        return ListApiEndpointsResponse(
            endpoints=[
                ApiEndpoint(id=i, address=self.address) for i in self._service.endpoint_ids()
            ]
        )


class GrpcServer:
    """A grpclib server with the three services that also drops open connections on close."""

    def __init__(self, service: EmulatorService, address: str) -> None:
        self.server = Server(
            [_Generation(service), _Operations(service), _Endpoints(service, address)],
            codec=_StrictCodec(),
        )
        self._protocols: weakref.WeakSet[H2Protocol] = weakref.WeakSet()
        make_protocol = self.server._protocol_factory

        def tracked() -> H2Protocol:
            protocol = make_protocol()
            self._protocols.add(protocol)
            return protocol

        self.server._protocol_factory = tracked  # type: ignore[method-assign]

        async def on_request(event: RecvRequest) -> None:
            method = _METHODS.get(event.method_name, "endpoints")
            value = event.metadata.get("authorization")
            authorization = value if isinstance(value, str) else None
            _authorization.set(authorization)
            key = event.metadata.get("idempotency-key")
            _idempotency_key.set(key if isinstance(key, str) else None)
            try:
                await service.enter(method, authorization)
            except EmulatorError as exc:
                raise _error(exc) from None

        listen(self.server, RecvRequest, on_request)

    async def start(self, sock: socket.socket) -> None:
        await self.server.start(sock=sock)

    async def close(self) -> None:
        """Stop listening, cancel running calls and close client connections."""
        self.server.close()
        for protocol in list(self._protocols):
            connection = getattr(protocol, "connection", None)
            if connection is not None:
                connection.close()
        await self.server.wait_closed()


def build_server(service: EmulatorService, address: str) -> GrpcServer:
    """The gRPC server; ``address`` is what ApiEndpointService answers with."""
    return GrpcServer(service, address)

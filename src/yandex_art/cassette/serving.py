"""The servers the recorder and the replay share: gRPC (grpclib, bytes in and out) and REST
(aiohttp) on one event loop, every call handed to a :class:`Backend` as a :class:`Call`.

gRPC calls carry the request bytes as received (the recorder forwards them
untouched); REST calls are mapped to the gRPC method they stand for (the
``google.api.http`` rules of the specs, ``GET /operations/{id}``, ``GET
/endpoints``), so one recording serves clients of either transport.
Endpoint-discovery answers are rewritten on the way out to point every
service at this server.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server

from .._gen import image_generation_rules as RULES
from .._runtime.bridge import LoopThread
from ..emulator.errors import HTTP_STATUS
from ..emulator.sockets import bind_pair, host_port
from .format import GET_ENDPOINT, LIST_ENDPOINTS, METHODS, Recorded, type_name
from .messages import encode

__all__ = ["Backend", "Call", "CassetteServer", "Reply"]

_OPERATIONS = "/yandex.cloud.operation.OperationService/"


@dataclass
class Call:
    """One request, as a backend sees it."""

    method: str
    transport: str  # "grpc" or "rest"
    request: Recorded
    headers: list[tuple[str, str]]  # as the client sent them, credentials included
    raw: bytes | None = None  # gRPC: the request bytes
    http_method: str = ""  # REST: the request line and body, to forward as they came
    http_target: str = ""
    body: bytes = b""


@dataclass
class Reply:
    """The answer to a call: a status, and the message (or the bytes to send as they came)."""

    code: int = 0
    details: str = ""
    response: Recorded | None = None
    raw: bytes | None = None  # gRPC answer bytes from upstream
    rest_body: bytes | None = None  # REST answer body from upstream
    http_status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    unrecorded: bool = False  # the recorder's own failure, not the service's answer


class Backend(Protocol):
    """What answers the calls: the recorder (forwarding upstream) or the replay."""

    async def call(self, call: Call) -> Reply: ...

    async def aclose(self) -> None:
        """Let go of what the backend opened (the recorder's upstream connections)."""


class _RawCodec(ProtoCodec):
    """Bytes in, bytes out: the messages are decoded by the backend, not by grpclib."""

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


def _rewrite_endpoints(method: str, body: bytes, address: str) -> bytes:
    """A discovery answer naming this server for every service (the recording keeps the
    upstream's answer; the client must come back here)."""
    response_type = METHODS[method][1]
    message = response_type.parse(body)
    if method == LIST_ENDPOINTS:
        for endpoint in message.endpoints:
            endpoint.address = address
    else:
        message.address = address
    return bytes(message)


class _GrpcService:
    def __init__(self, backend: Backend, address: Callable[[], str]) -> None:
        self._backend = backend
        self._address = address

    def __mapping__(self) -> dict[str, Handler]:
        return {
            path: Handler(self._handler(path), Cardinality.UNARY_UNARY, bytes, bytes)
            for path in METHODS
        }

    def _handler(self, method: str) -> Callable[[Any], Awaitable[None]]:
        request_type = METHODS[method][0]

        async def handle(stream: Any) -> None:
            from .messages import decode

            raw = await stream.recv_message()
            headers = [(str(k), str(v)) for k, v in stream.metadata.items()]
            call = Call(method, "grpc", decode(request_type, raw), headers, raw=raw)
            reply = await self._backend.call(call)
            if reply.code:
                raise GRPCError(Status(reply.code), reply.details)
            if reply.raw is not None:
                body = reply.raw
            else:
                assert reply.response is not None
                body = encode(reply.response)
            if method in (LIST_ENDPOINTS, GET_ENDPOINT):
                body = _rewrite_endpoints(method, body, self._address())
            await stream.send_message(body)

        return handle


def _rest_routes() -> list[tuple[str, str, str]]:
    """(HTTP method, path, gRPC method) of every REST path served."""
    routes = [
        (rpc.http_method, rpc.http_path, rpc.grpc_path)
        for rpc in RULES.RPCS
        if rpc.http_method is not None and rpc.http_path is not None
    ]
    routes.append(("GET", "/operations/{operation_id}", _OPERATIONS + "Get"))
    routes.append(("GET", "/endpoints", LIST_ENDPOINTS))
    return routes


def _rest_request(request: web.Request, method: str, raw: bytes) -> tuple[str, Any]:
    """The gRPC method a REST request stands for, and its request message as proto3 JSON."""
    if "operation_id" in request.match_info:
        # WHY the raw path: a ``:`` of the id itself arrives encoded, ``:cancel`` does not.
        operation_id = request.match_info["operation_id"]
        if request.rel_url.raw_path.endswith(":cancel"):
            return _OPERATIONS + "Cancel", {"operationId": operation_id.removesuffix(":cancel")}
        return method, {"operationId": operation_id}
    if not raw.strip():
        return method, dict(request.query)
    try:
        return method, json.loads(raw)
    except ValueError:
        return method, {}


def _status_json(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": []}


def _rest_handler(backend: Backend, method: str) -> Callable[[web.Request], Awaitable[Any]]:
    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        grpc_method, body = _rest_request(request, method, raw)
        recorded = Recorded(type_name(METHODS[grpc_method][0]), body)
        headers = list(request.headers.items())
        target = request.rel_url.raw_path_qs
        call = Call(grpc_method, "rest", recorded, headers, None, request.method, target, raw)
        reply = await backend.call(call)
        if reply.rest_body is not None:
            data = reply.rest_body
            if grpc_method == LIST_ENDPOINTS and reply.http_status == 200:
                data = _rewrite_rest_endpoints(data, request)
            status = reply.http_status or 200
            return web.Response(body=data, status=status, content_type="application/json")
        if reply.code:
            http = reply.http_status or HTTP_STATUS.get(Status(reply.code), 500)
            return web.json_response(_status_json(reply.code, reply.details), status=http)
        assert reply.response is not None
        answer = reply.response.message
        if grpc_method == LIST_ENDPOINTS:
            answer = json.loads(_rewrite_rest_endpoints(json.dumps(answer).encode(), request))
        return web.json_response(answer)

    return handle


def _rewrite_rest_endpoints(data: bytes, request: web.Request) -> bytes:
    address = request.host if ":" in request.host.rsplit("]", 1)[-1] else f"{request.host}:80"
    try:
        listed = json.loads(data)
        for endpoint in listed.get("endpoints", []):
            endpoint["address"] = address
    except (ValueError, AttributeError, TypeError):
        return data
    return json.dumps(listed).encode()


def build_app(backend: Backend) -> web.Application:
    app = web.Application(client_max_size=64 << 20)
    for http_method, path, method in _rest_routes():
        app.router.add_route(http_method, path, _rest_handler(backend, method))
    return app


class CassetteServer:
    """gRPC and REST servers for one backend, on loopback ports (0: free ones)."""

    def __init__(
        self, backend: Backend, host: str = "127.0.0.1", grpc_port: int = 0, rest_port: int = 0
    ) -> None:
        self.backend = backend
        self._host, self._ports = host, (grpc_port, rest_port)
        self._grpc: Server | None = None
        self._runner: web.AppRunner | None = None
        self._protocols: weakref.WeakSet[H2Protocol] = weakref.WeakSet()
        self._addresses: tuple[tuple[str, int], tuple[str, int]] | None = None
        self._thread: LoopThread | None = None

    async def astart(self) -> None:
        grpc_sock, rest_sock = bind_pair(self._host, self._ports)
        self._addresses = (host_port(grpc_sock), host_port(rest_sock))
        server = Server([_GrpcService(self.backend, lambda: self.grpc_address)], codec=_RawCodec())
        make_protocol = server._protocol_factory

        def tracked() -> H2Protocol:  # remembered, to drop open connections on close
            protocol = make_protocol()
            self._protocols.add(protocol)
            return protocol

        server._protocol_factory = tracked  # type: ignore[method-assign]
        await server.start(sock=grpc_sock)
        self._grpc = server
        runner = web.AppRunner(
            build_app(self.backend), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        await web.SockSite(runner, rest_sock).start()

    async def aclose(self) -> None:
        if self._grpc is not None:
            self._grpc.close()
            for protocol in list(self._protocols):
                connection = getattr(protocol, "connection", None)
                if connection is not None:
                    connection.close()
            await self._grpc.wait_closed()
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.backend.aclose()

    def start(self) -> CassetteServer:
        """Serve on a background thread's event loop until :meth:`close`."""
        self._thread = LoopThread("yandex-art-cassette")
        try:
            self._thread.run(self.astart())
        except BaseException:
            self._thread.close()
            self._thread = None
            raise
        return self

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            try:
                thread.run(self.aclose())
            finally:
                thread.close()

    def __enter__(self) -> CassetteServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def grpc_address(self) -> str:
        if self._addresses is None:
            raise RuntimeError("the server is not running")
        host, port = self._addresses[0]
        return f"{host}:{port}"

    @property
    def rest_url(self) -> str:
        if self._addresses is None:
            raise RuntimeError("the server is not running")
        host, port = self._addresses[1]
        return f"http://{host}:{port}"

    def announcement(self, **extra: Any) -> dict[str, Any]:
        """The JSON line printed at start: the addresses, as ``yandex-art emulator`` prints."""
        import os

        return {"grpc": self.grpc_address, "rest": self.rest_url, **extra, "pid": os.getpid()}

"""``cassette record``: forward every call to the real service (or the addresses given) and
append each interaction to the cassette, credentials left out.

gRPC calls go upstream through grpcio's threaded API with the request bytes as
received (identity serializers), so whatever the client sent arrives
untouched, and the answer's bytes come back untouched; the cassette keeps
their decoded form (and the bytes, when the specs cannot carry all of them).
REST calls are forwarded with httpx. The cassette file is rewritten after
every interaction, so a recording killed midway keeps what it saw.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import grpc

from .._client import DEFAULT_SERVICE_MAP
from .._gen.transports import image_generation_async_service, operation_service
from .._runtime.endpoints import PUBLIC_API_ENDPOINT, parse_endpoint
from .format import DISCOVERY_METHODS, METHODS, Cassette, Interaction, Recorded, save, type_name
from .images import shrink
from .messages import decode, is_credential, kept_headers
from .serving import Call, Reply

__all__ = ["Recorder"]

_UPSTREAM_TIMEOUT = 300.0
# Headers grpcio or HTTP set themselves (or that describe one hop only): never forwarded.
_HOP_HEADERS = frozenset(
    {
        "te",
        "content-type",
        "user-agent",
        "host",
        "content-length",
        "connection",
        "transfer-encoding",
        "accept-encoding",
        "keep-alive",
        "upgrade",
    }
)
_SERVICE_OF = {
    **dict.fromkeys(image_generation_async_service.GRPC_METHODS, "ai-foundation-models"),
    **dict.fromkeys(operation_service.GRPC_METHODS, "operation"),
}
_REST_PUBLIC = {
    "ai-foundation-models": "https://" + DEFAULT_SERVICE_MAP["ai-foundation-models"].split(":")[0],
    "operation": "https://" + DEFAULT_SERVICE_MAP["operation"].split(":")[0],
    "endpoint": "https://" + PUBLIC_API_ENDPOINT.split(":")[0],
}


def _channel(address: str) -> grpc.Channel:
    """A channel to an upstream: plaintext to loopback (a local emulator), TLS elsewhere."""
    options = [
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20),
    ]
    if parse_endpoint(address, "--upstream").is_loopback:  # no proxy can reach it
        return grpc.insecure_channel(address, options=[*options, ("grpc.enable_http_proxy", 0)])
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(), options=options)


def _forwarded(headers: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The client's headers to send upstream (credentials included: the service needs them)."""
    return tuple(
        (name.lower(), value)
        for name, value in headers
        if not name.startswith(":")
        and name.lower() not in _HOP_HEADERS
        and not name.lower().startswith("grpc-")
    )


async def _await_future(future: Any) -> Any:
    """The result of a grpcio future, awaited from asyncio without blocking the loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def wake(_: Any) -> None:  # on a grpcio thread
        loop.call_soon_threadsafe(finish)

    future.add_done_callback(wake)
    await done
    return future


class Recorder:
    """The recording backend: forwards, then appends the interaction to ``path``."""

    def __init__(
        self,
        path: str | Path,
        *,
        upstream: str | None = None,
        upstream_rest: str | None = None,
        shrink_images: bool = False,
    ) -> None:
        self.path = Path(path)
        self.cassette = Cassette(path=self.path)
        self._upstream = upstream
        self._upstream_rest = upstream_rest.rstrip("/") if upstream_rest else None
        self._shrink = shrink_images
        self._channels: dict[str, grpc.Channel] = {}
        self._http: Any = None
        self._lock = threading.Lock()
        save(self.cassette, self.path)  # an empty cassette now: the file is writable

    # -- where calls go ---------------------------------------------------------------

    def _grpc_address(self, method: str) -> str:
        if self._upstream is not None:
            return self._upstream
        if method in DISCOVERY_METHODS:
            return PUBLIC_API_ENDPOINT
        return DEFAULT_SERVICE_MAP[_SERVICE_OF[method]]

    def _rest_base(self, method: str) -> str:
        if self._upstream_rest is not None:
            return self._upstream_rest
        return _REST_PUBLIC["endpoint" if method in DISCOVERY_METHODS else _SERVICE_OF[method]]

    # -- forwarding ---------------------------------------------------------------------

    async def call(self, call: Call) -> Reply:
        if call.transport == "grpc":
            reply = await self._forward_grpc(call)
        else:
            reply = await self._forward_rest(call)
        if not reply.unrecorded:
            self._append(call, reply)
        return reply

    async def _forward_grpc(self, call: Call) -> Reply:
        address = self._grpc_address(call.method)
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = _channel(address)
        stub: Any = channel.unary_unary(call.method)  # no serializers: bytes both ways
        future = stub.future(call.raw, metadata=_forwarded(call.headers), timeout=_UPSTREAM_TIMEOUT)
        await _await_future(future)
        headers = kept_headers(
            [*(future.initial_metadata() or ()), *(future.trailing_metadata() or ())]
        )
        code = future.code()
        if code != grpc.StatusCode.OK:
            return Reply(code=code.value[0], details=future.details() or "", headers=headers)
        raw = future.result()
        response = decode(METHODS[call.method][1], raw)
        return Reply(response=response, raw=raw, headers=headers)

    async def _forward_rest(self, call: Call) -> Reply:
        import httpx

        if self._http is None:
            host = httpx.URL(self._upstream_rest or "https://x").host
            local = host in ("127.0.0.1", "::1", "localhost")  # no proxy can reach it
            self._http = httpx.AsyncClient(timeout=_UPSTREAM_TIMEOUT, trust_env=not local)
        url = self._rest_base(call.method) + call.http_target
        try:
            answer = await self._http.request(
                call.http_method, url, content=call.body or None, headers=_forwarded(call.headers)
            )
        except httpx.TransportError as exc:  # the service never answered: nothing to record
            details = f"cassette record: {url.split('?')[0]} unreachable ({type(exc).__name__})"
            return Reply(code=14, details=details, http_status=503, unrecorded=True)
        data = answer.content
        headers = kept_headers(answer.headers.items())
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        reply = Reply(rest_body=data, http_status=answer.status_code, headers=headers)
        if answer.status_code == 200 and isinstance(body, dict):
            reply.response = Recorded(type_name(METHODS[call.method][1]), body)
        else:
            status = body if isinstance(body, dict) else {}
            reply.code = int(status.get("code") or 2)  # UNKNOWN when the body says nothing
            reply.details = str(status.get("message") or data[:200].decode("utf-8", "replace"))
        return reply

    # -- the cassette ------------------------------------------------------------------

    def _append(self, call: Call, reply: Reply) -> None:
        request, response = call.request, reply.response
        if self._shrink:
            request = shrink(request)
            response = shrink(response) if response is not None else None
        interaction = Interaction(
            method=call.method,
            transport=call.transport,
            request=request,
            response=response,
            code=reply.code,
            details=reply.details,
            http_status=reply.http_status if call.transport == "rest" else None,
            request_headers=kept_headers(
                (name, value) for name, value in call.headers if not is_credential(name)
            ),
            response_headers=reply.headers,
        )
        with self._lock:  # gRPC and REST calls may end at once
            self.cassette.interactions.append(interaction)
            save(self.cassette, self.path)

    async def aclose(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

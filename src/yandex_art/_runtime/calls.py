"""One logical call to a service, over gRPC or REST: the headers and credentials every attempt
carries, its retries under one request id and idempotency key, and the transports' failures
turned into ``TransportError``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

# typing_extensions' TypedDict: typing's knows Required only from 3.11
from typing_extensions import Required, TypedDict, Unpack

from . import logs
from .channels import Connections
from .endpoints import Endpoint
from .errors import ClientClosedError, TransportError, http_error_fields
from .retry import RetryHooks, call_with_retry
from .settings import Settings
from .validation import check_timeout

if TYPE_CHECKING:
    import grpc

T = TypeVar("T")


class CallOptions(TypedDict, total=False):  # what every call takes beside what it sends
    timeout: Required[float | None]  # None: the client's default
    idempotent: Required[bool]
    retry_hooks: RetryHooks | None
    idempotency_key: str | None


_Fail = Callable[..., TransportError]  # a TransportError naming the call's endpoint, method, id
# One attempt: (headers, seconds left, fail) -> the answer.
_Send = Callable[[dict[str, str], float, _Fail], Awaitable[T]]
_RPC_LOG = logs.get("rpc")
_ATTEMPT_LOG = "%s at %s: %s in %.3f s (attempt %d, request id %s)"
# grpcio's words for a call that never reached a server (nothing was sent).
_NOT_SENT_MARKS = (
    "failed to connect to all addresses",
    "connection refused",
    "dns resolution failed",
    "name resolution",
    "no address",
)


class Calls:
    """The calls of one client, made over its ``connections`` with its ``settings``."""

    def __init__(self, settings: Settings, connections: Connections) -> None:
        self._settings = settings
        self._connections = connections

    def timeout(self, call: CallOptions) -> float:
        return self._settings.default_timeout if call["timeout"] is None else call["timeout"]

    async def grpc(
        self,
        endpoint: Endpoint,
        method: str,
        request: Any,
        parse: Callable[[bytes], T],
        **call: Unpack[CallOptions],
    ) -> T:
        """``bytes(request)`` out, ``parse(answer)`` back, over grpcio's threaded stack."""
        import grpc

        timeout, connections = self.timeout(call), self._connections

        async def send(headers: dict[str, str], remaining: float, fail: _Fail) -> T:
            if connections.closed:
                raise ClientClosedError()
            channel = connections.grpc_channel(endpoint)
            rpc = channel.unary_unary(method, request_serializer=bytes, response_deserializer=parse)
            future = rpc.future(request, timeout=remaining, metadata=tuple(headers.items()))
            try:
                return await _completion(future)
            except grpc.RpcError as exc:
                if connections.closed:  # the channel was closed under the call
                    raise ClientClosedError() from None
                raise _grpc_error(fail, exc, timeout) from None

        return await self._call(str(endpoint), method, send, **call)

    async def rest(
        self,
        base: str,
        endpoints: Mapping[str, Endpoint],
        *,
        http_method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        **call: Unpack[CallOptions],
    ) -> Any:
        """``body`` as JSON to ``base + path``; the JSON answer back. ``endpoints``: every
        endpoint known, which the HTTP client's proxies are made for."""
        import httpx

        url, timeout, connections = base + path, self.timeout(call), self._connections

        async def send(headers: dict[str, str], remaining: float, fail: _Fail) -> Any:
            try:
                response = await connections.http(endpoints).request(
                    http_method, url, params=query, json=body, headers=headers, timeout=remaining
                )
            except httpx.TimeoutException:
                raise fail(f"no answer within {timeout:g} s", code="DEADLINE_EXCEEDED") from None
            except httpx.TransportError as exc:  # refused or unresolved (ConnectError): not sent
                reason = f"cannot reach the server ({type(exc).__name__}: {exc})"
                sent = not isinstance(exc, httpx.ConnectError)
                raise fail(reason, code="UNAVAILABLE", sent=sent) from None
            return _json_answer(response, fail)

        return await self._call(base, f"{http_method} {path}", send, **call)

    async def _call(self, peer: str, method: str, send: _Send[T], **call: Unpack[CallOptions]) -> T:
        """Attempts of one call, all with the same request id and idempotency key."""
        request_id = str(uuid.uuid4())
        fail = partial(TransportError, endpoint=peer, method=method, request_id=request_id)
        deadline = time.monotonic() + check_timeout("timeout", self.timeout(call))
        headers = self._headers(request_id, call.get("idempotency_key") or str(uuid.uuid4()))
        attempts, auth = itertools.count(1), self._settings.auth

        async def attempt() -> T:
            number = next(attempts)
            value = await auth.authorization()
            authorization = {"authorization": value} if value else {}  # NoAuth: none
            started, code = time.monotonic(), "OK"
            try:
                return await send(authorization | headers, max(deadline - started, 0.001), fail)
            except BaseException as error:
                code = error.code if isinstance(error, TransportError) else type(error).__name__
                raise
            finally:
                took = time.monotonic() - started
                _RPC_LOG.debug(_ATTEMPT_LOG, method, peer, code, took, number, request_id)

        return await call_with_retry(
            attempt,
            policy=self._settings.retry,
            idempotent=call["idempotent"],
            deadline=deadline,
            hooks=call.get("retry_hooks"),
            name=f"{method} (request id {request_id})",
        )

    def _headers(self, request_id: str, idempotency_key: str) -> dict[str, str]:
        """What every attempt sends besides its credentials."""
        headers = {**self._settings.default_headers, "x-client-request-id": request_id}
        headers["idempotency-key"] = idempotency_key
        if (data_logging := self._settings.data_logging) is not None:
            headers["x-data-logging-enabled"] = "true" if data_logging else "false"
        return headers


async def _completion(future: grpc.Future[T]) -> T:
    """Await a grpcio future from any event loop; cancelling the wait cancels the call."""
    loop, done = asyncio.get_running_loop(), asyncio.Event()

    def on_done(_: object) -> None:  # on a grpcio thread
        with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits any more
            loop.call_soon_threadsafe(done.set)

    future.add_done_callback(on_done)
    try:
        await done.wait()
    except asyncio.CancelledError:
        future.cancel()
        raise
    return future.result()


def _grpc_error(fail: _Fail, exc: Any, timeout: float) -> TransportError:
    code, details = exc.code().name, exc.details() or ""
    if code == "DEADLINE_EXCEEDED":
        return fail(f"no answer within {timeout:g} s", code=code)
    if code == "UNAVAILABLE" and any(mark in details.lower() for mark in _NOT_SENT_MARKS):
        return fail(f"cannot reach the server ({details})", code=code, sent=False)
    metadata = (*(exc.initial_metadata() or ()), *(exc.trailing_metadata() or ()))
    server_ids = [value for key, value in metadata if key == "x-request-id"]
    return fail(details or code, code=code, server_request_id=next(iter(server_ids[-1:]), None))


def _json_answer(response: Any, fail: _Fail) -> Any:
    """An HTTP answer's JSON; an HTTP error status, or an answer not JSON, as a TransportError."""
    if response.status_code >= 400:
        message, fields = http_error_fields(response)
        raise fail(message, **fields)
    try:
        return response.json()
    except ValueError:
        sid = response.headers.get("x-request-id")
        raise fail("the answer is not JSON", code="INTERNAL", server_request_id=sid) from None

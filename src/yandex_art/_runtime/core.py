"""The client core: endpoints, channels, auth headers, retries and error mapping.

Generated transports call :meth:`ClientCore.grpc_call` and
:meth:`ClientCore.rest_call`; generated models create operations through
:meth:`ClientCore.async_operation`. Nothing here knows about images.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .auth import AuthProvider
from .bridge import LoopThread
from .errors import ConfigurationError, TransportError
from .operation import AsyncOperation, Operation
from .protocol import OperationReader, OperationSnapshot
from .retry import RetryPolicy, call_with_retry
from .scheduler import PollScheduler

if TYPE_CHECKING:
    import ssl

__all__ = ["ClientCore", "Endpoint", "parse_endpoint"]

T = TypeVar("T")

TransportName = Literal["grpc", "rest"]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        import ipaddress

        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


def parse_endpoint(value: str, *, default_port: int = 443) -> Endpoint:
    """``host[:port]`` (IPv6 in brackets) -> Endpoint; a URL scheme is not accepted."""
    text = value.strip()
    if not text or "://" in text or "/" in text:
        raise ConfigurationError(f"endpoint {value!r} must look like host:port")
    host, port = text, default_port
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ConfigurationError(f"endpoint {value!r} has an unclosed IPv6 bracket")
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ConfigurationError(f"endpoint {value!r} must look like [v6]:port")
            port = _port(value, rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(value, port_text)
    if not host:
        raise ConfigurationError(f"endpoint {value!r} has no host")
    return Endpoint(host, port)


def _port(value: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigurationError(f"endpoint {value!r} has an invalid port")
    return int(text)


class _LoopResources:
    """Channels and HTTP clients belong to the event loop that made them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.channels: dict[Endpoint, Any] = {}
        self.http: Any = None

    async def aclose(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.channels.clear()
        if self.http is not None:
            await self.http.aclose()
            self.http = None


class ClientCore:
    """Everything a generated transport or model needs from the client."""

    def __init__(
        self,
        *,
        folder_id: str | None,
        auth: AuthProvider,
        endpoints: Mapping[str, Endpoint],
        verify: bool | str = True,
        transport: TransportName = "grpc",
        retry_policy: RetryPolicy | None = None,
        enable_server_data_logging: bool | None = None,
        user_agent: str = "yandex-art-sdk",
        max_reads_per_second: float | None = 50.0,
        clock: Callable[[], float] = time.monotonic,
        duration_cache: bool | None = None,
    ) -> None:
        if transport not in ("grpc", "rest"):
            raise ConfigurationError(f"transport must be 'grpc' or 'rest', not {transport!r}")
        self.folder_id = folder_id
        self.transport: TransportName = transport
        self._auth = auth
        self._endpoints = dict(endpoints)
        self._verify = verify
        self._retry = retry_policy if retry_policy is not None else RetryPolicy()
        self._data_logging = enable_server_data_logging
        self._user_agent = user_agent
        self._clock = clock
        self._ssl: ssl.SSLContext | None = None
        # Reads count against the budget from their grant until a window after
        # their answer, so reads delayed on their way (a busy loop, the
        # network) cannot bunch up in one server window.
        self.scheduler = PollScheduler(max_reads_per_second=max_reads_per_second, clock=clock)
        # Learned durations are shared by every client of the same endpoints in
        # the process and, unless turned off, cached on disk (see history.py).
        from .history import shared_durations

        scope = ",".join(f"{k}={v}" for k, v in sorted(self._endpoints.items()))
        self.durations = shared_durations(scope, persist=duration_cache is not False)
        self._resources: _LoopResources | None = None
        self._bridge: LoopThread | None = None
        self._closed = False

    def __repr__(self) -> str:
        services = ", ".join(f"{k}={v}" for k, v in sorted(self._endpoints.items()))
        return (
            f"ClientCore(folder_id={self.folder_id!r}, auth={self._auth.describe()}, "
            f"transport={self.transport!r}, endpoints={{{services}}})"
        )

    # -- endpoints and loop-bound resources ---------------------------------

    def endpoint(self, service_id: str) -> Endpoint:
        try:
            return self._endpoints[service_id]
        except KeyError:
            raise ConfigurationError(
                f"no endpoint for service {service_id!r}; add it to service_map="
            ) from None

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self._verify is False:
            return None
        import ssl  # TLS only costs its import when it is used

        if self._ssl is None:
            cafile = self._verify if isinstance(self._verify, str) else None
            context = ssl.create_default_context(cafile=cafile)
            context.set_alpn_protocols(["h2", "http/1.1"])
            self._ssl = context
        return self._ssl

    def _loop_resources(self) -> _LoopResources:
        if self._closed:
            raise ConfigurationError("the client is closed")
        loop = asyncio.get_running_loop()
        if self._resources is None or self._resources.loop is not loop:
            # a new event loop (e.g. a second asyncio.run): start afresh
            self._resources = _LoopResources(loop)
        return self._resources

    def grpc_channel(self, service_id: str) -> Any:
        from grpclib.client import Channel

        endpoint = self.endpoint(service_id)
        resources = self._loop_resources()
        channel = resources.channels.get(endpoint)
        if channel is None:
            channel = Channel(endpoint.host, endpoint.port, ssl=self._ssl_context())
            resources.channels[endpoint] = channel
        return channel

    def _http(self) -> Any:
        import httpx

        resources = self._loop_resources()
        if resources.http is None:
            verify: Any = self._ssl_context() if self._verify is not False else False
            resources.http = httpx.AsyncClient(
                verify=verify if verify is not None else True,
                headers={"user-agent": self._user_agent},
                timeout=60.0,
            )
        return resources.http

    def rest_base(self, service_id: str) -> str:
        endpoint = self.endpoint(service_id)
        scheme = "http" if self._verify is False else "https"
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        default = 80 if scheme == "http" else 443
        port = "" if endpoint.port == default else f":{endpoint.port}"
        return f"{scheme}://{host}{port}"

    # -- calls ---------------------------------------------------------------

    async def _headers(self, request_id: str) -> dict[str, str]:
        headers = {
            "authorization": await self._auth.authorization(),
            "x-client-request-id": request_id,
        }
        if self._data_logging is not None:
            headers["x-data-logging-enabled"] = "true" if self._data_logging else "false"
        return headers

    async def grpc_call(
        self,
        *,
        service_id: str,
        method: str,
        idempotent: bool,
        timeout: float,
        invoke: Callable[[dict[str, str], float], Awaitable[T]],
    ) -> T:
        """Runs one logical gRPC call (with retries) and maps failures to TransportError."""
        from grpclib.exceptions import GRPCError, StreamTerminatedError

        endpoint = str(self.endpoint(service_id))
        request_id = str(uuid.uuid4())
        deadline = self._clock() + timeout
        fail = _Failure(endpoint, method, request_id, timeout)

        async def attempt() -> T:
            metadata = await self._headers(request_id)
            metadata["x-client-user-agent"] = self._user_agent
            remaining = max(deadline - self._clock(), 0.001)
            try:
                return await invoke(metadata, remaining)
            except GRPCError as exc:
                raise fail(exc.message or exc.status.name, exc.status.name) from None
            except TimeoutError:
                raise fail.timed_out() from None
            except (OSError, StreamTerminatedError, ConnectionError) as exc:
                raise fail.unreachable(exc) from None

        return await call_with_retry(
            attempt, policy=self._retry, idempotent=idempotent, deadline=deadline
        )

    async def rest_call(
        self,
        *,
        service_id: str,
        http_method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        idempotent: bool,
        timeout: float,
    ) -> Any:
        """Runs one logical REST call (with retries); returns the parsed JSON answer."""
        import httpx

        endpoint = self.rest_base(service_id)
        url = endpoint + path
        request_id = str(uuid.uuid4())
        deadline = self._clock() + timeout
        fail = _Failure(endpoint, f"{http_method} {path}", request_id, timeout)

        async def attempt() -> Any:
            headers = await self._headers(request_id)
            remaining = max(deadline - self._clock(), 0.001)
            try:
                response = await self._http().request(
                    http_method, url, params=query, json=body, headers=headers, timeout=remaining
                )
            except httpx.TimeoutException:
                raise fail.timed_out() from None
            except httpx.TransportError as exc:
                raise fail.unreachable(exc) from None
            server_id = response.headers.get("x-request-id")
            if response.status_code >= 400:
                raise fail(
                    _error_message(response),
                    f"HTTP {response.status_code}",
                    server_request_id=server_id,
                    retry_after=_retry_after(response.headers.get("retry-after")),
                )
            try:
                return response.json()
            except ValueError:
                raise fail(
                    "the answer is not JSON", "INTERNAL", server_request_id=server_id
                ) from None

        return await call_with_retry(
            attempt, policy=self._retry, idempotent=idempotent, deadline=deadline
        )

    # -- operations and the sync bridge -------------------------------------

    def async_operation(
        self,
        operation_id: str,
        *,
        reader: OperationReader[T],
        duration_key: str,
        initial: OperationSnapshot[T] | None,
        sent_at: float | None = None,
    ) -> AsyncOperation[T]:
        return AsyncOperation(
            operation_id,
            reader=reader,
            scheduler=self.scheduler,
            durations=self.durations,
            duration_key=duration_key,
            initial=initial,
            started_at=self._creation_estimate(sent_at),
            clock=self._clock,
        )

    def sync_operation(
        self,
        operation_id: str,
        *,
        reader: OperationReader[T],
        duration_key: str,
        initial: OperationSnapshot[T] | None,
        sent_at: float | None = None,
    ) -> Operation[T]:
        return Operation(
            operation_id,
            run=self.run_sync,
            reader=reader,
            scheduler=self.scheduler,
            durations=self.durations,
            duration_key=duration_key,
            initial=initial,
            started_at=self._creation_estimate(sent_at),
            clock=self._clock,
        )

    def now(self) -> float:
        """A reading of the client's clock (the one operations and the scheduler use)."""
        return self._clock()

    def _creation_estimate(self, sent_at: float | None) -> float | None:
        # The server created the operation between the request leaving and the
        # answer arriving; the midpoint is off by at most half the round trip.
        if sent_at is None:
            return None
        return (sent_at + self._clock()) / 2

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._bridge is None:
            self._bridge = LoopThread()
        return self._bridge.run(coro)

    async def aclose(self) -> None:
        if self._resources is not None:
            await self._resources.aclose()
            self._resources = None
        aclose = getattr(self._auth, "aclose", None)
        if aclose is not None:
            await aclose()
        self._closed = True

    def close(self) -> None:
        """Closes channels and stops the sync bridge's thread (sync clients)."""
        if self._closed:
            return
        if self._bridge is not None:
            self._bridge.run(self.aclose())
            self._bridge.close()
            self._bridge = None
        self._closed = True


@dataclass(frozen=True)
class _Failure:
    """Builds the TransportError of one logical call (same endpoint, method, request id)."""

    endpoint: str
    method: str
    request_id: str
    timeout: float

    def __call__(self, message: str, code: str, **extra: Any) -> TransportError:
        return TransportError(
            message,
            code=code,
            endpoint=self.endpoint,
            method=self.method,
            request_id=self.request_id,
            **extra,
        )

    def timed_out(self) -> TransportError:
        return self(f"no answer within {self.timeout:g} s", "DEADLINE_EXCEEDED")

    def unreachable(self, exc: BaseException) -> TransportError:
        return self(f"cannot reach the server ({type(exc).__name__}: {exc})", "UNAVAILABLE")


def _error_message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return json.dumps(data)[:200]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None

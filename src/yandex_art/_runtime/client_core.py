"""The client core: endpoints, channels, auth headers, retries and error mapping.

Generated transports call :meth:`ClientCore.grpc_call` and :meth:`ClientCore.rest_call`;
models create operations through :meth:`ClientCore.async_operation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import sys
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import logs
from .auth import AuthProvider
from .bridge import LoopThread
from .errors import ClientClosedError, ConfigurationError, TransportError, http_error_fields
from .operation import AsyncOperation, OperationReader, OperationSnapshot
from .retry import BeforeRetry, RetryPolicy, call_with_retry
from .scheduler import PollScheduler, shared_durations
from .validation import check_timeout

if TYPE_CHECKING:
    import ssl

    import grpc

T = TypeVar("T")

TransportName = Literal["grpc", "rest"]
Verify = bool | str | os.PathLike[str]

_RPC_LOG = logs.get("rpc")
# Channel options: results of several megabytes both ways, HTTP/2 pings while
# a call is open so a connection lost during a long read is noticed, and
# reconnection tries 0.5 s apart growing to 2 s (grpcio: 1 s growing to
# 120 s), so a server back after an outage is seen within seconds (calls made
# while the channel waits to reconnect fail at once). min_reconnect_backoff_ms
# is left alone: grpcio uses it as the connect timeout (20 s), and a small
# value fails slow handshakes.
_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)
# grpcio's words for a call that never reached a server (nothing was sent).
_NOT_SENT_MARKS = (
    "failed to connect to all addresses",
    "connection refused",
    "dns resolution failed",
    "name resolution",
    "no address",
)


def user_agent(version: str) -> str:
    """``yandex-art-sdk/<version> python/<x.y.z>``: the SDK's user agent."""
    return f"yandex-art-sdk/{version} python/{'.'.join(map(str, sys.version_info[:3]))}"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url_host(self) -> str:
        """The host as a URL or gRPC target writes it (an IPv6 address in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def is_loopback(self) -> bool:
        try:
            return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_endpoint(value: str, *, default_port: int = 443) -> Endpoint:
    """``host[:port]`` (IPv6 in brackets) -> Endpoint; a URL scheme is not accepted."""
    host, port = value.strip(), str(default_port)
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            raise ConfigurationError(f"endpoint {value!r} must look like [v6]:port")
        port = rest[1:] if rest else port
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host or "/" in value or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"endpoint {value!r} must look like host:port")
    return Endpoint(host, int(port))


class _LoopResources:
    """What one event loop holds: its HTTP client and the client-closing future."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.http: Any = None
        self.closing: asyncio.Future[None] = loop.create_future()
        # asyncio.run() closes the async generators of its loop before the
        # loop itself: this one closes the connections made on it then.
        self._guard = self._until_the_loop_ends()
        self._guard_started = asyncio.ensure_future(self._guard.__anext__())

    async def _until_the_loop_ends(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self.aclose()

    async def aclose(self) -> None:
        """Wake the waiters (the client is closing), then close the connections."""
        if not self.closing.done():
            self.closing.set_result(None)
        http, self.http = self.http, None
        if http is not None:
            await http.aclose()

    def retire(self) -> None:
        """Release what a loop other than the running one holds, without awaiting there."""
        if self.loop.is_closed() or not self.loop.is_running():
            self.http = None  # a dead loop's sockets went with it
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self.aclose(), self.loop)


_LIVE_CORES: weakref.WeakSet[ClientCore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for core in list(_LIVE_CORES):
        core._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


class ClientCore:
    """Everything a generated transport or model needs from the client."""

    def __init__(
        self,
        *,
        folder_id: str | None,
        auth: AuthProvider,
        endpoints: Mapping[str, Endpoint],
        verify: Verify = True,
        transport: TransportName = "grpc",
        retry_policy: RetryPolicy | None = None,
        enable_server_data_logging: bool | None = None,
        user_agent: str = "yandex-art-sdk",
        env: Mapping[str, str] | None = None,
        max_reads_per_second: float | None = 50.0,
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
        self._clock = time.monotonic
        self._ssl: ssl.SSLContext | None = None
        self.scheduler = PollScheduler(max_reads_per_second=max_reads_per_second, clock=self._clock)
        # Learned durations are shared by every client of the same endpoints in
        # the process and, unless turned off, cached on disk.
        scope = ",".join(f"{k}={v}" for k, v in sorted(self._endpoints.items()))
        self.durations = shared_durations(scope, persist=duration_cache is not False)
        self._resources: _LoopResources | None = None
        self._bridge: LoopThread | None = None
        self._closed = False
        self._channels: dict[Endpoint, grpc.Channel] = {}
        self._calls: dict[tuple[Endpoint, str], Any] = {}
        self._env = os.environ if env is None else env
        _LIVE_CORES.add(self)
        logs.configure_from_env(self._env)

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

    def _cafile(self) -> str | None:
        return None if isinstance(self._verify, bool) else os.fspath(self._verify)

    def _loop_resources(self) -> _LoopResources:
        if self._closed:
            raise ClientClosedError()
        loop = asyncio.get_running_loop()
        resources = self._resources
        if resources is None or resources.loop is not loop:
            # A new event loop (a second asyncio.run, a forked child): what the
            # old one held is released there, or dropped with a dead loop.
            if resources is not None:
                resources.retire()
            resources = self._resources = _LoopResources(loop)
        return resources

    def closing(self) -> asyncio.Future[None] | None:
        """A future of the running loop that is set when the client closes."""
        try:
            return self._loop_resources().closing
        except (ClientClosedError, RuntimeError):
            return None

    def _forget_parent(self) -> None:
        """In a forked child: the loop thread and the connections stayed in the parent."""
        self._bridge = None
        self._resources = None
        self._channels = {}  # the parent's; closing them here would touch its sockets
        self._calls = {}
        self.scheduler = self.scheduler.fresh()
        if (forget := getattr(self._auth, "forget_loop_state", None)) is not None:
            forget()

    def _grpc_channel(self, endpoint: Endpoint) -> grpc.Channel:
        """One grpcio channel per endpoint.

        grpcio's threaded stack, not ``grpc.aio``: its channels belong to no
        event loop (any loop, any thread may call), and a process forked
        after using them can open new ones, where grpc.aio's poller thread
        stays behind in the parent and the child hangs.
        """
        import grpc

        target = f"{endpoint.url_host}:{endpoint.port}"
        options = (
            *_CHANNEL_OPTIONS,
            ("grpc.primary_user_agent", self._user_agent),
            *_proxy_options(endpoint, self._env),
        )
        if self._verify is False:
            return grpc.insecure_channel(target, options=options)
        roots = None
        if (cafile := self._cafile()) is not None:
            with open(cafile, "rb") as bundle:
                roots = bundle.read()
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        return grpc.secure_channel(target, credentials, options=options)

    def _unary(self, endpoint: Endpoint, method: str, parse: Callable[[bytes], T]) -> Any:
        """The multicallable of one method, made once per endpoint and method."""
        if self._closed:
            raise ClientClosedError()
        call = self._calls.get((endpoint, method))
        if call is None:
            channel = self._channels.get(endpoint)
            if channel is None:
                channel = self._channels[endpoint] = self._grpc_channel(endpoint)
            call = channel.unary_unary(
                method, request_serializer=bytes, response_deserializer=parse
            )
            self._calls[endpoint, method] = call
        return call

    def _http(self) -> Any:
        import httpx

        resources = self._loop_resources()
        if resources.http is None:
            verify: Any = False
            if self._verify is not False:
                import ssl  # TLS only costs its import when it is used

                if self._ssl is None:
                    self._ssl = ssl.create_default_context(cafile=self._cafile())
                    self._ssl.set_alpn_protocols(["h2", "http/1.1"])
                verify = self._ssl
            # Proxies from the client's environment (env=), like gRPC's, per endpoint;
            # endpoints not mounted go direct.
            mounts = {
                f"all://{endpoint.url_host}:{endpoint.port}": httpx.AsyncHTTPTransport(
                    proxy=proxy, verify=verify
                )
                for endpoint in set(self._endpoints.values())
                if (proxy := _rest_proxy(endpoint, self._rest_scheme(), self._env))
            }
            resources.http = httpx.AsyncClient(
                verify=verify,
                headers={"user-agent": self._user_agent},
                timeout=60.0,
                trust_env=False,
                mounts=mounts,
            )
        return resources.http

    def _rest_scheme(self) -> str:
        return "http" if self._verify is False else "https"

    def rest_base(self, service_id: str) -> str:
        endpoint = self.endpoint(service_id)
        default = 80 if self._verify is False else 443
        port = "" if endpoint.port == default else f":{endpoint.port}"
        return f"{self._rest_scheme()}://{endpoint.url_host}{port}"

    # -- calls ---------------------------------------------------------------

    async def _call(
        self,
        fail: _Failure,
        idempotent: bool,
        send: Callable[[dict[str, str], float], Awaitable[T]],
        before_retry: BeforeRetry | None,
        idempotency_key: str | None,
    ) -> T:
        """One logical call: attempts with the same request id and idempotency key."""
        deadline = self._clock() + fail.timeout
        headers = {
            "x-client-request-id": fail.request_id,
            "idempotency-key": idempotency_key or str(uuid.uuid4()),
        }
        if self._data_logging is not None:
            headers["x-data-logging-enabled"] = "true" if self._data_logging else "false"
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            authorization = {"authorization": await self._auth.authorization()}
            started = self._clock()
            code = "OK"
            try:
                return await send(authorization | headers, max(deadline - started, 0.001))
            except BaseException as error:
                code = error.code if isinstance(error, TransportError) else type(error).__name__
                raise
            finally:
                _RPC_LOG.debug(
                    "%s at %s: %s in %.3f s (attempt %d, request id %s)",
                    fail.method,
                    fail.endpoint,
                    code,
                    self._clock() - started,
                    attempts,
                    fail.request_id,
                )

        return await call_with_retry(
            attempt,
            policy=self._retry,
            idempotent=idempotent,
            deadline=deadline,
            before_retry=before_retry,
            name=f"{fail.method} (request id {fail.request_id})",
        )

    async def grpc_call(
        self,
        *,
        service_id: str,
        method: str,
        idempotent: bool,
        timeout: float,
        request: Any,
        parse: Callable[[bytes], T],
        before_retry: BeforeRetry | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Runs one logical gRPC call (with retries) and maps failures to TransportError.

        ``request`` is serialised with ``bytes()`` and the answer decoded with
        ``parse`` (betterproto2 messages do both).
        """
        import grpc

        endpoint = self.endpoint(service_id)
        fail = _Failure(str(endpoint), method, check_timeout("timeout", timeout))

        async def send(headers: dict[str, str], remaining: float) -> T:
            call = self._unary(endpoint, method, parse)
            future = call.future(request, timeout=remaining, metadata=tuple(headers.items()))
            try:
                result: T = await _completion(future)
            except grpc.RpcError as exc:
                if self._closed:
                    raise ClientClosedError() from None
                raise _grpc_error(fail, exc) from None
            return result

        return await self._call(fail, idempotent, send, before_retry, idempotency_key)

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
        before_retry: BeforeRetry | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Runs one logical REST call (with retries); returns the parsed JSON answer."""
        import httpx

        base = self.rest_base(service_id)
        url = base + path
        fail = _Failure(base, f"{http_method} {path}", check_timeout("timeout", timeout))

        async def send(headers: dict[str, str], remaining: float) -> Any:
            try:
                response = await self._http().request(
                    http_method, url, params=query, json=body, headers=headers, timeout=remaining
                )
            except httpx.TimeoutException:
                raise fail.timed_out() from None
            except httpx.ConnectError as exc:  # refused or unresolved: nothing was sent
                raise fail.unreachable(exc, sent=False) from None
            except httpx.TransportError as exc:
                raise fail.unreachable(exc) from None
            if response.status_code >= 400:
                message, fields = http_error_fields(response)
                raise fail(message, **fields)
            try:
                return response.json()
            except ValueError:
                server_id = response.headers.get("x-request-id")
                raise fail(
                    "the answer is not JSON", "INTERNAL", server_request_id=server_id
                ) from None

        return await self._call(fail, idempotent, send, before_retry, idempotency_key)

    # -- operations, the sync bridge and closing ----------------------------

    def async_operation(
        self,
        operation_id: str,
        *,
        reader: OperationReader[T],
        duration_key: str,
        initial: OperationSnapshot[T] | None,
        sent_at: float | None = None,
    ) -> AsyncOperation[T]:
        # The server created the operation between the request leaving and the
        # answer arriving; the midpoint is off by at most half the round trip.
        started_at = None if sent_at is None else (sent_at + self._clock()) / 2
        return AsyncOperation(
            operation_id,
            reader=reader,
            scheduler=self.scheduler,
            durations=self.durations,
            duration_key=duration_key,
            initial=initial,
            started_at=started_at,
            clock=self._clock,
            closing=self.closing,
        )

    def now(self) -> float:
        """A reading of the client's clock (the one operations and the scheduler use)."""
        return self._clock()

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        import concurrent.futures

        if self._closed:
            coro.close()
            raise ClientClosedError()
        if self._bridge is None:
            self._bridge = LoopThread()
        try:
            return self._bridge.run(coro)
        except (concurrent.futures.CancelledError, asyncio.CancelledError, RuntimeError):
            if self._closed:  # closed from another thread while this one waited
                raise ClientClosedError() from None
            raise

    def _release(self) -> None:
        """Close the channels; what a loop holds is released there, or dropped with it."""
        resources, self._resources = self._resources, None
        if resources is not None:
            resources.retire()
        channels = list(self._channels.values())
        self._channels.clear()
        self._calls.clear()
        for channel in channels:
            channel.close()

    async def aclose(self) -> None:
        """Closes connections and wakes every waiter with ClientClosedError (from any loop)."""
        self._closed = True
        resources = self._resources
        if resources is not None and resources.loop is asyncio.get_running_loop():
            self._resources = None
            await resources.aclose()
        self._release()
        if (aclose := getattr(self._auth, "aclose", None)) is not None:
            with contextlib.suppress(RuntimeError):  # bound to a loop that is gone
                await aclose()

    def close(self) -> None:
        """Closes channels and stops the sync bridge's thread; waiters get ClientClosedError."""
        if self._closed:
            return
        bridge, self._bridge = self._bridge, None
        try:
            if bridge is not None:
                bridge.run(self.aclose())
        finally:
            self._closed = True
            self._release()
            if bridge is not None:
                bridge.close()

    def release_quietly(self) -> None:
        """At garbage collection or interpreter exit: close without raising or printing."""
        with contextlib.suppress(Exception):
            self.close()


@dataclass(frozen=True)
class _Failure:
    """Builds the TransportError of one logical call (same endpoint, method, request id)."""

    endpoint: str
    method: str
    timeout: float
    request_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))

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

    def unreachable(self, exc: BaseException, *, sent: bool = True) -> TransportError:
        return self(
            f"cannot reach the server ({type(exc).__name__}: {exc})", "UNAVAILABLE", sent=sent
        )


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name].strip() for name in names if env.get(name, "").strip()), None)


def _bypassed(host: str, env: Mapping[str, str], names: tuple[str, ...]) -> bool:
    """Whether the first no_proxy list of ``names`` that is set names ``host``
    (``*``, the name, a parent domain, the address or its CIDR network)."""
    no_proxy = next((env[name] for name in names if name in env), "")
    host = host.lower()
    for entry in (entry.strip().lower().lstrip(".") for entry in no_proxy.split(",")):
        if entry and (entry == "*" or host == entry or host.endswith("." + entry)):
            return True
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
    return False


def _proxy_options(endpoint: Endpoint, env: Mapping[str, str]) -> tuple[tuple[str, Any], ...]:
    """The proxy of the environment for one endpoint, upper-case names included.

    grpcio itself reads only the lower-case variables; this passes the same
    choice explicitly, and turns grpcio's own lookup off for excluded hosts.
    """
    proxy = _first_set(
        env, ("grpc_proxy", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")
    )
    if proxy is None:
        return ()
    if _bypassed(endpoint.host, env, ("no_grpc_proxy", "no_proxy", "NO_PROXY")):
        return (("grpc.enable_http_proxy", 0),)
    return (("grpc.http_proxy", proxy),)


def _rest_proxy(endpoint: Endpoint, scheme: str, env: Mapping[str, str]) -> str | None:
    """The proxy REST calls to ``endpoint`` take: ``https_proxy`` (or ``http_proxy``), no_proxy."""
    proxy = _first_set(
        env, (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
    )
    if proxy is None or _bypassed(endpoint.host, env, ("no_proxy", "NO_PROXY")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


async def _completion(future: grpc.Future[Any]) -> Any:
    """Await a grpcio future from any event loop; cancelling the wait cancels the call."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    def on_done(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits any more
            loop.call_soon_threadsafe(wake)

    future.add_done_callback(on_done)
    try:
        await done
    except asyncio.CancelledError:
        future.cancel()
        raise
    return future.result()


def _grpc_error(fail: _Failure, exc: Any) -> TransportError:
    code, details = exc.code().name, exc.details() or ""
    if code == "DEADLINE_EXCEEDED":
        return fail.timed_out()
    if code == "UNAVAILABLE" and any(mark in details.lower() for mark in _NOT_SENT_MARKS):
        return fail(f"cannot reach the server ({details})", code, sent=False)
    metadata = (*(exc.initial_metadata() or ()), *(exc.trailing_metadata() or ()))
    server_ids = [value for key, value in metadata if key == "x-request-id"]
    return fail(details or code, code, server_request_id=next(iter(server_ids[-1:]), None))

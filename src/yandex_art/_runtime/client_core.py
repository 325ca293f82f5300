"""The client core: settings checked once; channels, auth headers, retries, errors, lifecycles."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import itertools
import os
import platform
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

# typing_extensions' TypedDict: typing's knows Required only from 3.11
from typing_extensions import Required, TypedDict, Unpack

from . import logs
from .auth import AuthProvider, coerce_auth
from .bridge import LoopThread
from .durations import shared_durations
from .errors import (
    ClientClosedError,
    ConfigurationError,
    TransportError,
    UnknownEndpointError,
    http_error_fields,
)
from .operation import AsyncOperation, OperationReader, OperationSnapshot
from .quota import (
    GENERATE_PER_DAY,
    GENERATE_PER_MINUTE,
    QuotaStore,
    SharedBudget,
    budget_key,
    open_store,
)
from .read_budget import COUNTED, PollScheduler
from .retry import RetryHooks, RetryPolicy, call_with_retry
from .undefined import UNDEFINED, Undefined, UndefinedOr
from .validation import check_timeout

if TYPE_CHECKING:
    import ssl

    import grpc

T = TypeVar("T")
TransportName = Literal["grpc", "rest"]
Verify = bool | str | os.PathLike[str]


class CallOptions(TypedDict, total=False):  # what every call takes beside what it sends
    timeout: Required[float | None]  # None: the client's default
    idempotent: Required[bool]
    retry_hooks: RetryHooks | None
    idempotency_key: str | None


class ClientSettings(TypedDict, total=False):  # AIStudio's keyword arguments (documented there)
    folder_id: str | None
    auth: str | AuthProvider | None
    endpoint: UndefinedOr[str | None]
    address: str | None
    service_map: Mapping[str, str] | None
    verify: Verify | None
    retry_policy: RetryPolicy | None
    transport: TransportName
    enable_server_data_logging: bool | None
    max_reads_per_second: float | None
    allow_insecure: bool
    env: Mapping[str, str] | None
    duration_cache: bool | None
    timeout: float
    default_headers: Mapping[str, str] | None
    yc_profile: str | None
    interceptors: Sequence[Any] | None
    quota_store: str | QuotaStore | None


# The official SDK's endpoint-discovery address; its answer for our services is known (the
# ``services`` a ClientCore is given), so this one is never asked.
PUBLIC_API_ENDPOINT = "api.cloud.yandex.net:443"
DISCOVERY = "endpoint"  # the pseudo service id of the discovery address in ``endpoints``
# Headers every call sets itself: default_headers= may not replace them.
_RESERVED_HEADERS = frozenset(
    {"authorization", "x-client-request-id", "idempotency-key", "x-data-logging-enabled"}
)
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_RPC_LOG = logs.get("rpc")
# Reconnect 0.5-2 s apart (grpcio: 1-120 s); min_reconnect_backoff_ms (the connect timeout) stays.
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
_Names = tuple[str, ...]  # environment variables, in order of precedence
_GRPC_PROXIES = ("grpc_proxy", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")
_GRPC_NO_PROXY = ("no_grpc_proxy", "no_proxy", "NO_PROXY")
_Fail = Callable[..., TransportError]  # a TransportError naming the call's endpoint, method, id
_Send = Callable[[dict[str, str], float, _Fail], Awaitable[T]]  # headers, time left, fail
_ATTEMPT_LOG = "%s at %s: %s in %.3f s (attempt %d, request id %s)"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url_host(self) -> str:  # an IPv6 address in brackets
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def is_loopback(self) -> bool:
        try:
            return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_endpoint(value: str, name: str = "endpoint") -> Endpoint:
    """``host[:port]`` (IPv6 in brackets, port 443 by default); a URL scheme is not accepted."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a 'host:port' str, not {type(value).__name__}")
    host, port = value.strip(), "443"
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            raise ConfigurationError(f"{name} {value!r} must look like [v6]:port")
        port = rest[1:] if rest else port
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host or "/" in value or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"{name} {value!r} must look like host:port")
    return Endpoint(host, int(port))


class _LoopResources:
    """What one event loop holds: its HTTP client and the future set when the client closes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.http: Any = None
        self.http_for: frozenset[tuple[str, Endpoint]] | None = None  # the endpoints it knows
        self.retired: list[Any] = []  # earlier HTTP clients, closed with this one
        self.closing: asyncio.Future[None] = loop.create_future()
        # asyncio.run() closes its loop's async generators first: this one closes the connections.
        self._guard = self._until_the_loop_ends()
        self._guard_started = asyncio.ensure_future(self._guard.__anext__())

    async def _until_the_loop_ends(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self.aclose()

    async def aclose(self) -> None:
        if not self.closing.done():
            self.closing.set_result(None)
        clients, self.http, self.retired = [*self.retired, self.http], None, []
        for http in clients:
            if http is not None:
                await http.aclose()

    def retire(self) -> None:  # release a loop other than the running one, without awaiting there
        if self.loop.is_closed() or not self.loop.is_running():
            self.http, self.retired = None, []  # a dead loop's sockets went with it
        else:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self.aclose(), self.loop)


class _Opened:
    """What a client has opened: its sync face's loop thread, each event loop's HTTP client
    and the gRPC channels.

    WHY apart from ClientCore: a finalizer must close these when nothing uses the client
    any more, and a finalizer that referred to the core would keep it alive for ever. Models
    and operations hold the core, not the AIStudio object, so ``AIStudio(...).models...``
    chained, or a helper that returns a model, keeps working after the client variable is
    gone; the core, and with it this object, is released only when the last user goes.
    """

    def __init__(self) -> None:
        self.closed = False
        self.bridge: LoopThread | None = None
        self.resources: _LoopResources | None = None
        self.channels: dict[Endpoint, grpc.Channel] = {}

    async def aclose_running_loop(self) -> None:
        """Close the running loop's HTTP client and wake the waiters on that loop."""
        self.closed = True
        if (
            resources := self.resources
        ) is not None and resources.loop is asyncio.get_running_loop():
            self.resources = None
            await resources.aclose()

    def release(self) -> None:
        """Close what needs no awaiting here: other loops' HTTP clients, the gRPC channels."""
        self.closed = True
        if self.resources is not None:
            self.resources.retire()
        for channel in self.channels.values():
            channel.close()
        self.resources, self.channels = None, {}

    def close(self) -> None:
        """Close everything, from any thread but the loop thread's own."""
        try:
            if (bridge := self.bridge) is not None:
                self.bridge = None
                with contextlib.closing(bridge):
                    bridge.run(self.aclose_running_loop())
        finally:
            self.release()

    def close_quietly(self) -> None:  # the finalizer: the core was collected, or the exit
        with contextlib.suppress(Exception):
            self.close()

    def forget_after_fork(self) -> None:
        # In a forked child the loop thread and the connections are the parent's: they must
        # not be closed from here, only forgotten. New ones open at the first call.
        self.bridge, self.resources, self.channels = None, None, {}


_LIVE_CORES: weakref.WeakSet[ClientCore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for core in list(_LIVE_CORES):
        core.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


class ClientCore:
    """The client's settings, checked once (``services``: service id -> its public ``host:port``,
    the answer of the public endpoint discovery); ``discover`` lists a discovery address's
    services (id -> ``host:port``), called at the first call when ``endpoint=`` is not public."""

    def __init__(
        self,
        services: Mapping[str, str],
        version: str,
        settings: ClientSettings,
        discover: Callable[[ClientCore], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        env = settings.get("env")
        if not isinstance(env, Mapping | None):
            raise ConfigurationError(f"env must be a mapping, not {type(env).__name__}")
        self._env = env = os.environ if env is None else env
        logs.configure_from_env(env)
        folder_id = settings["folder_id"]
        folder_id = env.get("YC_FOLDER_ID") if folder_id is None else folder_id
        if not isinstance(folder_id, str | None):
            raise ConfigurationError(f"folder_id must be a str, not {type(folder_id).__name__}")
        if not folder_id or not folder_id.strip():
            raise ConfigurationError(
                "no folder id: pass folder_id= or set the YC_FOLDER_ID environment variable"
            )
        if not folder_id.isprintable():
            raise ConfigurationError("folder_id must be printable text (no control or surrogate)")
        if not re.fullmatch(r"[^/\s]+", folder_id):  # it becomes a segment of the model URI
            raise ConfigurationError(f"folder_id {folder_id!r} must not contain '/' or spaces")
        if (transport := settings["transport"]) not in ("grpc", "rest"):
            raise ConfigurationError(f"transport must be 'grpc' or 'rest', not {transport!r}")
        self._services, self._discover_fn = dict(services), discover
        self.endpoints: dict[str, Endpoint]
        self.discovery: Endpoint | None  # the endpoint-discovery address, when it is asked
        self.endpoints, self.discovery = self._initial_endpoints(settings, env)
        verify = settings["verify"]
        if not isinstance(verify, bool | str | os.PathLike | None):
            raise ConfigurationError("verify must be True, False or the path of a CA bundle")
        # None (the default): TLS, except towards loopback addresses (a local emulator).
        self._verify = verify
        self._cafile = None if isinstance(verify, bool | None) else os.fspath(verify)
        self._ssl: ssl.SSLContext | None = None
        if self._cafile is not None:  # a CA bundle must be usable now, not at the first call
            try:
                self._ssl_context()
            except (OSError, ValueError) as exc:  # ssl.SSLError and a missing file are OSErrors
                raise ConfigurationError(
                    f"verify={self._cafile!r} is not a usable CA bundle ({exc})"
                ) from None
        self._allow_insecure = _check_flag("allow_insecure", settings["allow_insecure"])
        self._check_plaintext(self.endpoints.values())
        self.folder_id, self.transport = folder_id, transport
        profile = settings.get("yc_profile")
        if not isinstance(profile, str | None):
            raise ConfigurationError(f"yc_profile must be a str, not {type(profile).__name__}")
        self._auth = coerce_auth(
            settings["auth"], {**env, "YC_PROFILE": profile} if profile else env
        )
        if not isinstance(retry := settings["retry_policy"], RetryPolicy | None):
            raise ConfigurationError(
                f"retry_policy must be a RetryPolicy or None, not {type(retry).__name__}"
            )
        self._retry = retry or RetryPolicy()
        self._data_logging = settings["enable_server_data_logging"]
        _check_flag("enable_server_data_logging", self._data_logging, optional=True)
        _check_flag("duration_cache", settings["duration_cache"], optional=True)
        try:
            self.default_timeout: float = check_timeout("timeout", settings.get("timeout", 60.0))
        except ValueError as exc:  # InvalidArgumentError: here, a setting of the client
            raise ConfigurationError(str(exc)) from None
        headers = _check_headers(settings.get("default_headers"))
        suffix = headers.pop("user-agent", "")
        self._user_agent = f"yandex-art-sdk/{version} python/{platform.python_version()}"
        self._user_agent += f" {suffix}" if suffix else ""
        self._default_headers = headers
        interceptors = settings.get("interceptors")
        if isinstance(interceptors, str | bytes) or not isinstance(interceptors, Sequence | None):
            raise ConfigurationError("interceptors must be a sequence of gRPC client interceptors")
        self._interceptors = tuple(interceptors or ())
        # Learned durations are shared by every client of the same endpoints in the process.
        scope = ",".join(f"{k}={v}" for k, v in sorted(self.endpoints.items()))
        # Quotas belong to the folder: its budgets live in a store every process can see.
        self._scope = scope
        self.quota_store = open_store(settings.get("quota_store"), env)
        rate = settings["max_reads_per_second"]
        self.scheduler = PollScheduler(max_reads_per_second=rate)
        if self.quota_store is not None and rate is not None and rate != float("inf"):
            reads = budget_key("reads", scope, folder_id)
            shared = SharedBudget(self.quota_store, reads, self.scheduler.reads_per_window, COUNTED)
            self.scheduler = PollScheduler(max_reads_per_second=rate, shared=shared)
        self.durations = shared_durations(scope, persist=settings["duration_cache"] is not False)
        self._discovering: asyncio.Lock | None = None
        self._opened = _Opened()
        # Closed on close(), or when nothing holds the core any more (see _Opened).
        weakref.finalize(self, self._opened.close_quietly)
        _LIVE_CORES.add(self)

    def _initial_endpoints(
        self, settings: ClientSettings, env: Mapping[str, str]
    ) -> tuple[dict[str, Endpoint], Endpoint | None]:
        """The endpoints known now, and the discovery address to ask for the others (or None).

        ``address=`` puts every service there; else ``endpoint=`` (``YC_API_ENDPOINT``, the
        public one) is a discovery address as in the official SDK; None turns discovery off.
        ``service_map`` entries win in every case.
        """
        service_map = settings["service_map"] or {}
        if not isinstance(service_map, Mapping):
            raise ConfigurationError(
                f"service_map must be a mapping of service id to 'host:port', "
                f"not {type(service_map).__name__}"
            )
        known = ", ".join(sorted(self._services))
        overrides = {}
        for sid, value in service_map.items():
            if sid not in self._services:
                raise ConfigurationError(f"service_map: unknown service {sid!r} (known: {known})")
            overrides[sid] = parse_endpoint(value, f"service_map[{sid!r}]")
        address, endpoint = settings.get("address"), settings.get("endpoint", UNDEFINED)
        if address is not None:
            every = parse_endpoint(address, "address")
            return {sid: every for sid in self._services} | overrides, None
        if isinstance(endpoint, Undefined):
            endpoint = env.get("YC_API_ENDPOINT", "").strip() or PUBLIC_API_ENDPOINT
        public = {sid: parse_endpoint(value) for sid, value in self._services.items()}
        if endpoint is None:
            return public | overrides, None
        discovery = parse_endpoint(endpoint)
        if discovery == parse_endpoint(PUBLIC_API_ENDPOINT) or set(overrides) >= set(public):
            return public | overrides, None  # its answer is known, or not needed
        return overrides | {DISCOVERY: discovery}, discovery

    def _check_plaintext(self, endpoints: Any) -> None:
        remote = sorted({str(e) for e in endpoints if not e.is_loopback})
        if self._verify is False and remote and not self._allow_insecure:
            raise ConfigurationError(
                f"verify=False sends credentials in plaintext; it is allowed only for loopback "
                f"endpoints, not {', '.join(remote)} (pass allow_insecure=True to force it)"
            )

    def _tls(self, endpoint: Endpoint) -> bool:
        return bool(self._verify) if self._verify is not None else not endpoint.is_loopback

    async def endpoint_of(self, service_id: str) -> Endpoint:
        """The service's endpoint, asking the discovery address at the first need."""
        if (endpoint := self.endpoints.get(service_id)) is not None:
            return endpoint
        if self._discovering is None:
            self._discovering = asyncio.Lock()
        async with self._discovering:
            if (endpoint := self.endpoints.get(service_id)) is not None:
                return endpoint
            if self._discover_fn is None:
                raise UnknownEndpointError(f"no endpoint for service {service_id!r}")
            listed = await self._discover_fn(self)
            found = {
                sid: parse_endpoint(listed[sid], f"the discovered address of {sid!r}")
                for sid in self._services
                if sid in listed and sid not in self.endpoints
            }
            self._check_plaintext(found.values())
            self.endpoints.update(found)
            if service_id not in self.endpoints:
                raise UnknownEndpointError(
                    f"the endpoint discovery at {self.discovery} does not list {service_id!r}; "
                    f"pass service_map={{{service_id!r}: 'host:port'}} or address="
                )
            return self.endpoints[service_id]

    def generate_quota(
        self, per_minute: int = GENERATE_PER_MINUTE, per_day: int = GENERATE_PER_DAY
    ) -> tuple[SharedBudget, ...]:
        """The folder's Generate budgets in the quota store (none with ``process``)."""
        if self.quota_store is None:
            return ()
        return tuple(
            SharedBudget(self.quota_store, budget_key(kind, self._scope, self.folder_id), n, hold)
            for kind, n, hold in (
                ("generate-minute", per_minute, 60.0),
                ("generate-day", per_day, 86400.0),
            )
        )

    def after_fork_in_child(self) -> None:
        self._opened.forget_after_fork()
        self._discovering = None  # the parent's lock belonged to the parent's loop
        self.scheduler = self.scheduler.fresh()
        if self.quota_store is not None:  # a file handle or connection of its own
            shared = self.scheduler.shared
            self.quota_store = shared.store if shared is not None else self.quota_store.fresh()
        if (forget := getattr(self._auth, "forget_loop_state", None)) is not None:
            forget()

    @property
    def _closed(self) -> bool:
        return self._opened.closed

    def _loop_resources(self) -> _LoopResources:
        if self._closed:
            raise ClientClosedError()
        loop, resources = asyncio.get_running_loop(), self._opened.resources
        if resources is None or resources.loop is not loop:  # a new loop (asyncio.run, a fork)
            if resources is not None:
                resources.retire()
            resources = self._opened.resources = _LoopResources(loop)
        return resources

    def closing(self) -> asyncio.Future[None] | None:  # the running loop's, set on close()
        with contextlib.suppress(ClientClosedError, RuntimeError):
            return self._loop_resources().closing
        return None

    def _ssl_context(self) -> ssl.SSLContext:  # made once (~30 ms), shared by every loop's client
        if self._ssl is None:
            import ssl  # TLS only costs its import when it is used

            self._ssl = ssl.create_default_context(cafile=self._cafile)
            self._ssl.set_alpn_protocols(["h2", "http/1.1"])
        return self._ssl

    def _http(self) -> Any:
        import httpx

        resources = self._loop_resources()
        endpoints = frozenset(self.endpoints.items())
        if resources.http is not None and resources.http_for not in (None, endpoints):
            # Discovery added endpoints: a new client with their proxies (the old one only
            # served the discovery call; it is closed with the others).
            resources.retired.append(resources.http)
            resources.http = None
        if resources.http is None:
            any_tls = any(self._tls(endpoint) for endpoint in self.endpoints.values())
            tls: Any = self._ssl_context() if any_tls else False
            mounts = {}  # proxies from env=, per endpoint, as for gRPC; the rest go direct
            for sid, endpoint in self.endpoints.items():
                scheme = "https" if self._tls(endpoint) else "http"
                names = (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
                if proxy := _env_proxy(endpoint.host, self._env, names, ("no_proxy", "NO_PROXY")):
                    # WHY the base URL as key: httpx drops a default port from the URLs it
                    # matches, so a key naming :443 (or :80) would never match.
                    mounts[self.rest_base(sid)] = httpx.AsyncHTTPTransport(
                        proxy=proxy if "://" in proxy else f"http://{proxy}", verify=tls
                    )
            resources.http = httpx.AsyncClient(
                verify=tls, headers={"user-agent": self._user_agent}, trust_env=False, mounts=mounts
            )
            resources.http_for = endpoints
        return resources.http

    def rest_base(self, service_id: str) -> str:
        endpoint = self.endpoints.get(service_id) or self.endpoints[DISCOVERY]
        scheme, default_port = ("https", 443) if self._tls(endpoint) else ("http", 80)
        port = "" if endpoint.port == default_port else f":{endpoint.port}"
        return f"{scheme}://{endpoint.url_host}{port}"

    async def _call(self, peer: str, method: str, send: _Send[T], **call: Unpack[CallOptions]) -> T:
        """One logical call: attempts with the same request id and idempotency key."""
        request_id, key = str(uuid.uuid4()), call.get("idempotency_key") or str(uuid.uuid4())
        fail = partial(TransportError, endpoint=peer, method=method, request_id=request_id)
        deadline = time.monotonic() + check_timeout("timeout", self._timeout(call))
        headers = {**self._default_headers, "x-client-request-id": request_id}
        headers["idempotency-key"] = key
        if self._data_logging is not None:
            headers["x-data-logging-enabled"] = "true" if self._data_logging else "false"
        attempts = itertools.count(1)

        async def attempt() -> T:
            number = next(attempts)
            value = await self._auth.authorization()
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
            policy=self._retry,
            idempotent=call["idempotent"],
            deadline=deadline,
            hooks=call.get("retry_hooks"),
            name=f"{method} (request id {request_id})",
        )

    def _timeout(self, call: CallOptions) -> float:
        return self.default_timeout if call["timeout"] is None else call["timeout"]

    async def grpc_call(
        self,
        *,
        service_id: str,
        method: str,
        request: Any,
        parse: Callable[[bytes], T],
        **call: Unpack[CallOptions],
    ) -> T:
        """One logical gRPC call (with retries): ``bytes(request)`` out, ``parse(answer)`` back."""
        # grpcio's threaded stack, not grpc.aio: its channels belong to no event loop, and a
        # child forked after using them opens new ones (grpc.aio's poller thread hangs it).
        import grpc

        endpoint = await self.endpoint_of(service_id)
        timeout = self._timeout(call)

        async def send(headers: dict[str, str], remaining: float, fail: _Fail) -> T:
            if self._closed:
                raise ClientClosedError()
            if (channel := self._opened.channels.get(endpoint)) is None:
                # grpcio reads only the lower-case proxy variables, and only from os.environ.
                proxy = _env_proxy(endpoint.host, self._env, _GRPC_PROXIES, _GRPC_NO_PROXY)
                options = (
                    *_CHANNEL_OPTIONS,
                    ("grpc.primary_user_agent", self._user_agent),
                    ("grpc.http_proxy", proxy) if proxy else ("grpc.enable_http_proxy", 0),
                )
                target = f"{endpoint.url_host}:{endpoint.port}"
                if self._tls(endpoint):
                    roots = None if self._cafile is None else Path(self._cafile).read_bytes()
                    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
                    channel = grpc.secure_channel(target, credentials, options=options)
                else:
                    channel = grpc.insecure_channel(target, options=options)
                if self._interceptors:  # the user's, outermost (as the official SDK's)
                    channel = grpc.intercept_channel(channel, *self._interceptors)
                self._opened.channels[endpoint] = channel
            rpc = channel.unary_unary(method, request_serializer=bytes, response_deserializer=parse)
            future = rpc.future(request, timeout=remaining, metadata=tuple(headers.items()))
            try:
                return await _completion(future)
            except grpc.RpcError as exc:
                if self._closed:
                    raise ClientClosedError() from None
                raise _grpc_error(fail, exc, timeout) from None

        return await self._call(str(endpoint), method, send, **call)

    async def rest_call(
        self,
        *,
        service_id: str,
        http_method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        **call: Unpack[CallOptions],
    ) -> Any:
        """One logical REST call (with retries); returns the parsed JSON answer."""
        import httpx

        await self.endpoint_of(service_id)
        base = self.rest_base(service_id)
        url, timeout = base + path, self._timeout(call)

        async def send(headers: dict[str, str], remaining: float, fail: _Fail) -> Any:
            try:
                response = await self._http().request(
                    http_method, url, params=query, json=body, headers=headers, timeout=remaining
                )
            except httpx.TimeoutException:
                raise fail(f"no answer within {timeout:g} s", code="DEADLINE_EXCEEDED") from None
            except httpx.TransportError as exc:  # refused or unresolved (ConnectError): not sent
                reason = f"cannot reach the server ({type(exc).__name__}: {exc})"
                sent = not isinstance(exc, httpx.ConnectError)
                raise fail(reason, code="UNAVAILABLE", sent=sent) from None
            if response.status_code >= 400:
                message, fields = http_error_fields(response)
                raise fail(message, **fields)
            try:
                return response.json()
            except ValueError:
                sid = response.headers.get("x-request-id")
                raise fail(
                    "the answer is not JSON", code="INTERNAL", server_request_id=sid
                ) from None

        return await self._call(base, f"{http_method} {path}", send, **call)

    def async_operation(
        self,
        operation_id: str,
        *,
        reader: OperationReader[T],
        duration_key: str,
        initial: OperationSnapshot[T] | None,
        sent_at: float | None = None,
    ) -> AsyncOperation[T]:
        # Created between the request leaving and the answer arriving: the midpoint is closest.
        started_at = None if sent_at is None else (sent_at + time.monotonic()) / 2
        return AsyncOperation(
            operation_id,
            reader=reader,
            scheduler=self.scheduler,
            durations=self.durations,
            duration_key=duration_key,
            initial=initial,
            started_at=started_at,
            closing=self.closing,
            default_timeout=self.default_timeout,
        )

    now = staticmethod(time.monotonic)

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise ClientClosedError()
        if (bridge := self._opened.bridge) is None:
            bridge = self._opened.bridge = LoopThread()
        try:
            return bridge.run(coro)
        except (concurrent.futures.CancelledError, asyncio.CancelledError, RuntimeError):
            if self._closed:  # closed from another thread while this one waited
                raise ClientClosedError() from None
            raise

    async def aclose(self) -> None:
        """Closes connections and wakes every waiter with ClientClosedError (from any loop)."""
        await self._opened.aclose_running_loop()
        self._opened.release()

    def close(self) -> None:
        self._opened.close()


def _check_flag(name: str, value: object, *, optional: bool = False) -> bool:
    if not isinstance(value, bool) and not (optional and value is None):
        kind = "True, False or None" if optional else "True or False"
        raise ConfigurationError(f"{name} must be {kind}, not {value!r}")
    return bool(value)


def _check_headers(headers: object) -> dict[str, str]:
    """default_headers=, lower-cased (gRPC metadata keys are): sent with every call."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"default_headers must be a mapping, not {type(headers).__name__}")
    checked = {}
    for name, value in headers.items():
        key = name.lower() if isinstance(name, str) else ""
        if not _HEADER_NAME.fullmatch(key) or key.endswith("-bin"):
            raise ConfigurationError(f"default_headers: {name!r} is not a header name")
        if key in _RESERVED_HEADERS:
            raise ConfigurationError(f"default_headers: {name!r} is set by the SDK itself")
        if not isinstance(value, str) or not (value.isascii() and value.isprintable()):
            raise ConfigurationError(f"default_headers[{name!r}] must be printable ASCII text")
        checked[key] = value.strip()
    return checked


def _env_proxy(host: str, env: Mapping[str, str], names: _Names, exclusions: _Names) -> str | None:
    """The first proxy of ``names`` in ``env``, unless the first set ``exclusions`` names host."""
    proxy = next((env[name].strip() for name in names if env.get(name, "").strip()), None)
    no_proxy = next((env[name] for name in exclusions if name in env), "")
    host = host.lower()
    for entry in (entry.strip().lower().lstrip(".") for entry in no_proxy.split(",")):
        if entry and (entry == "*" or host == entry or host.endswith("." + entry)):
            return None
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return None
    return proxy


async def _completion(future: grpc.Future[T]) -> T:
    """Await a grpcio future from any event loop; cancelling the wait cancels the call."""
    loop, done = asyncio.get_running_loop(), asyncio.Event()

    def on_done(_: object) -> None:
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

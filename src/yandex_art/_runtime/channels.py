"""What a client opens, and how it lets go of it: the loop thread of its sync face, each event
loop's HTTP client (httpx) and the gRPC channels (grpcio), with their proxies and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .bridge import LoopThread
from .endpoints import Endpoint
from .errors import ClientClosedError
from .tls import Tls

if TYPE_CHECKING:
    import grpc

_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 64 << 20),  # an image is a few MiB
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 60_000),  # ping an open call every minute...
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),  # ...and only while a call is open
    # Reconnect 0.5-2 s apart (grpcio: 1-120 s), so a restarted server is found within 2 s;
    # min_reconnect_backoff_ms (the connect timeout) stays.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)
_Names = tuple[str, ...]  # environment variables, in order of precedence
GRPC_PROXIES: _Names = ("grpc_proxy", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")
GRPC_NO_PROXY: _Names = ("no_grpc_proxy", "no_proxy", "NO_PROXY")


def env_proxy(host: str, env: Mapping[str, str], names: _Names, exclusions: _Names) -> str | None:
    """The first proxy of ``names`` in ``env``, unless the first set ``exclusions`` names host
    (a name, a ``.suffix``, a CIDR block or ``*``)."""
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


@dataclass(frozen=True)
class ChannelConfig:
    """What every connection of a client is made with."""

    env: Mapping[str, str]  # proxies are read here, not from os.environ
    tls: Tls
    user_agent: str
    interceptors: tuple[Any, ...]  # the user's gRPC client interceptors


def open_grpc_channel(config: ChannelConfig, endpoint: Endpoint) -> grpc.Channel:
    # grpcio's threaded stack, not grpc.aio: its channels belong to no event loop, and a
    # child forked after using them opens new ones (grpc.aio's poller thread hangs it).
    import grpc

    # grpcio reads only the lower-case proxy variables, and only from os.environ: we pass
    # the proxy ourselves, read from env= as for REST.
    proxy = env_proxy(endpoint.host, config.env, GRPC_PROXIES, GRPC_NO_PROXY)
    options = (
        *_CHANNEL_OPTIONS,
        ("grpc.primary_user_agent", config.user_agent),
        ("grpc.http_proxy", proxy) if proxy else ("grpc.enable_http_proxy", 0),
    )
    target = f"{endpoint.url_host}:{endpoint.port}"
    if config.tls.uses_tls(endpoint):
        roots = config.tls.root_certificates()
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    if config.interceptors:  # the user's, outermost (as the official SDK's)
        channel = grpc.intercept_channel(channel, *config.interceptors)
    return channel


def open_http(config: ChannelConfig, endpoints: Mapping[str, Endpoint]) -> Any:
    """An httpx client for these endpoints, with the proxies ``env`` names for each."""
    import httpx

    tls = config.tls
    verify: Any = tls.ssl_context() if any(map(tls.uses_tls, endpoints.values())) else False
    mounts = {}  # proxies per endpoint, as for gRPC; the rest go direct
    for endpoint in endpoints.values():
        scheme = "https" if tls.uses_tls(endpoint) else "http"
        names = (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
        if proxy := env_proxy(endpoint.host, config.env, names, ("no_proxy", "NO_PROXY")):
            # WHY the base URL as key: httpx drops a default port from the URLs it
            # matches, so a key naming :443 (or :80) would never match.
            mounts[tls.base_url(endpoint)] = httpx.AsyncHTTPTransport(
                proxy=proxy if "://" in proxy else f"http://{proxy}", verify=verify
            )
    headers = {"user-agent": config.user_agent}
    return httpx.AsyncClient(verify=verify, headers=headers, trust_env=False, mounts=mounts)


class LoopResources:
    """What one event loop holds: its HTTP client and the future set when the client closes.

    httpx clients belong to the loop they were made on, so each loop has its own.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.http: Any = None
        self.http_for: frozenset[tuple[str, Endpoint]] | None = None  # the endpoints it knows
        self.retired: list[Any] = []  # earlier HTTP clients, closed with this one
        self.closing: asyncio.Future[None] = loop.create_future()
        # WHY an async generator: asyncio.run() (like every runner that calls
        # loop.shutdown_asyncgens()) closes the async generators begun on its loop while that
        # loop still runs, just before closing it. That is the only moment a library that did
        # not make the loop can still await on it: the generator's ``finally`` closes this
        # loop's connections there, so no socket outlives its loop and nothing warns at exit.
        # It is begun here, synchronously: armed at once, with no task to keep alive. The
        # loop holds it weakly, this attribute strongly.
        self._shutdown_hook = self._close_when_the_loop_shuts_down()
        _begin(self._shutdown_hook)

    async def _close_when_the_loop_shuts_down(self) -> AsyncGenerator[None, None]:
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

    def retire(self) -> None:
        """Release a loop other than the running one, without awaiting there."""
        if self.loop.is_closed() or not self.loop.is_running():
            self.http, self.retired = None, []  # a dead loop's sockets went with it
        else:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self.aclose(), self.loop)


def _begin(generator: AsyncGenerator[None, None]) -> None:
    """Run an async generator up to its first ``yield``, which it reaches without awaiting
    (so the running loop's first-iteration hook registers it now)."""
    with contextlib.suppress(StopIteration):  # StopIteration: it reached the yield
        generator.asend(None).send(None)


class Connections:
    """What a client has opened: its sync face's loop thread, each event loop's HTTP client
    and the gRPC channels.

    WHY apart from ClientCore: a finalizer must close these when nothing uses the client
    any more, and a finalizer that referred to the core would keep it alive for ever. Models
    and operations hold the core, not the AIStudio object, so ``AIStudio(...).models...``
    chained, or a helper that returns a model, keeps working after the client variable is
    gone; the core, and with it this object, is released only when the last user goes.
    """

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.closed = False
        self._bridge: LoopThread | None = None
        self._resources: LoopResources | None = None
        self._channels: dict[Endpoint, grpc.Channel] = {}

    def loop_thread(self) -> LoopThread:
        """The thread that runs the sync face's coroutines, started at the first call."""
        if self.closed:
            raise ClientClosedError()
        if self._bridge is None:
            self._bridge = LoopThread()
        return self._bridge

    def loop_resources(self) -> LoopResources:
        """The running loop's; a new loop (asyncio.run, a fork) retires the previous one's."""
        if self.closed:
            raise ClientClosedError()
        loop, resources = asyncio.get_running_loop(), self._resources
        if resources is None or resources.loop is not loop:
            if resources is not None:
                resources.retire()
            resources = self._resources = LoopResources(loop)
        return resources

    def grpc_channel(self, endpoint: Endpoint) -> grpc.Channel:
        if (channel := self._channels.get(endpoint)) is None:
            channel = self._channels[endpoint] = open_grpc_channel(self.config, endpoint)
        return channel

    def http(self, endpoints: Mapping[str, Endpoint]) -> Any:
        """The running loop's HTTP client, for these endpoints."""
        resources = self.loop_resources()
        known = frozenset(endpoints.items())
        if resources.http is not None and resources.http_for not in (None, known):
            # Discovery added endpoints: a new client with their proxies (the old one only
            # served the discovery call; it is closed with the others).
            resources.retired.append(resources.http)
            resources.http = None
        if resources.http is None:
            resources.http, resources.http_for = open_http(self.config, endpoints), known
        return resources.http

    async def aclose_running_loop(self) -> None:
        """Close the running loop's HTTP client and wake the waiters on that loop."""
        self.closed = True
        resources = self._resources
        if resources is not None and resources.loop is asyncio.get_running_loop():
            self._resources = None
            await resources.aclose()

    def release(self) -> None:
        """Close what needs no awaiting here: other loops' HTTP clients, the gRPC channels."""
        self.closed = True
        if self._resources is not None:
            self._resources.retire()
        for channel in self._channels.values():
            channel.close()
        self._resources, self._channels = None, {}

    def close(self) -> None:
        """Close everything, from any thread but the loop thread's own.

        WHY in this order: the loop thread's own loop is closed on that loop (its HTTP client
        awaits there) before the thread stops; then the rest, which needs no loop.
        """
        try:
            if (bridge := self._bridge) is not None:
                self._bridge = None
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
        self._bridge, self._resources, self._channels = None, None, {}

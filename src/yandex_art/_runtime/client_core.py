"""The client core: what one client's models and operations share, and its lifecycle.

It makes operations (with the read budget, learned durations and quotas they share), routes
calls to their service's endpoint, runs the sync face's coroutines on its loop thread, and
closes, or after a fork forgets, what it opened. The parts live in their own modules:
``settings`` (checked once), ``endpoints`` (where each service is, discovery), ``tls``,
``channels`` (what is opened), ``calls`` (one call with its retries).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from typing_extensions import Unpack

from .calls import CallOptions, Calls
from .channels import ChannelConfig, Connections
from .durations import shared_durations
from .endpoints import DISCOVERY, Endpoint, EndpointMap, parse_endpoint
from .errors import ClientClosedError
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
from .settings import ClientSettings, Settings, TransportName, check_settings
from .tls import Verify

# Kept importable from here: the generated transports, the CLI and the emulator use them.
__all__ = [
    "DISCOVERY",
    "CallOptions",
    "ClientCore",
    "ClientSettings",
    "Endpoint",
    "TransportName",
    "Verify",
    "parse_endpoint",
]

T = TypeVar("T")
Discover = Callable[["ClientCore"], Awaitable[Mapping[str, str]]]


class ClientCore:
    """One client's shared state (``services``: service id -> its public ``host:port``, the
    answer of the public endpoint discovery); ``discover`` lists a discovery address's
    services (id -> ``host:port``), called at the first call when ``endpoint=`` is not public."""

    def __init__(
        self,
        services: Mapping[str, str],
        version: str,
        settings: ClientSettings,
        discover: Discover | None = None,
    ) -> None:
        self.settings = checked = check_settings(settings, services=services, version=version)
        self.folder_id, self.transport = checked.folder_id, checked.transport
        self.default_timeout = checked.default_timeout
        self._endpoints = EndpointMap(services, checked.endpoints)
        self._discover = discover
        config = ChannelConfig(checked.env, checked.tls, checked.user_agent, checked.interceptors)
        self.connections = Connections(config)
        self._calls = Calls(checked, self.connections)
        # Learned durations and quotas are shared by every client of the same endpoints.
        self._scope = ",".join(f"{k}={v}" for k, v in sorted(self.endpoints.items()))
        self.quota_store = open_store(checked.quota_store, checked.env)
        self.scheduler = _read_budget(checked, self._scope, self.quota_store)
        self.durations = shared_durations(self._scope, persist=checked.persist_durations)
        # Closed on close(), or when nothing holds the core any more (see Connections).
        weakref.finalize(self, self.connections.close_quietly)
        _LIVE_CORES.add(self)

    # -- where the services are

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self._endpoints.endpoints

    @property
    def discovery(self) -> Endpoint | None:  # the endpoint-discovery address, when it is asked
        return self._endpoints.discovery

    async def endpoint_of(self, service_id: str) -> Endpoint:
        """The service's endpoint, asking the discovery address at the first need."""
        ask = None if self._discover is None else self._ask_discovery
        return await self._endpoints.endpoint_of(service_id, ask, self.settings.tls.check_plaintext)

    async def _ask_discovery(self) -> Mapping[str, str]:
        assert self._discover is not None
        return await self._discover(self)

    def rest_base(self, service_id: str) -> str:
        endpoint = self.endpoints.get(service_id) or self.endpoints[DISCOVERY]
        return self.settings.tls.base_url(endpoint)

    # -- calls

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
        endpoint = await self.endpoint_of(service_id)
        return await self._calls.grpc(endpoint, method, request, parse, **call)

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
        await self.endpoint_of(service_id)
        return await self._calls.rest(
            self.rest_base(service_id),
            self.endpoints,
            http_method=http_method,
            path=path,
            query=query,
            body=body,
            **call,
        )

    # -- operations and quotas

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

    now = staticmethod(time.monotonic)

    # -- lifecycle

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread (the sync face's) and return its result."""
        try:
            bridge = self.connections.loop_thread()
        except ClientClosedError:
            coro.close()  # never awaited: say so quietly, not with a warning
            raise
        try:
            return bridge.run(coro)
        except (concurrent.futures.CancelledError, asyncio.CancelledError, RuntimeError):
            if self.connections.closed:  # closed from another thread while this one waited
                raise ClientClosedError() from None
            raise

    def closing(self) -> asyncio.Future[None] | None:
        """The running loop's future, set when the client closes (None: closed, no loop)."""
        with contextlib.suppress(ClientClosedError, RuntimeError):
            return self.connections.loop_resources().closing
        return None

    async def aclose(self) -> None:
        """Closes connections and wakes every waiter with ClientClosedError (from any loop)."""
        await self.connections.aclose_running_loop()
        self.connections.release()

    def close(self) -> None:
        self.connections.close()

    def after_fork_in_child(self) -> None:
        """Forget what belongs to the parent: its loop thread, loops and sockets, the budget's
        grants and waiters, the quota store's file handle or connection. The parent's are
        never closed from the child (they are the parent's); new ones open at the first call."""
        self.connections.forget_after_fork()
        self._endpoints.forget_loop_state()
        self.settings.auth.forget_loop_state()
        self.scheduler = self.scheduler.fresh()
        if self.quota_store is not None:  # one store object, shared with the read budget
            shared = self.scheduler.shared
            self.quota_store = shared.store if shared is not None else self.quota_store.fresh()


def _read_budget(settings: Settings, scope: str, store: QuotaStore | None) -> PollScheduler:
    """The client's budget of operation reads; with a quota store, shared with the folder's
    other clients and processes (the server's quota is the folder's, not the process's)."""
    rate = settings.max_reads_per_second
    scheduler = PollScheduler(max_reads_per_second=rate)
    if store is None or rate is None or rate == float("inf"):
        return scheduler
    reads = budget_key("reads", scope, settings.folder_id)
    shared = SharedBudget(store, reads, scheduler.reads_per_window, COUNTED)
    return PollScheduler(max_reads_per_second=rate, shared=shared)


# Every live core, so a forked child can make each forget its parent's state before use.
_LIVE_CORES: weakref.WeakSet[ClientCore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for core in list(_LIVE_CORES):
        core.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)

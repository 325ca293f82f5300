"""Fakes for the poller tests: an event loop on virtual time and an in-memory server."""

from __future__ import annotations

import asyncio
import dataclasses
import selectors
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from yandex_art._runtime.bridge import LoopThread
from yandex_art._runtime.durations import DurationModel
from yandex_art._runtime.operation import AsyncOperation, Operation, OperationSnapshot, RpcStatus
from yandex_art._runtime.read_budget import Grant, PollScheduler
from yandex_art._runtime.retry import JITTER

T = TypeVar("T")

RESULT_TYPE = "type.googleapis.com/test.Result"

if sys.version_info >= (3, 11):
    from asyncio import Runner
else:

    class Runner:
        """What these tests use of ``asyncio.Runner`` (3.11+), for Python 3.10."""

        def __init__(self, *, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
            self._loop = loop_factory()

        def __enter__(self) -> Runner:
            return self  # with a loop_factory, asyncio.Runner leaves the current loop alone too

        def __exit__(self, *exc_info: object) -> None:
            self.close()

        def get_loop(self) -> asyncio.AbstractEventLoop:
            return self._loop

        def run(self, coro: Coroutine[Any, Any, T]) -> T:
            return self._loop.run_until_complete(coro)

        def close(self) -> None:  # as asyncio.Runner.close: cancel what is left, then close
            loop = self._loop
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:  # gather() of nothing would make its future on another loop
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()


class _InstantSelector(selectors.DefaultSelector):
    """Never blocks: a wait for timers moves the loop's virtual clock instead."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._virtual = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events: list[Any] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise RuntimeError("deadlock: nothing scheduled and nothing to wait for")
        self._virtual.now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose time jumps to the next timer; no real waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_InstantSelector(self))

    def time(self) -> float:
        return self.now


@dataclass
class FakeOperation:
    id: str
    created: float
    duration: float
    outcome: str  # ok | error | cancelled | empty | wrong
    cancelled_at: float | None = None


class FakeServer:
    """Operations that finish ``duration`` seconds after creation; records every read."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.ops: dict[str, FakeOperation] = {}
        self.reads: list[float] = []
        self.reads_by_op: dict[str, list[float]] = {}
        self.in_flight = 0
        self.fail_next: deque[BaseException] = deque()
        self.latency = 0.0
        # Seconds a read spends on its way before the server counts it (a busy
        # client loop, the network); a callable draws one per read.
        self.send_delay: Callable[[], float] | None = None
        # Server timestamps (created_at, modified_at) on snapshots, on a wall
        # clock this far from the loop's clock; None: no timestamps.
        self.wall_offset: float | None = None
        self._ids = 0

    def create(self, duration: float, outcome: str = "ok") -> OperationSnapshot[str]:
        self._ids += 1
        op = FakeOperation(f"op-{self._ids:04d}", self.clock(), duration, outcome)
        self.ops[op.id] = op
        return self._snapshot(op)

    def _snapshot(self, op: FakeOperation) -> OperationSnapshot[str]:
        snap = self._bare_snapshot(op)
        if self.wall_offset is None:
            return snap
        created = op.created + self.wall_offset
        modified = created + op.duration if snap.done else created
        return dataclasses.replace(snap, created_at=created, modified_at=modified)

    def _bare_snapshot(self, op: FakeOperation) -> OperationSnapshot[str]:
        now = self.clock()
        if op.cancelled_at is not None and op.cancelled_at <= op.created + op.duration:
            return OperationSnapshot(op.id, True, error=RpcStatus(1, "cancelled by the user"))
        if now < op.created + op.duration:
            return OperationSnapshot(op.id, False)
        if op.outcome == "ok":
            return OperationSnapshot(
                op.id, True, response=f"image of {op.id}", response_type_url=RESULT_TYPE
            )
        if op.outcome == "error":
            return OperationSnapshot(
                op.id, True, error=RpcStatus(3, "prompt is too long", ("field: messages",))
            )
        if op.outcome == "cancelled":
            return OperationSnapshot(op.id, True, error=RpcStatus(1, "cancelled"))
        if op.outcome == "wrong":
            return OperationSnapshot(
                op.id,
                True,
                response_type_url="type.googleapis.com/other.Thing",
                expected_type_url=RESULT_TYPE,
            )
        return OperationSnapshot(op.id, True, expected_type_url=RESULT_TYPE)

    async def get(
        self, operation_id: str, *, timeout: float, retry_hooks: Any = None
    ) -> OperationSnapshot[str]:
        if self.send_delay is not None:
            await asyncio.sleep(self.send_delay())
        now = self.clock()
        self.reads.append(now)
        self.reads_by_op.setdefault(operation_id, []).append(now)
        self.in_flight += 1
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self.fail_next:
                raise self.fail_next.popleft()
            return self._snapshot(self.ops[operation_id])
        finally:
            self.in_flight -= 1

    async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[str]:
        op = self.ops[operation_id]
        op.cancelled_at = self.clock()
        return self._snapshot(op)


class CountingScheduler(PollScheduler):
    """The real scheduler, counting its grants, waiters and unreleased reads for the checks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.granted = self.waiting = 0
        self.unreleased: set[Grant] = set()

    async def acquire(self, due: float) -> Grant:
        self.waiting += 1
        try:
            grant = await super().acquire(due)
        finally:
            self.waiting -= 1
        self.granted += 1
        self.unreleased.add(grant)
        return grant

    def release(self, grant: Grant) -> None:
        self.unreleased.discard(grant)
        super().release(grant)

    @property
    def in_flight(self) -> int:
        return len(self.unreleased)


class Sim:
    """One virtual-time world: loop, server, scheduler and duration model."""

    def __init__(self, runner: Runner, *, reads_per_second: float | None = 50.0) -> None:
        self.runner = runner
        self.loop = runner.get_loop()
        self.clock = self.loop.time
        self.server = FakeServer(self.clock)
        self.scheduler = CountingScheduler(max_reads_per_second=reads_per_second, clock=self.clock)
        self.durations = DurationModel()
        JITTER.seed(1234)  # the runtime's one random source: reproducible plans

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def operation(
        self,
        duration: float,
        outcome: str = "ok",
        *,
        key: str = "art://folder/yandex-art/latest",
        attach: bool = False,
    ) -> AsyncOperation[str]:
        initial = self.server.create(duration, outcome)
        return AsyncOperation(
            initial.id,
            reader=self.server,
            scheduler=self.scheduler,
            durations=self.durations,
            duration_key=key,
            initial=None if attach else initial,
            clock=self.clock,
        )

    @staticmethod
    def max_in_window(times: list[float], window: float = 1.0) -> int:
        """The most timestamps inside any closed window of ``window`` seconds."""
        ordered = sorted(times)
        best = start = 0
        for end, t in enumerate(ordered):
            while ordered[start] < t - window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def finished_at(self, op: AsyncOperation[str]) -> float:
        fake = self.server.ops[op.id]
        return fake.created + fake.duration


@pytest.fixture
def sim() -> Iterator[Sim]:
    with Runner(loop_factory=VirtualClockLoop) as runner:
        yield Sim(runner)


class RealWorld:
    """Real time and the real sync bridge, for the sync wrapper's tests."""

    def __init__(self) -> None:
        self.bridge = LoopThread("test-operation-loop")
        self.server = FakeServer(time.monotonic)
        self.scheduler = CountingScheduler()
        self.durations = DurationModel()

    def operation(self, duration: float, outcome: str = "ok") -> Operation[str]:
        initial = self.server.create(duration, outcome)
        return Operation(
            AsyncOperation(
                initial.id,
                reader=self.server,
                scheduler=self.scheduler,
                durations=self.durations,
                duration_key="art://folder/yandex-art/latest",
                initial=initial,
            ),
            run=self.bridge.run,
        )

    def other_tasks(self) -> int:
        """Tasks alive on the bridge's loop, besides the one asking."""

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1

        return self.bridge.run(count())


@pytest.fixture
def real() -> Iterator[RealWorld]:
    world = RealWorld()
    try:
        yield world
    finally:
        world.bridge.close()

"""Long-running operations: one poller, async (``AsyncOperation``) and sync (``Operation``).

What a read says (snapshots, statuses, the ``Operation`` message reader) is in
operation_snapshot; when to read next, in poll_policy; how many reads the client may make,
in read_budget.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from . import errors, logs
from .durations import DurationModel
from .operation_snapshot import (
    OperationMessage,
    OperationMessageReader,
    OperationReader,
    OperationSnapshot,
    OperationStatus,
    RpcStatus,
)
from .poll_policy import PollPolicy, quantile
from .read_budget import Grant, PollScheduler
from .retry import JITTER, RetryPolicy
from .validation import check_number, check_timeout

# Importable from here too: the generated models and the public package use these names.
__all__ = [
    "AsyncOperation",
    "Operation",
    "OperationMessage",
    "OperationMessageReader",
    "OperationReader",
    "OperationSnapshot",
    "OperationStatus",
    "RpcStatus",
    "Runner",
]

T = TypeVar("T")
R = TypeVar("R")

# Reads failing with these are repeated until poll_timeout: the service may be restarting.
_OUTAGE_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})
OUTAGE_BACKOFF = RetryPolicy(initial_backoff=0.25, multiplier=2.0, max_backoff=5.0, jitter=0.2)
_POLICY = PollPolicy()
_LOG = logs.get("operation")


@dataclass(frozen=True, slots=True)
class _NextRead:
    due: float  # a clock reading
    why: str  # for the debug log


@dataclass(slots=True)
class _Hold:
    """What failed reads hold the next one back by: a quota refusal's delay, or the growing
    backoff of an outage (reads failing in a row as the service restarts)."""

    until: float = -math.inf  # no read before this clock reading
    outages: int = 0  # reads failed in a row with an outage code

    def applied_to(self, planned: _NextRead) -> _NextRead:
        if self.until < planned.due:
            return planned
        why = "backing off: the service is unreachable" if self.outages else "quota refusal"
        return _NextRead(self.until, why)


class AsyncOperation(Generic[T]):
    """An operation on the server with a ``T`` result, created at ``started_at`` (by ``clock``)."""

    def __init__(
        self,
        operation_id: str,
        *,
        reader: OperationReader[T],
        scheduler: PollScheduler,
        durations: DurationModel,
        duration_key: str,
        initial: OperationSnapshot[T] | None = None,
        started_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        closing: Callable[[], asyncio.Future[None] | None] | None = None,
        default_timeout: float = 60.0,
    ) -> None:
        self.id = operation_id
        self._default_timeout = default_timeout
        self._reader = reader
        self._scheduler = scheduler
        self._durations = durations
        self._key = duration_key
        self._clock = clock
        self._closing = closing
        self._age_known = started_at is not None or initial is not None
        self._started_at = clock() if started_at is None else started_at
        self._last: OperationSnapshot[T] = OperationSnapshot(operation_id, False)
        self._last_read_at: float | None = None
        self.reads = 0  # reads of the operation by this object, retries included
        if initial is not None:
            _LOG.info("operation %s started", operation_id)
            self._record(initial, self._started_at)

    def expected_remaining(self) -> float | None:
        """Seconds until the learned median duration (0 when overdue; None if unknown)."""
        history = self._history()
        median = quantile(history, 0.5) if history else None
        return None if median is None else max(0.0, self._started_at + median - self._clock())

    def __repr__(self) -> str:
        known = self._last_read_at is not None
        state = OperationStatus.from_snapshot(self._last).state if known else "unknown"
        return f"{type(self).__name__}<id={self.id!r}, state={state}, reads={self.reads}>"

    def __await__(self) -> Generator[Any, None, T]:
        return self.wait().__await__()

    def _timeout(self, timeout: float | None) -> float:
        """A request's seconds (None: the client's ``timeout``), checked once, before any read,
        with the check every request gets."""
        return self._default_timeout if timeout is None else check_timeout("timeout", timeout)

    async def get_status(self, *, timeout: float | None = None) -> OperationStatus:
        """Read the operation once and return its status (``timeout``: None, the client's)."""
        seconds = self._timeout(timeout)
        return OperationStatus.from_snapshot(await self._read(seconds, self._clock()))

    async def get_result(self, *, timeout: float | None = None) -> T:
        """The result (one read unless the end was seen); raises if it failed or still runs."""
        seconds, done = self._timeout(timeout), self._last.done  # the end already seen: no read
        return self._outcome(self._last if done else await self._read(seconds, self._clock()))

    async def cancel(self, *, timeout: float | None = None) -> OperationStatus:
        """Ask the server to cancel the operation; returns the status it answered with."""
        seconds = self._timeout(timeout)
        try:
            snapshot = await self._reader.cancel(self.id, timeout=seconds)
        except errors.ClientClosedError:
            raise errors.ClientClosedError(operation_id=self.id) from None
        except errors.TransportError as error:
            raise error.for_operation(self.id) from None
        self._record(snapshot, self._clock())
        return OperationStatus.from_snapshot(snapshot)

    async def wait(
        self,
        *,
        timeout: float | None = None,
        poll_timeout: float | None = 3600,
        poll_interval: float | None = None,
    ) -> T:
        """Poll until the operation finishes; ``timeout`` bounds each read (None: the client's),
        ``poll_timeout`` the wait (None: no bound), ``poll_interval`` fixes the schedule;
        closing the client ends it."""
        seconds = self._timeout(timeout)
        for name, value in (("poll_timeout", poll_timeout), ("poll_interval", poll_interval)):
            if value is not None:
                check_number(name, value)
        if self._last.done:
            return self._outcome(self._last)
        polling = asyncio.ensure_future(self._poll(seconds, poll_interval))
        closing = self._closing() if self._closing is not None else None
        waits: list[asyncio.Future[Any]] = [polling] if closing is None else [polling, closing]
        try:
            await asyncio.wait(waits, timeout=poll_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also on cancellation (Ctrl-C in sync code): leave no read behind
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
        if not polling.cancelled():
            return polling.result()  # a read's errors already name the operation
        if closing is not None and closing.done():
            raise errors.ClientClosedError(operation_id=self.id)
        raise errors.OperationTimeoutError(operation_id=self.id, timeout=poll_timeout or 0.0)

    def _history(self) -> tuple[float, ...]:
        return self._durations.history(self._key) if self._age_known else ()

    async def _poll(self, timeout: float, poll_interval: float | None) -> T:
        """Read until the end is seen: when the schedule says, or later while failed reads
        hold the next one back."""
        hold = _Hold()
        while not self._last.done:
            now = self._clock()
            read = hold.applied_to(self._scheduled_read(now, poll_interval))
            _LOG.debug(
                "operation %s: next read in %.3f s (%s)",
                self.id,
                max(read.due - now, 0.0),
                read.why,
            )
            try:
                await self._read(timeout, read.due)
                hold.outages = 0
            except errors.TransportError as error:
                if (delay := self._delay_after(error, hold)) is None:
                    raise
                hold.until = self._clock() + delay
        return self._outcome(self._last)

    def _scheduled_read(self, now: float, poll_interval: float | None) -> _NextRead:
        """The next read by the schedule: at once, every ``poll_interval``, or adaptive."""
        if (last_read_at := self._last_read_at) is None:
            return _NextRead(now, "no read yet")
        if poll_interval is not None:
            return _NextRead(
                max(now, last_read_at + poll_interval), f"poll_interval={poll_interval:g} s"
            )
        start, history = self._started_at, self._history()
        age = now - start
        due = start + _POLICY.next_read_age(
            age=age,
            last_read_age=last_read_at - start,
            history=history,
            uncertainty=self._durations.uncertainty(self._key),
            rng=JITTER,
        )
        return _NextRead(
            due, f"adaptive plan at age {age:.3f} s from {len(history)} learned duration(s)"
        )

    def _delay_after(self, error: errors.TransportError, hold: _Hold) -> float | None:
        """Seconds to wait before reading again after a failed read; None: the wait fails."""
        if error.code == "RESOURCE_EXHAUSTED":  # the quota: as long as the server says
            hint = error.retry_after  # parsed from digits: never negative
            return _POLICY.exhausted_delay if hint is None else hint
        # An outage is ridden out once the operation is known to exist (it was read, or its
        # read reached a server); an endpoint never reached fails at once.
        if error.code in _OUTAGE_CODES and (self._last_read_at is not None or error.sent):
            hold.outages += 1
            delay = max(OUTAGE_BACKOFF.backoff(min(hold.outages, 32)), error.retry_after or 0)
            message = "operation %s: read failed with %s (%d in a row); next try in %.3f s"
            _LOG.debug(message, self.id, error.code, hold.outages, delay)
            return delay
        return None

    async def _read(self, timeout: float, due: float) -> OperationSnapshot[T]:
        slot = _ReadSlot(self._scheduler, self._clock)
        await slot.take(due)
        issued = self._clock()
        try:
            snapshot = await self._reader.get(self.id, timeout=timeout, retry_hooks=slot)
        except errors.ClientClosedError:
            raise errors.ClientClosedError(operation_id=self.id) from None
        except errors.TransportError as error:
            if error.code == "RESOURCE_EXHAUSTED":
                self._scheduler.note_exhausted(error.retry_after)
            raise error.for_operation(self.id) from None
        finally:
            self.reads += slot.attempts  # retries are reads too
            slot.give_back()
        self._record(snapshot, issued)
        return snapshot

    def _record(self, snapshot: OperationSnapshot[T], issued: float) -> None:
        """Keep a read's snapshot; log the end and learn a success's duration when first seen."""
        running_at = self._last_read_at  # every snapshot before the first done one is running
        first_end = snapshot.done and not self._last.done
        self._last, self._last_read_at = snapshot, issued
        if not first_end:
            return
        state = OperationStatus.from_snapshot(snapshot).state
        took = f"{self._clock() - self._started_at:.3f} s" if self._age_known else "?"
        _LOG.info("operation %s %s after %s and %d read(s)", self.id, state, took, self.reads)
        if state == "succeeded" and self._age_known and running_at is not None:
            self._durations.learn(
                self._key,
                running_at=running_at - self._started_at,
                done_at=issued - self._started_at,
                created_at=snapshot.created_at,
                modified_at=snapshot.modified_at,
            )

    def _outcome(self, snapshot: OperationSnapshot[T]) -> T:
        status = OperationStatus.from_snapshot(snapshot)
        if status.is_succeeded and snapshot.response is not None:
            return snapshot.response
        if status.error is None:
            message = "operation is still running and has no result yet; use wait()"
            raise errors.OperationError(message, operation_id=self.id)
        if status.error is not snapshot.error:  # done, but without the expected response
            raise errors.UnexpectedOperationResultError(status.error.message, operation_id=self.id)
        raise errors.OperationFailedError(
            operation_id=self.id,
            code=status.error.code,
            message=status.error.message,
            details=status.error.details,
            cancelled=status.is_cancelled,
        )


class _ReadSlot:
    """The read budget's permission for one read, held by one attempt at a time.

    WHY one at a time: a retry that asked for a new grant while still holding the failed
    attempt's could deadlock the budget. Once every grant is held by reads that wait for
    another one, nothing is ever released and every wait hangs until ``poll_timeout``.
    Here a failed attempt gives its grant back before the backoff, and the retry asks
    again afterwards, in line with everyone else.
    """

    def __init__(self, scheduler: PollScheduler, clock: Callable[[], float]) -> None:
        self._scheduler = scheduler
        self._clock = clock
        self._grant: Grant | None = None
        self.attempts = 0  # attempts granted, so sent (or about to be)

    async def take(self, due: float) -> None:
        self._grant = await self._scheduler.acquire(due)
        self.attempts += 1

    def give_back(self) -> None:
        if self._grant is not None:
            self._scheduler.release(self._grant)
            self._grant = None

    # RetryHooks: called by the transport's retry loop between attempts.
    def attempt_failed(self, error: errors.TransportError) -> None:
        self.give_back()
        if error.code == "RESOURCE_EXHAUSTED":
            self._scheduler.note_exhausted(error.retry_after)

    async def before_retry(self, error: errors.TransportError) -> None:
        await self.take(self._clock())


class Runner(Protocol):
    def __call__(self, coro: Coroutine[Any, Any, R], /) -> R: ...


class Operation(Generic[T]):
    """The synchronous face of an :class:`AsyncOperation`, run by ``run`` (the loop thread)."""

    def __init__(self, operation: AsyncOperation[T], *, run: Runner) -> None:
        self.id = operation.id
        self._async = operation
        self._run = run

    @property
    def reads(self) -> int:
        return self._async.reads

    def __repr__(self) -> str:
        return repr(self._async).removeprefix("Async")

    # Written out, not wrapped: pyright (and so VS Code) cannot follow a decorator that maps
    # an async method's ParamSpec onto a sync one, and saw these results as Unknown. Each
    # keeps the signature and docstring of its AsyncOperation twin (a test compares them).

    def _call(self, coro: Coroutine[Any, Any, R]) -> R:
        try:
            return self._run(coro)
        except errors.ClientClosedError:
            raise errors.ClientClosedError(operation_id=self.id) from None

    def get_status(self, *, timeout: float | None = None) -> OperationStatus:
        """Read the operation once and return its status (``timeout``: None, the client's)."""
        return self._call(self._async.get_status(timeout=timeout))

    def get_result(self, *, timeout: float | None = None) -> T:
        """The result (one read unless the end was seen); raises if it failed or still runs."""
        return self._call(self._async.get_result(timeout=timeout))

    def cancel(self, *, timeout: float | None = None) -> OperationStatus:
        """Ask the server to cancel the operation; returns the status it answered with."""
        return self._call(self._async.cancel(timeout=timeout))

    def wait(
        self,
        *,
        timeout: float | None = None,
        poll_timeout: float | None = 3600,
        poll_interval: float | None = None,
    ) -> T:
        """Poll until the operation finishes; ``timeout`` bounds each read (None: the client's),
        ``poll_timeout`` the wait (None: no bound), ``poll_interval`` fixes the schedule;
        closing the client ends it."""
        return self._call(
            self._async.wait(
                timeout=timeout, poll_timeout=poll_timeout, poll_interval=poll_interval
            )
        )

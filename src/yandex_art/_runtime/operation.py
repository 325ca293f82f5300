"""Long-running operations: what a read says, and one poller behind the async and sync API.

:class:`AsyncOperation` polls through an :class:`OperationReader` (the generated
operation service builds an :class:`OperationMessageReader`; nothing here
imports generated code). Its reads are granted by the client's
:class:`~.scheduler.PollScheduler` and timed by a :class:`~.scheduler.PollPolicy`
fed by the client's :class:`~.scheduler.DurationModel`. :class:`Operation` is
its synchronous face, through its public methods.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from . import logs
from .errors import (
    AIStudioError,
    ClientClosedError,
    OperationError,
    OperationFailedError,
    OperationTimeoutError,
    TransportError,
    UnexpectedOperationResultError,
)
from .retry import JITTER, BeforeRetry, RetryPolicy
from .scheduler import DurationModel, Grant, PollPolicy, PollScheduler, check_number, quantile

__all__ = ["AsyncOperation", "Operation", "OperationReader", "OperationSnapshot", "OperationStatus"]

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M")
M_co = TypeVar("M_co", covariant=True)

OperationState = Literal["running", "succeeded", "failed", "cancelled"]

_CANCELLED = 1  # google.rpc.Code.CANCELLED
_UNKNOWN = 2  # google.rpc.Code.UNKNOWN
# A read that failed with these is repeated (after the transport's own
# retries) until the wait's poll_timeout: the service may be restarting.
_OUTAGE_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})
OUTAGE_BACKOFF = RetryPolicy(initial_backoff=0.25, multiplier=2.0, max_backoff=5.0, jitter=0.2)
"""How the wait paces reads while the operation service is unreachable."""
_DEFAULT_POLICY = PollPolicy()
_LOG = logs.get("operation")


# --------------------------------------------------------------------------- one read


@dataclass(frozen=True)
class RpcStatus:
    """A ``google.rpc.Status`` as the runtime sees it."""

    code: int
    message: str
    details: tuple[Any, ...] = ()


@dataclass(frozen=True)
class OperationSnapshot(Generic[T]):
    """One read of an operation: ``response`` is the decoded result of the expected
    type (None for another type, whose URL ``response_type_url`` tells); ``created_at``
    and ``modified_at`` are the server's timestamps in POSIX seconds, if it sent them."""

    id: str
    done: bool
    error: RpcStatus | None = None
    response: T | None = None
    response_type_url: str | None = None
    expected_type_url: str | None = None
    created_at: float | None = None
    modified_at: float | None = None


class OperationReader(Protocol[T]):
    """Reads and cancels operations whose result decodes to ``T``."""

    async def get(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]: ...

    async def cancel(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]: ...


class _AnyMessage(Protocol):
    @property
    def type_url(self) -> str: ...
    @property
    def value(self) -> bytes: ...


class _StatusMessage(Protocol):
    @property
    def code(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def details(self) -> Sequence[object]: ...


class OperationMessage(Protocol):
    """The fields of ``yandex.cloud.operation.Operation`` read here."""

    @property
    def id(self) -> str: ...
    @property
    def done(self) -> bool: ...
    @property
    def error(self) -> _StatusMessage | None: ...
    @property
    def response(self) -> _AnyMessage | None: ...
    @property
    def created_at(self) -> datetime.datetime | None: ...
    @property
    def modified_at(self) -> datetime.datetime | None: ...


class ResponseType(Protocol[M_co]):
    """A generated message class: decodes its wire bytes."""

    def parse(self, data: bytes) -> M_co: ...


_Call = Callable[[str, float, BeforeRetry | None], Awaitable[OperationMessage]]


@dataclass(frozen=True)
class OperationMessageReader(Generic[M, T]):
    """An :class:`OperationReader` over the calls (operation id, timeout, before_retry) that
    get and cancel ``Operation`` messages. A response of type ``type_url`` is parsed
    as a ``response_type`` and made a ``T`` by ``result``; another is reported by its type URL.
    """

    call_get: _Call
    call_cancel: _Call
    response_type: ResponseType[M]
    type_url: str
    result: Callable[[M], T]

    async def get(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]:
        return self.snapshot(await self.call_get(operation_id, timeout, before_retry))

    async def cancel(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]:
        return self.snapshot(await self.call_cancel(operation_id, timeout, before_retry))

    def snapshot(self, op: OperationMessage) -> OperationSnapshot[T]:
        error = None
        if op.error is not None:
            details = tuple(_unpacked(d) for d in op.error.details)
            error = RpcStatus(op.error.code, op.error.message, details)
        response: T | None = None
        type_url = op.response.type_url if op.response is not None else None
        if op.response is not None and type_url == self.type_url:
            response = self.result(self.response_type.parse(op.response.value))
        return OperationSnapshot(
            id=op.id,
            done=op.done,
            error=error,
            response=response,
            response_type_url=type_url,
            expected_type_url=self.type_url,
            created_at=_seconds(op.created_at),
            modified_at=_seconds(op.modified_at),
        )


def _unpacked(any_: object) -> object:
    try:  # an error detail of a known type, decoded
        return any_.unpack()  # type: ignore[attr-defined]
    except Exception:
        return any_


def _seconds(moment: datetime.datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # naive: UTC
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _empty_result_message(snapshot: OperationSnapshot[Any]) -> str:
    expected = snapshot.expected_type_url or "(unspecified)"
    if snapshot.response_type_url:
        return (
            f"operation finished with a response of type {snapshot.response_type_url!r}, "
            f"expected {expected!r}"
        )
    return f"operation finished with neither a response nor an error (expected {expected!r})"


@dataclass(frozen=True)
class OperationStatus:
    """What one read said about an operation.

    A finished operation whose response is missing or of the wrong type is
    reported as ``failed`` with an ``UNKNOWN`` (2) error describing it.
    """

    state: OperationState
    error: RpcStatus | None = None

    @classmethod
    def from_snapshot(cls, snapshot: OperationSnapshot[Any]) -> OperationStatus:
        if not snapshot.done:
            return cls("running")
        error = snapshot.error
        if error is not None and error.code != 0:
            return cls("cancelled" if error.code == _CANCELLED else "failed", error)
        if snapshot.response is not None:
            return cls("succeeded")
        return cls("failed", RpcStatus(_UNKNOWN, _empty_result_message(snapshot)))

    @property
    def done(self) -> bool:
        return self.state != "running"

    is_finished = done

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    @property
    def is_succeeded(self) -> bool:
        return self.state == "succeeded"

    @property
    def is_failed(self) -> bool:
        """Failed or cancelled."""
        return self.state in ("failed", "cancelled")

    @property
    def is_cancelled(self) -> bool:
        return self.state == "cancelled"

    @property
    def status_name(self) -> str:
        return self.state

    @property
    def code(self) -> int | None:
        return self.error.code if self.error else None

    @property
    def message(self) -> str | None:
        return self.error.message if self.error else None

    @property
    def details(self) -> tuple[Any, ...]:
        return self.error.details if self.error else ()

    def __repr__(self) -> str:
        if self.error is None:
            return f"OperationStatus<{self.state}>"
        error = self.error
        return f"OperationStatus<{self.state} code={error.code} message={error.message!r}>"


# --------------------------------------------------------------------------- the poller


def _check_wait(timeout: float, poll_timeout: float | None, poll_interval: float | None) -> None:
    check_number("timeout", timeout)
    if poll_timeout is not None:
        check_number("poll_timeout", poll_timeout)
    if poll_interval is not None:
        check_number("poll_interval", poll_interval)


class AsyncOperation(Generic[T]):
    """An operation running on the server, whose result decodes to ``T``.

    ``started_at`` (a reading of ``clock``) is when the operation was created;
    when ``initial`` is given without it, the operation is taken to have been
    created just now. Operations attached by id without either have an unknown
    age: their first read happens at once and learned durations are not used.
    """

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
        default_poll_policy: PollPolicy = _DEFAULT_POLICY,
        rng: random.Random = JITTER,  # a Random per operation costs ~1 % CPU
        closing: Callable[[], asyncio.Future[None] | None] | None = None,
    ) -> None:
        self._id = operation_id
        self._reader = reader
        self._scheduler = scheduler
        self._durations = durations
        self._key = duration_key
        self._clock = clock
        self._policy = default_poll_policy
        self._rng = rng
        self._closing = closing
        self._age_known = started_at is not None or initial is not None
        self._started_at = clock() if started_at is None else started_at
        self._last = initial
        self._last_read_at: float | None = None
        self._last_running_at: float | None = None
        self._recorded = False
        self._reads = 0
        if initial is None:
            _LOG.debug("operation %s attached", operation_id)
            return
        self._last_read_at = self._started_at
        _LOG.info("operation %s started", operation_id)
        if initial.done:
            self._log_finished(initial)
        else:
            self._last_running_at = self._started_at

    @property
    def id(self) -> str:
        return self._id

    @property
    def reads(self) -> int:
        """How many times this object has read the operation."""
        return self._reads

    @property
    def last_status(self) -> OperationStatus | None:
        """The status from the latest read, without reading (None before any)."""
        return None if self._last is None else OperationStatus.from_snapshot(self._last)

    @property
    def finished(self) -> bool:
        """Whether a read (or the start) already saw the operation end."""
        return self._last is not None and self._last.done

    def expected_remaining(self) -> float | None:
        """Seconds until the operation is likely done (the median learned duration minus
        its age; 0 when overdue), or None when nothing is learned or its age is unknown."""
        history = self._durations.history(self._key) if self._age_known else ()
        if not history:
            return None
        return max(0.0, self._started_at + quantile(history, 0.5) - self._clock())

    def __repr__(self) -> str:
        status = self.last_status
        state = "unknown" if status is None else status.state
        return f"{type(self).__name__}<id={self._id!r}, state={state}, reads={self._reads}>"

    def __await__(self) -> Generator[Any, None, T]:
        return self.wait().__await__()

    async def get_status(self, *, timeout: float = 60) -> OperationStatus:
        """Read the operation once and return its status."""
        check_number("timeout", timeout)
        snapshot = await self._read(timeout=timeout, due=self._clock())
        return OperationStatus.from_snapshot(snapshot)

    async def get_result(self, *, timeout: float = 60) -> T:
        """The result, reading once unless the last read already saw the end.

        Raises :class:`OperationFailedError` if the operation failed or was
        cancelled and :class:`OperationError` if it is still running.
        """
        check_number("timeout", timeout)
        if self.finished:
            return self.known_result()
        return self._outcome(await self._read(timeout=timeout, due=self._clock()))

    async def cancel(self, *, timeout: float = 60) -> OperationStatus:
        """Ask the server to cancel the operation; returns the status it answered with."""
        check_number("timeout", timeout)
        issued = self._clock()
        try:
            snapshot = await self._reader.cancel(self._id, timeout=timeout)
        except (TransportError, ClientClosedError) as error:
            raise self._named(error) from None
        self._record_read(snapshot, issued, learn=False)
        return OperationStatus.from_snapshot(snapshot)

    async def wait(
        self,
        *,
        timeout: float = 60,
        poll_timeout: float | None = 3600,
        poll_interval: float | None = None,
    ) -> T:
        """Poll until the operation finishes and return its result.

        ``timeout`` bounds each read; ``poll_timeout`` bounds the whole wait
        (None: no bound) and raises :class:`OperationTimeoutError` when it runs
        out. ``poll_interval`` replaces the adaptive schedule with a fixed one
        (0 reads again at once, within the client's read budget). Closing the
        client ends the wait with :class:`ClientClosedError`.
        """
        _check_wait(timeout, poll_timeout, poll_interval)
        if self.finished:
            return self.known_result()
        polling = asyncio.ensure_future(self._poll(timeout, poll_interval))
        closing = self._closing() if self._closing is not None else None
        waits: list[asyncio.Future[Any]] = [polling] if closing is None else [polling, closing]
        try:
            await asyncio.wait(
                waits,
                timeout=None if poll_timeout == math.inf else poll_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            # Also on cancellation (Ctrl-C in sync code): leave no read behind.
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
        if not polling.cancelled():
            return polling.result()  # a read's errors already name the operation (_read)
        if closing is not None and closing.done():
            raise ClientClosedError(operation_id=self._id)
        raise OperationTimeoutError(operation_id=self._id, timeout=poll_timeout or 0.0)

    def known_result(self) -> T:
        """The outcome the last read saw, without reading: the result or its error."""
        if self._last is None:
            raise OperationError("the operation has not been read yet", operation_id=self._id)
        return self._outcome(self._last)

    def _named(self, error: TransportError | ClientClosedError) -> AIStudioError:
        """The error, naming this operation (whose id must never be lost)."""
        if isinstance(error, ClientClosedError):
            return ClientClosedError(operation_id=self._id)
        return error.for_operation(self._id)

    async def _poll(self, timeout: float, poll_interval: float | None) -> T:
        hold_until = -math.inf
        outage = 0
        snapshot = self._last
        while snapshot is None or not snapshot.done:
            due = max(self._next_due(poll_interval), hold_until)
            if _LOG.isEnabledFor(logging.DEBUG):
                _LOG.debug(
                    "operation %s: next read in %.3f s (%s)",
                    self._id,
                    max(due - self._clock(), 0.0),
                    self._why(poll_interval, hold_until, due),
                )
            try:
                snapshot = await self._read(timeout=timeout, due=due)
                outage = 0
            except TransportError as error:
                if error.code == "RESOURCE_EXHAUSTED":
                    delay = error.retry_after
                    if delay is None or not delay >= 0:
                        delay = self._policy.exhausted_delay
                elif error.code in _OUTAGE_CODES and (self._last is not None or error.sent):
                    # Ridden out once the operation is known to exist: a dead
                    # endpoint never reached still fails fast.
                    outage += 1
                    delay = max(
                        OUTAGE_BACKOFF.backoff(min(outage, 32), self._rng), error.retry_after or 0
                    )
                    _LOG.debug(
                        "operation %s: read failed with %s (%d in a row); next try in %.3f s",
                        self._id,
                        error.code,
                        outage,
                        delay,
                    )
                else:
                    raise
                hold_until = self._clock() + delay
        return self._outcome(snapshot)

    def _why(self, poll_interval: float | None, hold_until: float, due: float) -> str:
        if due == hold_until:
            return "the server refused a read for quota"
        if self._last_read_at is None:
            return "no read yet"
        if poll_interval is not None:
            return f"poll_interval={poll_interval:g} s"
        known = len(self._durations.history(self._key)) if self._age_known else 0
        age = self._clock() - self._started_at
        return f"adaptive plan at age {age:.3f} s from {known} learned duration(s)"

    def _next_due(self, poll_interval: float | None) -> float:
        now = self._clock()
        if self._last_read_at is None:
            return now  # nothing known yet: look at once
        if poll_interval is not None:
            return max(now, self._last_read_at + poll_interval)
        age = self._policy.next_read_age(
            uncertainty=self._durations.uncertainty(self._key),
            age=now - self._started_at,
            last_read_age=self._last_read_at - self._started_at,
            history=self._durations.history(self._key) if self._age_known else (),
            rng=self._rng,
        )
        return self._started_at + age

    async def _read(self, *, timeout: float, due: float) -> OperationSnapshot[T]:
        """One read (with the transport's retries), every attempt within the read budget."""
        scheduler = self._scheduler
        grants: list[Grant] = [await scheduler.acquire(due)]

        async def before_retry(error: TransportError) -> None:
            if error.code == "RESOURCE_EXHAUSTED":
                scheduler.note_exhausted(error.retry_after)
            grants.append(await scheduler.acquire(self._clock()))
            self._reads += 1

        issued = self._clock()
        self._reads += 1
        try:
            snapshot = await self._reader.get(self._id, timeout=timeout, before_retry=before_retry)
        except (TransportError, ClientClosedError) as error:
            if isinstance(error, TransportError) and error.code == "RESOURCE_EXHAUSTED":
                scheduler.note_exhausted(error.retry_after)
            raise self._named(error) from None
        finally:
            for grant in grants:
                scheduler.release(grant)
        self._record_read(snapshot, issued, learn=True)
        return snapshot

    def _record_read(self, snapshot: OperationSnapshot[T], issued: float, *, learn: bool) -> None:
        seen_done = self.finished
        self._last = snapshot
        self._last_read_at = issued
        if not snapshot.done:
            self._last_running_at = issued
            return
        if not seen_done:
            self._log_finished(snapshot)
        running_at = self._last_running_at
        if learn and not self._recorded and self._age_known and running_at is not None:
            if OperationStatus.from_snapshot(snapshot).is_succeeded:
                self._recorded = True
                self._durations.learn(
                    self._key,
                    running_at=running_at - self._started_at,
                    done_at=issued - self._started_at,
                    created_at=snapshot.created_at,
                    modified_at=snapshot.modified_at,
                )

    def _log_finished(self, snapshot: OperationSnapshot[T]) -> None:
        if _LOG.isEnabledFor(logging.INFO):
            state = OperationStatus.from_snapshot(snapshot).state
            took = f"{self._clock() - self._started_at:.3f} s" if self._age_known else "?"
            _LOG.info("operation %s %s after %s and %d read(s)", self._id, state, took, self._reads)

    def _outcome(self, snapshot: OperationSnapshot[T]) -> T:
        if not snapshot.done:
            raise OperationError(
                "operation is still running and has no result yet; use wait()",
                operation_id=self._id,
            )
        status, error = OperationStatus.from_snapshot(snapshot), snapshot.error
        if status.is_succeeded and snapshot.response is not None:
            return snapshot.response
        if error is None or error.code == 0:
            message = _empty_result_message(snapshot)
            raise UnexpectedOperationResultError(message, operation_id=self._id)
        raise OperationFailedError(
            operation_id=self._id,
            code=error.code,
            message=error.message,
            details=error.details,
            cancelled=status.is_cancelled,
        )


class Runner(Protocol):
    """Runs a coroutine to completion from synchronous code (``LoopThread.run``)."""

    def __call__(self, coro: Coroutine[Any, Any, R], /) -> R: ...


class Operation(Generic[T]):
    """The synchronous face of an :class:`AsyncOperation`, through its public methods.

    Each method runs the async one through ``run`` (the client's loop
    thread); interrupting ``wait()`` (Ctrl-C) cancels the polling, so no read
    is left pending. An outcome already seen needs no trip through the loop.
    """

    def __init__(self, operation: AsyncOperation[T], *, run: Runner) -> None:
        self._async = operation
        self._run = run

    @property
    def id(self) -> str:
        return self._async.id

    @property
    def reads(self) -> int:
        return self._async.reads

    @property
    def last_status(self) -> OperationStatus | None:
        return self._async.last_status

    def expected_remaining(self) -> float | None:
        return self._async.expected_remaining()

    def __repr__(self) -> str:
        return type(self).__name__ + repr(self._async).removeprefix(type(self._async).__name__)

    def get_status(self, *, timeout: float = 60) -> OperationStatus:
        return self._call(self._async.get_status(timeout=timeout))

    def get_result(self, *, timeout: float = 60) -> T:
        check_number("timeout", timeout)
        if self._async.finished:
            return self._async.known_result()
        return self._call(self._async.get_result(timeout=timeout))

    def cancel(self, *, timeout: float = 60) -> OperationStatus:
        return self._call(self._async.cancel(timeout=timeout))

    def wait(
        self,
        *,
        timeout: float = 60,
        poll_timeout: float | None = 3600,
        poll_interval: float | None = None,
    ) -> T:
        _check_wait(timeout, poll_timeout, poll_interval)
        if self._async.finished:
            return self._async.known_result()
        return self._call(
            self._async.wait(
                timeout=timeout, poll_timeout=poll_timeout, poll_interval=poll_interval
            )
        )

    def _call(self, coro: Coroutine[Any, Any, R]) -> R:
        try:
            return self._run(coro)
        except ClientClosedError:
            raise ClientClosedError(operation_id=self.id) from None

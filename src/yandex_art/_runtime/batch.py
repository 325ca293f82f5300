"""Many operations from one list: bounded concurrency, a start rate, results as they finish."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import QuotaPausedError, TransportError
from .operation import AsyncOperation, Runner
from .quota import SharedBudget

__all__ = ["BatchItem", "BatchRequest", "RateLimiter", "iterate_sync", "run_batch"]

T = TypeVar("T")

_MAX_QUOTA_RETRIES = 8
# A place in a shared Generate budget further away than this pauses the batch (the per-day
# budget is full); nearer ones (the per-minute budget) are waited for.
_LONGEST_WAIT = 61.0
_PER_DAY = re.compile(r"\b(day|daily|per day|24 ?h)\b", re.IGNORECASE)


def is_per_day_refusal(error: TransportError) -> bool:
    """A Generate RESOURCE_EXHAUSTED that a minute of waiting will not cure: a retry-after
    hint past a minute, or a message that names the day (the service's wording is not
    documented, so both are looked at)."""
    if error.code != "RESOURCE_EXHAUSTED":
        return False
    return (error.retry_after or 0.0) > _LONGEST_WAIT or bool(_PER_DAY.search(error.detail))


@dataclass(frozen=True)
class BatchRequest:
    """One item: messages, ``configure()`` options, a name; ``operation_id`` attaches to an
    operation started earlier, ``idempotency_key`` is sent with its Generate."""

    messages: Any
    options: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    operation_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class BatchItem(Generic[T]):
    """The outcome of item ``index`` (from 0): ``result`` or ``error``, never both;
    ``operation_id`` is None when the operation could not be started."""

    index: int
    request: BatchRequest
    operation_id: str | None
    result: T | None = None
    error: BaseException | None = None

    @property
    def name(self) -> str | None:
        return self.request.name

    @property
    def ok(self) -> bool:
        return self.error is None


class RateLimiter:
    """Spaces events ``60 / per_minute`` seconds apart; :meth:`slow_down` (a quota
    refusal) doubles the spacing, up to a minute, and each event let through
    brings it back a little."""

    def __init__(
        self,
        per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if per_minute is not None and not (per_minute > 0):
            raise ValueError(f"rate_per_minute must be > 0 or None, got {per_minute!r}")
        self._base = 0.0 if per_minute is None or math.isinf(per_minute) else 60.0 / per_minute
        self.interval = self._base
        self._next = -math.inf
        self._clock = clock
        self._sleep = sleep

    async def acquire(self) -> None:
        while (now := self._clock()) < self._next:
            await self._sleep(self._next - now)
        self._next = now + self.interval
        self.interval = max(self._base, self.interval * 0.9)

    def slow_down(self, retry_after: float | None = None) -> float:
        """Returns how long the next start is held back."""
        self.interval = min(max(self.interval * 2, 1.0), 60.0)
        hold = max(retry_after or 0.0, self.interval)
        self._next = max(self._next, self._clock() + hold)
        return hold


async def run_batch(
    requests: Iterable[BatchRequest],
    *,
    start: Callable[[BatchRequest], Awaitable[AsyncOperation[T]]],
    concurrency: int = 8,
    rate_per_minute: float | None = 100.0,
    poll_timeout: float | None = 3600,
    on_start: Callable[[int, BatchRequest], object] | None = None,
    on_started: Callable[[int, BatchRequest, AsyncOperation[T]], object] | None = None,
    generate_quota: Sequence[SharedBudget] = (),
) -> AsyncIterator[BatchItem[T]]:
    """Run every request, at most ``concurrency`` at a time; yield items as they finish.

    A start refused for quota slows the limiter and is tried again; any other failure
    is reported on its item. Closing the iterator cancels the waits, not the operations.

    Each start also takes a place in every ``generate_quota`` budget (the folder's
    per-minute and per-day Generate quotas, shared with every process through the
    quota store). When the day's is used up (by the store's count, or a refusal that
    names the day), the batch pauses: the operations started keep being waited for,
    and every item not started yet ends with :class:`QuotaPausedError` and its resume
    hint instead of failing.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    batch = _Batch(start, RateLimiter(rate_per_minute), poll_timeout, generate_quota)
    batch.on_start, batch.on_started = on_start, on_started
    source = enumerate(requests)  # shared by the workers: each item is taken by one
    workers = [asyncio.ensure_future(batch.work(source)) for _ in range(concurrency)]
    running = len(workers)
    try:
        while running:
            item = await batch.results.get()
            if item is None:  # a worker ended
                running -= 1
            else:
                yield item
        for task in workers:
            task.result()  # a failure of the input iterable itself is raised here
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


class _Batch(Generic[T]):
    """One run of :func:`run_batch`: what its workers share."""

    def __init__(
        self,
        start: Callable[[BatchRequest], Awaitable[AsyncOperation[T]]],
        limiter: RateLimiter,
        poll_timeout: float | None,
        generate_quota: Sequence[SharedBudget],
    ) -> None:
        self._start, self._limiter = start, limiter
        self._poll_timeout, self._quotas = poll_timeout, generate_quota
        self.on_start: Callable[[int, BatchRequest], object] | None = None
        self.on_started: Callable[[int, BatchRequest, AsyncOperation[T]], object] | None = None
        self.results: asyncio.Queue[BatchItem[T] | None] = asyncio.Queue()  # None: a worker ended
        self._paused_until: float | None = None  # monotonic (nan: no hint); None: not paused
        self._pause_reason = ""

    async def work(self, source: Iterator[tuple[int, BatchRequest]]) -> None:
        try:
            for index, request in source:
                await self.results.put(await self._one(index, request))
        finally:
            await self.results.put(None)

    async def _one(self, index: int, request: BatchRequest) -> BatchItem[T]:
        operation_id = request.operation_id
        try:
            operation = await self._begin(index, request)
            operation_id = operation.id
            if self.on_started is not None:
                self.on_started(index, request, operation)
            result = await operation.wait(poll_timeout=self._poll_timeout)
        except Exception as exc:  # reported on the item, never raised for the batch
            return BatchItem(index, request, operation_id, error=exc)
        return BatchItem(index, request, operation_id, result=result)

    async def _begin(self, index: int, request: BatchRequest) -> AsyncOperation[T]:
        """Start the item's operation (attach, with an id), within the rate and the quotas."""
        if request.operation_id:
            return await self._start(request)
        refusals = 0
        while True:
            self._check_paused()
            await self._limiter.acquire()
            await self._take_quota_places()
            if self.on_start is not None:
                self.on_start(index, request)
            try:
                return await self._start(request)
            except TransportError as error:
                refusals += 1
                self._note_refusal(error)
                if error.code != "RESOURCE_EXHAUSTED" or refusals > _MAX_QUOTA_RETRIES:
                    raise
                await asyncio.sleep(self._limiter.slow_down(error.retry_after))

    def _note_refusal(self, error: TransportError) -> None:
        """A refused start: every process of the folder slows down (for the day: all budgets
        do), and a refusal for the day pauses the batch."""
        day = is_per_day_refusal(error)
        if error.code == "RESOURCE_EXHAUSTED":
            hold = max(error.retry_after or 0.0, 60.0)
            for budget in self._quotas:
                if day or budget.hold <= _LONGEST_WAIT:
                    budget.note_exhausted(hold)
        if day:
            self._pause(error.retry_after, f"the service refused Generate for the day: {error}")
            self._check_paused()

    async def _take_quota_places(self) -> None:
        # The minute's budget first: a wait there costs no place in the day's.
        for budget in self._quotas:
            while not (taken := await budget.take()).granted:
                if taken.retry_in > _LONGEST_WAIT:
                    self._pause(
                        taken.retry_in, "the folder's Generate quota for the day is used up"
                    )
                self._check_paused()
                await asyncio.sleep(taken.retry_in)
                self._check_paused()

    def _pause(self, seconds: float | None, reason: str) -> None:
        until = time.monotonic() + (seconds if seconds is not None else math.nan)
        if self._paused_until is None:
            self._paused_until, self._pause_reason = until, reason

    def _check_paused(self) -> None:
        if self._paused_until is not None:
            left = self._paused_until - time.monotonic()
            resume_after = None if math.isnan(left) else max(left, 0.0)
            raise QuotaPausedError(self._pause_reason, resume_after=resume_after)


def iterate_sync(run: Runner, items: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator from synchronous code, one ``run`` per item."""

    async def step() -> T:
        return await items.__anext__()

    async def close() -> None:
        await items.aclose()  # type: ignore[attr-defined]

    try:
        while True:
            try:
                yield run(step())
            except StopAsyncIteration:
                return
    finally:
        if hasattr(items, "aclose"):
            run(close())

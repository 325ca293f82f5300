"""The client-wide budget of operation reads: at most the folder's quota per second.

Every read of an unfinished operation asks this budget for a grant first; grants go out by
due time, a read counts for a window after its answer (as the server counts it), and a quota
refusal halves the budget for a while. With a quota store (quota.py) the budget is shared
by every process of the folder.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import logs
from .validation import check_number

if TYPE_CHECKING:
    from .quota import SharedBudget

Clock = Callable[[], float]
_LOG = logs.get("quota")
_EPSILON = 1e-9  # float rounding when comparing a wake-up time with the clock
_WINDOW = 1.0  # the server's quota window, s
# The server counts a read from some moment between our grant and its answer, and its clock
# ticks apart from ours: a read counts here until a window after its answer, plus this slack.
_CLOCK_SLACK = 0.02  # s
COUNTED = _WINDOW + _CLOCK_SLACK  # how long after its answer a read still counts
_HELD = "a read was held %.3f s by the read budget (%s reads per %g s, %d waiting)"


class GrantState(enum.Enum):
    IN_FLIGHT = "in flight"  # granted; the read is not answered yet: it counts
    ANSWERED = "answered"  # the read ended at ``ended_at``: it counts until COUNTED after
    RETURNED = "returned"  # granted but never sent (its waiter was cancelled): it counts no more


@dataclass(eq=False, slots=True)
class Grant:
    """Permission for one read, counted against the budget while its state says so.

    ``token`` names its entry in the shared store, if one granted it too."""

    token: str | None = None
    state: GrantState = GrantState.IN_FLIGHT
    ended_at: float = math.nan  # when the read was answered (ANSWERED only)

    @property
    def in_flight(self) -> bool:
        return self.state is GrantState.IN_FLIGHT

    def end(self, at: float) -> None:
        """The read was answered (or will never be, its loop is gone) at ``at``."""
        if self.in_flight:
            self.state, self.ended_at = GrantState.ANSWERED, at

    def give_back(self) -> None:
        """Never sent: the place comes back at once."""
        self.state = GrantState.RETURNED

    def counts_at(self, now: float) -> bool:
        if self.state is GrantState.ANSWERED:
            return self.ended_at > now - COUNTED
        return self.in_flight

    def counts_until(self) -> float:
        """When it stops counting: inf while in flight, -inf once returned."""
        if self.state is GrantState.ANSWERED:
            return self.ended_at + COUNTED
        return math.inf if self.in_flight else -math.inf


@dataclass(order=True, slots=True)
class _Waiter:
    """A read waiting for a grant; waiters go out by ``due``, then in the order they came."""

    due: float  # when the read wants to start (a clock reading)
    seq: int  # tells equal dues apart, so the heap never compares the fields below
    asked_at: float = field(compare=False)
    future: asyncio.Future[Grant] = field(compare=False)


def _place_frees_at(counted_until: list[float], cap: int) -> float:
    """When a read may start under ``cap``, given when each counted read stops counting
    (sorted; -inf: at once).

    WHY the cap-th from the end: a new read needs fewer than ``cap`` reads counted, so of the
    newest ``cap`` reads (those counted longest) the oldest has to leave the window first.
    """
    if len(counted_until) < cap:
        return -math.inf
    return counted_until[-cap]


class PollScheduler:
    """Client-wide budget of operation reads, granted by due time.

    With ``shared`` (a budget of a quota store, see quota.py) a read also needs a place
    in the folder's budget that every process shares; the in-process budget still
    decides which waiter goes first (by due time) and counts its own reads in flight.
    """

    def __init__(
        self,
        *,
        max_reads_per_second: float | None = 50.0,
        clock: Clock = time.monotonic,
        shared: SharedBudget | None = None,
    ) -> None:
        rate = math.inf if max_reads_per_second is None else max_reads_per_second
        check_number("max_reads_per_second", rate, strict=True)
        # None or inf: no limit, that is a budget no client can reach.
        self.reads_per_window = max(1, math.floor(min(rate, 1e9) * _WINDOW))
        self._rate = max_reads_per_second
        self._clock = clock
        self._grants: list[Grant] = []
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._pressure_until = -math.inf
        self._reduced_cap = self.reads_per_window
        self._shared = shared

    @property
    def shared(self) -> SharedBudget | None:
        return self._shared

    def fresh(self) -> PollScheduler:
        """The same budget with nothing granted or waiting, for a forked child."""
        shared = None if self._shared is None else self._shared.fresh()
        return PollScheduler(max_reads_per_second=self._rate, clock=self._clock, shared=shared)

    def note_exhausted(self, retry_after: float | None = None) -> None:
        """A quota refusal: halve the budget (again) for ``retry_after`` (>= 1 s) plus 1 s."""
        now = self._clock()
        base = self._reduced_cap if now < self._pressure_until else self.reads_per_window
        self._reduced_cap = max(1, base // 2)
        hold = max(retry_after or 0.0, _WINDOW) + _WINDOW
        self._pressure_until = max(self._pressure_until, now + hold)
        if self._shared is not None:  # every process of the folder slows down too
            self._shared.note_exhausted(hold)
        self._wake_dispatcher()

    def release(self, grant: Grant) -> None:
        """The read was answered: its place counts for COUNTED more, then comes back."""
        if grant.in_flight:
            grant.end(self._clock())
            self._give_back_shared(grant)
            self._wake_dispatcher()

    def _give_back_shared(self, grant: Grant) -> None:
        if grant.token is not None and self._shared is not None:
            token, grant.token = grant.token, None
            self._shared.release(token)

    async def acquire(self, due: float) -> Grant:
        """Wait until a read due at ``due`` (a clock reading) may start; then :meth:`release`."""
        now = self._clock()
        if (grant := self._grant_at_once(now, due)) is not None:
            return grant
        loop, dispatcher = asyncio.get_running_loop(), self._dispatcher
        if dispatcher is not None and not dispatcher.done() and dispatcher.get_loop() is not loop:
            self._forget_dead_loop(loop, now)
            dispatcher = None
        waiter = _Waiter(due, next(self._seq), now, loop.create_future())
        heapq.heappush(self._heap, waiter)
        if dispatcher is None or dispatcher.done():
            self._wakeup = None  # a dead loop's, if any
            self._dispatcher = loop.create_task(self._dispatch(), name="yandex-art-poll-scheduler")
        elif self._heap[0] is waiter:  # first in line now: the dispatcher's wake-up is too late
            self._wake_dispatcher()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled():  # granted, but never read
                self._give_back(future.result())
            self._wake_dispatcher()
            raise

    def _grant_at_once(self, now: float, due: float) -> Grant | None:
        """The fast path: nobody waits, the read is due and a place is free."""
        if self._heap or due > now or self._free_at(now) > now + _EPSILON:
            return None
        if self._shared is None:
            return self._grant(now, due, now)
        if not self._shared.blocking and (taken := self._shared.take_now()).granted:
            return self._grant(now, due, now, taken.token)
        return None

    def _forget_dead_loop(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """The dispatcher's loop died with it (asyncio.run ended, a fork): its waiters can
        never be woken, and its grants in flight will never be released, so every grant in
        flight is taken as answered now."""
        self._heap = sorted(w for w in self._heap if w.future.get_loop() is loop)  # a heap too
        for grant in self._grants:
            grant.end(now)

    def _give_back(self, grant: Grant) -> None:
        grant.give_back()
        self._give_back_shared(grant)

    def _grant(self, now: float, due: float, asked_at: float, token: str | None = None) -> Grant:
        grant = Grant(token=token)
        self._grants.append(grant)
        if (waited := now - max(due, asked_at)) > _EPSILON:
            _LOG.debug(_HELD, waited, self.reads_per_window, _WINDOW, len(self._heap))
        return grant

    def _free_at(self, now: float) -> float:
        """When this process's count lets the next read start (<= now: at once)."""
        self._forget_uncounted(now)
        counted_until = sorted(grant.counts_until() for grant in self._grants)
        full = _place_frees_at(counted_until, self.reads_per_window)
        if now < self._pressure_until:  # after a quota refusal: the reduced cap, until then
            reduced = _place_frees_at(counted_until, self._reduced_cap)
            return min(reduced, max(full, self._pressure_until))
        return full

    def _forget_uncounted(self, now: float) -> None:
        """Drop the grants that count no more (returned, or answered long enough ago)."""
        self._grants = [grant for grant in self._grants if grant.counts_at(now)]

    def _wake_dispatcher(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _dispatch(self) -> None:
        while self._heap:
            waiter, now = self._heap[0], self._clock()
            if waiter.future.done():  # cancelled while it waited
                heapq.heappop(self._heap)
                continue
            at = max(waiter.due, self._free_at(now))
            if at <= now + _EPSILON and self._shared is not None:
                taken = await self._shared.take()
                if taken.granted:
                    self._hand_out(taken.token)
                    continue
                at = self._clock() + taken.retry_in  # the folder's budget is full for now
            if at <= now + _EPSILON:
                heapq.heappop(self._heap)
                waiter.future.set_result(self._grant(now, waiter.due, waiter.asked_at))
            else:
                self._wakeup = asyncio.get_running_loop().create_future()
                await asyncio.wait([self._wakeup], timeout=None if at == math.inf else at - now)

    def _hand_out(self, token: str | None) -> None:
        """Give a place the shared store granted to the first waiter due now, if any is left
        (the store may have answered from a thread while a waiter was cancelled)."""
        now = self._clock()
        while self._heap and self._heap[0].future.done():
            heapq.heappop(self._heap)
        if self._heap and self._heap[0].due <= now + _EPSILON:
            waiter = heapq.heappop(self._heap)
            waiter.future.set_result(self._grant(now, waiter.due, waiter.asked_at, token))
        elif token is not None and self._shared is not None:
            self._shared.release(token)

"""The client-wide budget of operation reads: at most the folder's quota per second.

Every read of an unfinished operation asks this budget for a grant first; grants go out by
due time, a read counts for a window after its answer (as the server counts it), and a quota
refusal halves the budget for a while. With a quota store (quota.py) the budget is shared
by every process of the folder.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import logs
from .validation import check_number

if TYPE_CHECKING:
    from .quota import SharedBudget

Clock = Callable[[], float]
_LOG = logs.get("quota")
_EPSILON = 1e-9  # float rounding when comparing a wake-up time with the clock
_WINDOW = 1.0  # the server's quota window, s
# The server counts a read between its grant and its answer: so do we, until a window after,
# and the clock granularity between our count and the server's.
COUNTED = _WINDOW + 0.02
_HELD = "a read was held %.3f s by the read budget (%s reads per %g s, %d waiting)"


@dataclass(eq=False, slots=True)
class Grant:
    """Permission for one read; it counts until a window after ``end`` (inf: in flight).

    ``token`` names its entry in the shared store, if one granted it too."""

    end: float = math.inf
    token: str | None = None


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
        self._heap: list[tuple[float, int, float, asyncio.Future[Grant]]] = []  # due, seq, asked at
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
        if grant.end == math.inf:
            grant.end = self._clock()
            self._give_back_shared(grant)
            self._wake_dispatcher()

    def _give_back_shared(self, grant: Grant) -> None:
        if grant.token is not None and self._shared is not None:
            token, grant.token = grant.token, None
            self._shared.release(token)

    async def acquire(self, due: float) -> Grant:
        """Wait until a read due at ``due`` (a clock reading) may start; then :meth:`release`."""
        now = self._clock()
        if not self._heap and due <= now and self._free_at(now) <= now + _EPSILON:
            if self._shared is None:
                return self._grant(now, due, now)
            if not self._shared.blocking and (taken := self._shared.take_now()).granted:
                return self._grant(now, due, now, taken.token)
        loop, old = asyncio.get_running_loop(), self._dispatcher
        if old is not None and not old.done() and old.get_loop() is not loop:
            # The old loop died with its dispatcher: drop its waiters and unreleased grants.
            self._heap = sorted(w for w in self._heap if w[-1].get_loop() is loop)  # still a heap
            for grant in self._grants:
                grant.end = min(grant.end, now)
            old = None
        future: asyncio.Future[Grant] = loop.create_future()
        heapq.heappush(self._heap, (due, next(self._seq), now, future))
        if old is None or old.done():
            self._wakeup = None  # a dead loop's, if any
            self._dispatcher = loop.create_task(self._dispatch(), name="yandex-art-poll-scheduler")
        elif self._heap[0][-1] is future:
            self._wake_dispatcher()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                grant = future.result()
                grant.end = -math.inf  # granted, but never read: the slot comes back
                self._give_back_shared(grant)
            self._wake_dispatcher()
            raise

    def _grant(self, now: float, due: float, asked_at: float, token: str | None = None) -> Grant:
        grant = Grant(token=token)
        self._grants.append(grant)
        if (waited := now - max(due, asked_at)) > _EPSILON:
            _LOG.debug(_HELD, waited, self.reads_per_window, _WINDOW, len(self._heap))
        return grant

    def _free_at(self, now: float) -> float:
        counted = COUNTED
        self._grants = [g for g in self._grants if g.end > now - counted]
        # A place frees when the cap-th last read stops counting (-inf: fewer are counted).
        ends = [-math.inf, *sorted(g.end + counted for g in self._grants)]
        full = ends[-min(self.reads_per_window, len(ends))]
        if now < self._pressure_until:
            reduced = ends[-min(self._reduced_cap, len(ends))]
            return min(reduced, max(full, self._pressure_until))
        return full

    def _wake_dispatcher(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _dispatch(self) -> None:
        while self._heap:
            (due, _, asked_at, future), now = self._heap[0], self._clock()
            if future.done():
                heapq.heappop(self._heap)
                continue
            at = max(due, self._free_at(now))
            if at <= now + _EPSILON and self._shared is not None:
                taken = await self._shared.take()
                if taken.granted:
                    self._hand_out(taken.token)
                    continue
                at = self._clock() + taken.retry_in  # the folder's budget is full for now
            if at <= now + _EPSILON:
                heapq.heappop(self._heap)
                future.set_result(self._grant(now, due, asked_at))
            else:
                self._wakeup = asyncio.get_running_loop().create_future()
                await asyncio.wait([self._wakeup], timeout=None if at == math.inf else at - now)

    def _hand_out(self, token: str | None) -> None:
        """Give a place the shared store granted to the first waiter due now, if any is left
        (the store may have answered from a thread while a waiter was cancelled)."""
        now = self._clock()
        while self._heap and self._heap[0][-1].done():
            heapq.heappop(self._heap)
        if self._heap and self._heap[0][0] <= now + _EPSILON:
            due, _, asked_at, future = heapq.heappop(self._heap)
            future.set_result(self._grant(now, due, asked_at, token))
        elif token is not None and self._shared is not None:
            self._shared.release(token)

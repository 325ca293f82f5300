"""When to read unfinished operations, and how many reads one client may start.

Three parts, each usable on its own:

- :class:`PollScheduler` is shared by every operation of one client. It hands
  out permission to read ("slots") so that the reads started in any sliding
  window stay within the service's quota (50 ``OperationService.Get`` per
  second per cloud), serving the earliest-due read first.
- :class:`DurationModel` remembers how long recent operations of each model
  took.
- :class:`PollPolicy` turns an operation's age and that history into the time
  of its next read. It is a pure function of its inputs and a random source,
  so it can be measured without a server.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import logs

__all__ = ["DurationModel", "DurationStore", "Grant", "PollPolicy", "PollScheduler", "quantile"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

# Slack for float rounding when comparing a wake-up time with the clock.
_EPSILON = 1e-9
_LOG = logs.get("quota")
# Ages are differences of clock readings: (start + age) - start != age.
_EPSILON_AGE = 1e-6


def _check(name: str, value: float, *, minimum: float = 0.0, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum:g}, got {value!r}")


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile of ``values`` (linear interpolation between order statistics)."""
    if not values:
        raise ValueError("quantile of an empty sequence")
    ordered = sorted(values)
    position = (len(ordered) - 1) * min(max(q, 0.0), 1.0)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------- scheduler


@dataclass(order=True)
class _Waiter:
    due: float
    seq: int
    asked_at: float = field(compare=False)
    future: asyncio.Future[Grant] = field(compare=False)


class Grant:
    """Permission for one read, from :meth:`PollScheduler.acquire`.

    Until it is released the read counts against every window (it may reach
    the server at any moment); once released it counts until ``window +
    guard`` after its release time.
    """

    __slots__ = ("end", "granted_at")

    def __init__(self, granted_at: float) -> None:
        self.granted_at = granted_at
        self.end = math.inf  # in flight

    def __repr__(self) -> str:
        state = "in flight" if self.end == math.inf else f"released at {self.end:.3f}"
        return f"Grant(granted at {self.granted_at:.3f}, {state})"


class PollScheduler:
    """Client-wide budget of operation reads.

    A read may start once its ``due`` time has come and fewer than
    ``max_reads_per_second * window`` reads could still be counted by the
    server in the current window. A read is held to count from the moment it
    is granted until ``window + guard`` after its answer arrived
    (:meth:`release`): the server counts it at its arrival, which lies
    somewhere in between, so however long a read is delayed on its way (a
    busy event loop, the network), the server never sees more than its
    quota. ``guard`` covers clock granularity. When more reads are due than
    the budget allows, they are granted in order of due time.
    ``max_reads_per_second=None`` (or ``inf``) turns the limit off.

    :meth:`slot` is the short form for a read that takes no time (granted and
    released at once); real reads use :meth:`acquire` and :meth:`release`.

    One scheduler serves one event loop at a time; moving to another loop
    (after the first one closed) is fine.
    """

    def __init__(
        self,
        *,
        max_reads_per_second: float | None = 50.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        window: float = 1.0,
        guard: float = 0.02,
    ) -> None:
        _check("window", window, strict=True)
        _check("guard", guard)
        self._settings = (max_reads_per_second, clock, sleep, window, guard)
        if max_reads_per_second is None or max_reads_per_second == math.inf:
            self._reads_per_window: int | None = None
        else:
            _check("max_reads_per_second", max_reads_per_second, strict=True)
            self._reads_per_window = max(1, math.floor(max_reads_per_second * window))
        self._clock = clock
        self._sleep = sleep
        self._window = window
        self._counted_for = window + guard
        self._grants: list[Grant] = []
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._pressure_until = -math.inf
        self._reduced_cap = self._reads_per_window
        self._granted = 0
        self._total_wait = 0.0
        self._max_wait = 0.0

    def __repr__(self) -> str:
        limit = (
            "unlimited"
            if self._reads_per_window is None
            else f"{self._reads_per_window}/{self._window:g}s"
        )
        return (
            f"{type(self).__name__}({limit}, granted={self._granted}, "
            f"waiting={self.waiting}, total_wait={self._total_wait:.3f}s)"
        )

    def fresh(self) -> PollScheduler:
        """The same budget with nothing granted or waiting (a forked child starts here)."""
        rate, clock, sleep, window, guard = self._settings
        return PollScheduler(
            max_reads_per_second=rate, clock=clock, sleep=sleep, window=window, guard=guard
        )

    # Counters, for tests and benchmarks.

    @property
    def reads_per_window(self) -> int | None:
        """The most reads started in one window (None when unlimited)."""
        return self._reads_per_window

    @property
    def granted(self) -> int:
        """How many slots were handed out."""
        return self._granted

    @property
    def total_wait(self) -> float:
        """Seconds that granted reads waited past their due time, summed."""
        return self._total_wait

    @property
    def max_wait(self) -> float:
        """The longest single wait past the due time."""
        return self._max_wait

    @property
    def waiting(self) -> int:
        """Reads currently waiting for a slot."""
        return sum(1 for waiter in self._heap if not waiter.future.done())

    @property
    def in_flight(self) -> int:
        """Reads granted and not yet released."""
        return sum(1 for grant in self._grants if grant.end == math.inf)

    # Back-pressure.

    def note_exhausted(self, retry_after: float | None = None) -> None:
        """The server refused a read for quota: halve the budget for a while.

        The reduced budget lasts ``retry_after`` (at least one window) plus one
        window; further refusals meanwhile halve it again.
        """
        if self._reads_per_window is None or self._reduced_cap is None:
            return
        now = self._clock()
        base = self._reduced_cap if now < self._pressure_until else self._reads_per_window
        self._reduced_cap = max(1, base // 2)
        hold = max(retry_after or 0.0, self._window) + self._window
        self._pressure_until = max(self._pressure_until, now + hold)
        self._wake_dispatcher()

    # Granting.

    async def slot(self, due: float) -> None:
        """Wait until a read due at ``due`` (a clock reading) may start; it takes no time."""
        grant = await self.acquire(due)
        self.release(grant, at=grant.granted_at)

    def release(self, grant: Grant, *, at: float | None = None) -> None:
        """The read of ``grant`` is over (its answer came at ``at``, default now)."""
        if grant.end != math.inf:
            return
        grant.end = self._clock() if at is None else at
        self._wake_dispatcher()

    async def acquire(self, due: float) -> Grant:
        """Wait until a read due at ``due`` may start; :meth:`release` the grant after it."""
        now = self._clock()
        if self._reads_per_window is None:
            if due > now:
                await self._sleep(due - now)
            return self._record(self._clock(), due, now)
        if not self._heap and due <= now and self._free_at(now) <= now + _EPSILON:
            return self._record(now, due, now)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(due, next(self._seq), now, loop.create_future())
        heapq.heappush(self._heap, waiter)
        if self._heap[0] is waiter:
            self._wake_dispatcher()
        if self._dispatcher is None or self._dispatcher.done():
            self._start_dispatcher(loop)
        elif self._dispatcher.get_loop() is not loop:
            # The previous loop went away with its dispatcher: forget its waiters
            # and the grants of reads that will never be released.
            self._heap = [w for w in self._heap if w.future.get_loop() is loop]
            heapq.heapify(self._heap)
            for grant in self._grants:
                if grant.end == math.inf:
                    grant.end = now
            self._start_dispatcher(loop)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Granted, but the read will never start: give the slot back.
                self._refund(waiter.future.result())
            elif self._heap and self._heap[0] is waiter:
                self._wake_dispatcher()
            raise

    def _start_dispatcher(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wakeup = None
        self._dispatcher = loop.create_task(self._dispatch(), name="yandex-art-poll-scheduler")

    def _record(self, at: float, due: float, asked_at: float) -> Grant:
        grant = Grant(at)
        if self._reads_per_window is not None:
            self._grants.append(grant)
        waited = max(0.0, at - max(due, asked_at))
        if waited > _EPSILON and _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug(
                "a read was held %.3f s by the read budget (%s reads per %g s, %d waiting)",
                waited,
                self._reads_per_window,
                self._window,
                len(self._heap),
            )
        self._granted += 1
        self._total_wait += waited
        self._max_wait = max(self._max_wait, waited)
        return grant

    def _refund(self, grant: Grant) -> None:
        try:
            self._grants.remove(grant)
        except ValueError:
            return  # already out of the window
        self._granted -= 1
        self._wake_dispatcher()

    def _free_at(self, now: float) -> float:
        """The earliest time at which one more read fits the budget (inf: after a release)."""
        assert self._reads_per_window is not None
        cutoff = now - self._counted_for
        if self._grants and any(g.end <= cutoff for g in self._grants):
            self._grants = [g for g in self._grants if g.end > cutoff]
        ends = sorted(g.end for g in self._grants)
        free = self._bound(ends, self._reads_per_window)
        if now < self._pressure_until and self._reduced_cap is not None:
            reduced = self._bound(ends, self._reduced_cap)
            free = min(reduced, max(free, self._pressure_until))
        return free

    def _bound(self, ends: list[float], cap: int) -> float:
        # With ``cap`` or more reads still counted, the oldest of the newest
        # ``cap`` has to leave the window first.
        if len(ends) < cap:
            return -math.inf
        return ends[len(ends) - cap] + self._counted_for

    def _wake_dispatcher(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self._heap and self._heap[0].future.done():
                heapq.heappop(self._heap)
            if not self._heap:
                return
            head = self._heap[0]
            now = self._clock()
            at = max(head.due, self._free_at(now))
            if at <= now + _EPSILON:
                heapq.heappop(self._heap)
                head.future.set_result(self._record(now, head.due, head.asked_at))
                continue
            self._wakeup = loop.create_future()
            waits: list[asyncio.Future[Any]] = [self._wakeup]
            timer = None if at == math.inf else loop.create_task(self._sleep_for(at - now))
            if timer is not None:
                waits.append(timer)
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if timer is not None:
                    timer.cancel()
                self._wakeup = None

    async def _sleep_for(self, seconds: float) -> None:
        await self._sleep(seconds)


# --------------------------------------------------------------------------- durations


class DurationStore(Protocol):
    """Where a :class:`DurationModel` keeps durations beyond the process (see ``history``)."""

    def load(self, key: str) -> list[tuple[float, float]]:
        """Durations and uncertainties stored for ``key``, oldest first."""
        ...

    def record(self, key: str, seconds: float, uncertainty: float) -> None:
        """Keep one new observation (best-effort; must not raise)."""
        ...


class DurationModel:
    """Recent operation durations, per key (the model URI).

    A duration runs from the moment an operation was first known to the
    midpoint between its last "running" read and its first "done" read; half
    the gap between those reads is its uncertainty. The last ``keep``
    observations per key are kept.

    Once a key has ``min_precise`` precise observations (uncertainty at most
    ``precise_seconds`` or ``precise_fraction`` of the duration),
    :meth:`history` leaves out coarse ones (from cold backoff or throttled
    reads) that fit within the precise range anyway, but keeps coarse ones
    lying wholly outside it: those are operations that finished earlier or
    later than expected, and dropping them would bias the history.

    With a ``store``, a key's history is seeded from it when the key is first
    used, and every new observation is handed to it.
    """

    def __init__(
        self,
        *,
        keep: int = 32,
        min_precise: int = 2,
        precise_seconds: float = 0.1,
        precise_fraction: float = 0.03,
        max_gap: float = 2.5,
        max_relative_gap: float = 1.0,
        store: DurationStore | None = None,
    ) -> None:
        for name, value in (("keep", keep), ("min_precise", min_precise)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        _check("precise_seconds", precise_seconds)
        _check("precise_fraction", precise_fraction)
        _check("max_gap", max_gap)
        _check("max_relative_gap", max_relative_gap)
        self._keep = keep
        self._min_precise = min_precise
        self._precise_seconds = precise_seconds
        self._precise_fraction = precise_fraction
        self._max_gap = max_gap
        self._max_relative_gap = max_relative_gap
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self._store = store

    def _entries(self, key: str) -> deque[tuple[float, float]]:
        entries = self._history.get(key)
        if entries is None:
            seed = self._store.load(key) if self._store is not None else ()
            entries = self._history[key] = deque(seed, maxlen=self._keep)
        return entries

    def __repr__(self) -> str:
        sizes = {key: len(values) for key, values in self._history.items()}
        return f"{type(self).__name__}({sizes})"

    def observe(self, key: str, seconds: float, *, uncertainty: float = 0.0) -> None:
        """Remember that an operation under ``key`` took ``seconds`` (± ``uncertainty``)."""
        _check("seconds", seconds)
        _check("uncertainty", uncertainty)
        self._entries(key).append((float(seconds), float(uncertainty)))
        if self._store is not None:
            self._store.record(key, float(seconds), float(uncertainty))

    def observe_done(
        self, key: str, *, started_at: float, last_running_at: float, done_at: float
    ) -> float | None:
        """Record an operation seen running at ``last_running_at`` and done at ``done_at``.

        Returns the duration recorded, or None when the two reads are too far
        apart for the midpoint to mean anything (more than ``max_gap`` seconds
        and more than ``max_relative_gap`` of the duration), as happens when
        reads were held back by the budget.
        """
        gap = done_at - last_running_at
        seconds = (last_running_at + done_at) / 2 - started_at
        if gap < 0 or seconds < 0:
            return None
        if gap > max(self._max_gap, self._max_relative_gap * seconds):
            return None
        self.observe(key, seconds, uncertainty=gap / 2)
        return seconds

    def observe_server(
        self,
        key: str,
        *,
        created_at: float,
        modified_at: float,
        earliest: float,
        latest: float,
        slack: float = 0.25,
    ) -> float | None:
        """Record the duration the server's timestamps give, if the client's view allows it.

        ``modified_at - created_at`` (the server's creation and completion
        times) is taken when it lies within ``[earliest, latest]`` (the ages
        at which this client last saw the operation running and first saw it
        done) widened by ``slack`` for latency and clock steps; otherwise
        nothing is recorded and None is returned (a server that does not
        update ``modified_at`` on completion, say). Timestamps without a
        fraction of a second are taken as whole-second precision.
        """
        seconds = modified_at - created_at
        if not (math.isfinite(seconds) and earliest - slack <= seconds <= latest + slack):
            return None
        coarse = float(created_at).is_integer() and float(modified_at).is_integer()
        self.observe(key, max(seconds, 0.0), uncertainty=1.0 if coarse else 0.0)
        return seconds

    def history(self, key: str) -> tuple[float, ...]:
        """The durations the plan should use for ``key``, oldest first."""
        return tuple(seconds for seconds, _ in self._kept(key))

    def uncertainty(self, key: str) -> float:
        """The largest uncertainty among the durations :meth:`history` returns (0 if none)."""
        return max((spread for _, spread in self._kept(key)), default=0.0)

    def _kept(self, key: str) -> list[tuple[float, float]]:
        entries = list(self._entries(key))
        precise = [seconds for seconds, spread in entries if self._precise(seconds, spread)]
        if len(precise) < self._min_precise:
            return entries
        low, high = min(precise), max(precise)
        return [
            (seconds, spread)
            for seconds, spread in entries
            if self._precise(seconds, spread) or seconds + spread < low or seconds - spread > high
        ]

    def _precise(self, seconds: float, uncertainty: float) -> bool:
        return uncertainty <= max(self._precise_seconds, self._precise_fraction * seconds)

    def quantile(self, key: str, q: float) -> float | None:
        """The ``q``-quantile of :meth:`history` for ``key``, or None without history."""
        values = self.history(key)
        return quantile(values, q) if values else None


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PollPolicy:
    """How an operation's reads are spread over its life.

    Without history: the first read ``initial_interval`` after the start, then
    intervals growing by ``multiplier`` up to ``max_interval``.

    With history (durations of recent operations of the same model): a few
    sparse reads (at ``lo * (1 - 2**-k)`` for ``k = 1..sparse_reads``: lo/2,
    3lo/4, ...) in case the model got faster, then reads every ``step``
    seconds across the likely window ``[lo, hi]``: ``lo = lead * p10`` and
    ``hi = p90 * (1 + tail)``, widened to ``p50 * prior_spread / n`` on each
    side of ``[p10, p90]`` while there are only ``n`` observations (a spread
    seen in two or three runs says little). ``step`` spreads ``dense_reads``
    reads over that window, kept within ``[dense_interval,
    max_dense_interval]``: as the operation is done on average halfway
    through, that costs about ``dense_reads / 2`` reads for a lag of about
    ``(hi - lo) / (2 * dense_reads)``. Past the window the intervals grow
    from ``step`` by ``late_growth`` seconds per second overdue (gentler than
    the cold backoff: the operation is late, not unknown).

    When the history is tight (at least ``min_tight`` observations, each
    known to within ``tight_spread`` (``uncertainty``), and p90 - p10 at most
    ``tight_spread`` seconds: a model whose operations take the same time,
    learned from the server's timestamps), the window shrinks to
    one read ``tight_offset`` after the expected completion (p90), preceded by
    the sparse reads; should that read still find the operation running,
    intervals grow from ``tight_interval``.

    Sparse reads earlier than ``sparse_min_age`` are skipped when the
    durations are precise (``uncertainty`` within ``tight_spread``, as the
    server's timestamps give): such a read could save at most that much lag
    and would cost one read on every short operation. Durations learned from
    the gap between reads keep them, as they bound that gap from below.

    Every interval is spread by ``±jitter`` (a fraction) so that operations
    started together do not read together. ``exhausted_delay`` is how long to
    hold a read back after a quota refusal that came without a retry-after hint.
    """

    initial_interval: float = 0.15
    multiplier: float = 1.6
    max_interval: float = 2.0
    jitter: float = 0.15
    dense_interval: float = 0.15
    max_dense_interval: float = 2.0
    dense_reads: int = 8
    prior_spread: float = 0.1
    late_growth: float = 0.25
    lead: float = 0.97
    tail: float = 0.03
    sparse_reads: int = 1
    sparse_min_age: float = 2.0
    min_tight: int = 2
    tight_spread: float = 0.02
    tight_offset: float = 0.001
    tight_interval: float = 0.01
    exhausted_delay: float = 1.0

    def __post_init__(self) -> None:
        _check("initial_interval", self.initial_interval, strict=True)
        _check("multiplier", self.multiplier, minimum=1.0)
        _check("max_interval", self.max_interval, minimum=self.initial_interval)
        _check("jitter", self.jitter)
        if self.jitter >= 1:
            raise ValueError(f"jitter must be below 1, got {self.jitter!r}")
        _check("dense_interval", self.dense_interval, strict=True)
        _check("max_dense_interval", self.max_dense_interval, minimum=self.dense_interval)
        for name in ("dense_reads", "sparse_reads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if self.dense_reads < 1:
            raise ValueError("dense_reads must be at least 1")
        _check("lead", self.lead, strict=True)
        if self.lead > 1:
            raise ValueError(f"lead must be at most 1, got {self.lead!r}")
        _check("tail", self.tail)
        _check("prior_spread", self.prior_spread)
        _check("late_growth", self.late_growth)
        _check("sparse_min_age", self.sparse_min_age)
        if isinstance(self.min_tight, bool) or not isinstance(self.min_tight, int):
            raise ValueError(f"min_tight must be an int, got {self.min_tight!r}")
        _check("tight_spread", self.tight_spread)
        _check("tight_offset", self.tight_offset)
        _check("tight_interval", self.tight_interval, strict=True)
        _check("exhausted_delay", self.exhausted_delay)

    def window(self, history: Sequence[float]) -> tuple[float, float, float]:
        """``(lo, hi, step)``: the likely completion window and the read spacing in it."""
        p10, p90 = quantile(history, 0.1), quantile(history, 0.9)
        margin = quantile(history, 0.5) * self.prior_spread / len(history)
        lo = max(0.0, min(self.lead * p10, p10 - margin))
        hi = max(p90 * (1 + self.tail), p90 + margin, lo + self.dense_interval)
        step = (hi - lo) / self.dense_reads
        return lo, hi, min(max(step, self.dense_interval), self.max_dense_interval)

    def next_read_age(
        self,
        *,
        age: float,
        last_read_age: float | None,
        history: Sequence[float] = (),
        uncertainty: float = 0.0,
        rng: random.Random,
    ) -> float:
        """The age (seconds since the start) at which to read next; never below ``age``.

        ``last_read_age`` is the age of the latest read (None if there was none).
        """
        ref = last_read_age if last_read_age is not None else 0.0
        if not history:
            return max(age, ref + self._grow(self.initial_interval, ref, rng))
        p10, p90 = quantile(history, 0.1), quantile(history, 0.9)
        if (
            len(history) >= self.min_tight
            and p90 - p10 <= self.tight_spread
            and uncertainty <= self.tight_spread
        ):
            return max(age, self._tight(p90 + self.tight_offset, ref, rng))
        lo, hi, step = self.window(history)
        if ref < lo:
            point = self._sparse_point(lo, ref, precise=uncertainty <= self.tight_spread)
            if point is not None:
                return max(age, point * self._spread(rng))
            # The dense window opens at lo, up to one jittered step early.
            start = lo - step * rng.uniform(0.0, self.jitter)
            if start >= ref + self.dense_interval:
                return max(age, start)
        if ref < hi:
            return max(age, ref + step * self._spread(rng))
        late = min(step + (ref - hi) * self.late_growth, self.max_interval)
        return max(age, ref + late * self._spread(rng))

    def _tight(self, target: float, ref: float, rng: random.Random) -> float:
        # A read at ``target`` comes back as an age a rounding error below it.
        if ref < target - _EPSILON_AGE:
            point = self._sparse_point(target, ref, precise=True)
            if point is not None:
                return point * self._spread(rng)
            return target  # not jittered: its timing is the point
        return ref + self._grow(self.tight_interval, ref - target, rng)

    def _sparse_point(self, end: float, ref: float, *, precise: bool) -> float | None:
        """The first sparse point before ``end`` still due after the read at ``ref``.

        A point is due when it is worth a read (see the class docstring) and
        no read may already have covered it (jitter included). Unjittered.
        """
        for k in range(1, self.sparse_reads + 1):
            point = end * (1 - 0.5**k)
            worth = not precise or point >= self.sparse_min_age
            if worth and point * (1 - self.jitter) >= ref + self.dense_interval:
                return point
        return None

    def _grow(self, base: float, elapsed: float, rng: random.Random) -> float:
        # Geometric growth: after t seconds of intervals base, base*m, ... the
        # next one is base + t*(m-1).
        interval = min(base + elapsed * (self.multiplier - 1), self.max_interval)
        return interval * self._spread(rng)

    def _spread(self, rng: random.Random) -> float:
        return rng.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0

"""When to read an operation: the poll plan, from learned durations or none.

docs/performance.md ("Polling") explains the numbers; bench/poll_plan.py measures them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile of ``values`` (linear interpolation between order statistics)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * min(max(q, 0.0), 1.0)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class PollPolicy:
    """When to read an operation; docs/performance.md ("Polling") explains the numbers."""

    initial_interval: float = 0.15
    multiplier: float = 1.6
    max_interval: float = 2.0
    jitter: float = 0.15
    dense_interval: float = 0.15
    max_dense_interval: float = 2.0
    dense_reads: int = 8
    # The dense window's reads are never closer than this, nor than this fraction of the
    # median duration: a few close durations would otherwise make a narrow window read
    # every 0.15 s, buying milliseconds of lag with reads (docs/performance.md).
    min_dense_step: float = 0.25
    dense_step_fraction: float = 0.035
    prior_spread: float = 0.1
    late_growth: float = 0.25
    lead: float = 0.97
    tail: float = 0.03
    sparse_reads: int = 0
    sparse_min_age: float = 2.0
    min_tight: int = 2
    tight_spread: float = 0.02
    tight_offset: float = 0.001
    tight_interval: float = 0.01
    exhausted_delay: float = 1.0
    lag_fraction: float = 2.5
    lag_constant: float = 2.0

    def window(self, history: Sequence[float]) -> tuple[float, float, float]:
        """``(lo, hi, step)``: the likely completion window and the read spacing in it."""
        p10, p90 = quantile(history, 0.1), quantile(history, 0.9)
        p50 = quantile(history, 0.5)
        margin = p50 * self.prior_spread / len(history)
        lo = max(0.0, min(self.lead * p10, p10 - margin))
        hi = max(p90 * (1 + self.tail), p90 + margin, lo + self.dense_interval)
        floor = max(self.dense_interval, self.min_dense_step, self.dense_step_fraction * p50)
        step = max((hi - lo) / self.dense_reads, floor)
        return lo, hi, min(step, self.max_dense_interval)

    def next_read_age(
        self,
        *,
        age: float,
        last_read_age: float | None,
        history: Sequence[float] = (),
        uncertainty: float = 0.0,
        rng: random.Random,
    ) -> float:
        """The age (seconds since the start) at which to read next; never below ``age``."""
        ref = last_read_age if last_read_age is not None else 0.0
        if not history:
            return max(age, ref + self._grow(self.initial_interval, ref, rng))
        # Learned durations guide the reads, never loosen the bound on lag: whatever the
        # history says, the next read comes within lag_fraction of the age already reached
        # (plus lag_constant), so a result is noticed at most that late relative to the time
        # the operation actually took. A slow day in the cache cannot make results late.
        growth = self.lag_fraction * ref if ref > 0 else 0.0  # inf * 0 would be NaN
        bound = ref + max(self.lag_constant, growth)
        return max(age, min(self._planned(age, ref, history, uncertainty, rng), bound))

    def _planned(
        self,
        age: float,
        ref: float,
        history: Sequence[float],
        uncertainty: float,
        rng: random.Random,
    ) -> float:
        """The read the learned durations suggest (before the lag bound)."""
        p10, p90 = quantile(history, 0.1), quantile(history, 0.9)
        tight = p90 - p10 <= self.tight_spread and uncertainty <= self.tight_spread
        if tight and len(history) >= self.min_tight:
            target = p90 + self.tight_offset
            if ref >= target - 1e-6:  # ages are clock differences: a read at target is a bit less
                return max(age, ref + self._grow(self.tight_interval, ref - target, rng))
            point = self._sparse_point(target, ref, precise=True)
            # The read at target is not jittered: its timing is the point.
            return max(age, target if point is None else point * self._spread(rng))
        lo, hi, step = self.window(history)
        if ref < lo:
            point = self._sparse_point(lo, ref, precise=uncertainty <= self.tight_spread)
            if point is not None:
                return max(age, point * self._spread(rng))
            # The first dense read comes one (jittered) step into the window: a read at lo
            # itself would find almost every operation still running, and the few that
            # finished before lo wait at most a step longer.
            start = lo + step * self._spread(rng)
            if start >= ref + self.dense_interval:
                return max(age, start)
        if ref < hi:
            return max(age, ref + step * self._spread(rng))
        # Overdue: the operation is late, not unknown; intervals grow from the step.
        late = min(step + (ref - hi) * self.late_growth, self.max_interval)
        return max(age, ref + late * self._spread(rng))

    def _sparse_point(self, end: float, ref: float, *, precise: bool) -> float | None:
        # The first of end/2, 3end/4, ... after ``ref``; precise durations skip early ones.
        for k in range(1, self.sparse_reads + 1):
            point = end * (1 - 0.5**k)
            worth = not precise or point >= self.sparse_min_age
            if worth and point * (1 - self.jitter) >= ref + self.dense_interval:
                return point
        return None

    def _grow(self, base: float, elapsed: float, rng: random.Random) -> float:
        # Geometric growth: after t s of intervals base, base*m, ... the next is base + t(m-1).
        interval = min(base + elapsed * (self.multiplier - 1), self.max_interval)
        return interval * self._spread(rng)

    def _spread(self, rng: random.Random) -> float:
        return rng.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0

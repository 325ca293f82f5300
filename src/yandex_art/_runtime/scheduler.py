"""When to read unfinished operations: the read budget, learned durations and poll policy."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import heapq
import itertools
import json
import math
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import logs

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


def check_number(name: str, value: float, *, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (value > 0 if strict else value >= 0):  # also rejects NaN
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value!r}")


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile of ``values`` (linear interpolation between order statistics)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * min(max(q, 0.0), 1.0)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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


KEEP = 32  # durations kept per key, in memory and on disk
MAX_KEYS = 64  # (scope, model) keys in the cache file
MAX_AGE = 7 * 24 * 3600.0  # older entries are dropped
# Longer than any plausible generation (seconds to minutes under load): such a "duration" in
# the cache is poison or a clock jump, and is ignored when read.
MAX_PLAUSIBLE = 900.0
Entry = tuple[float, float, float]  # seconds, uncertainty, wall-clock time seen
_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple[str, Path | None], DurationModel] = {}  # see shared_durations


class DurationModel:
    """Recent durations (± uncertainty) per model URI, seeded from and merged into ``cache``."""

    def __init__(self, *, cache: Path | None = None, scope: str = "") -> None:
        self.cache = cache
        self._scope = scope
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self._on_disk: dict[str, list[Entry]] | None = None  # read once, when first needed
        self._pending: dict[str, list[Entry]] = {}
        self._last_write = -math.inf

    def _entries(self, key: str) -> deque[tuple[float, float]]:
        if key not in self._history:
            with self._lock:
                if self._on_disk is None:
                    self._on_disk = {} if self.cache is None else _read(self.cache)
                seed = self._on_disk.get(hashed_key(self._scope, key), [])
            self._history[key] = deque(((s, u) for s, u, _ in seed), maxlen=KEEP)
        return self._history[key]

    def observe(self, key: str, seconds: float, *, uncertainty: float = 0.0) -> None:
        if not 0 <= seconds <= MAX_PLAUSIBLE:
            return
        self._entries(key).append((seconds, uncertainty))
        if self.cache is not None:
            with self._lock:
                entry = (seconds, uncertainty, time.time())
                self._pending.setdefault(hashed_key(self._scope, key), []).append(entry)
                due = time.monotonic() - self._last_write >= 2.0  # else it waits (or for the exit)
            if due:
                self.flush()

    def flush(self) -> bool:
        """Merge new observations into the cache file; True unless that failed."""
        with self._lock:
            if self.cache is None or not self._pending:
                return True
            pending, self._pending = self._pending, {}
            self._last_write = time.monotonic()
            try:
                _merge_into(self.cache, pending)
            except OSError as exc:
                logs.get("history").debug("duration cache not written (%s)", type(exc).__name__)
                return False  # dropped: a read-only home stays read-only
            return True

    def learn(
        self,
        key: str,
        *,
        running_at: float,
        done_at: float,
        created_at: float | None = None,
        modified_at: float | None = None,
    ) -> float | None:
        """Learn from the ages of the last running and first done reads; returns the duration."""
        # Server timestamps that fit the reads (± 0.25 s) are precise; whole seconds count ± 1 s.
        if created_at is not None and modified_at is not None:
            seconds = modified_at - created_at
            if math.isfinite(seconds) and running_at - 0.25 <= seconds <= done_at + 0.25:
                coarse = float(created_at).is_integer() and float(modified_at).is_integer()
                self.observe(key, max(seconds, 0.0), uncertainty=1.0 if coarse else 0.0)
                return seconds
        # Else the midpoint of the reads, unless the budget held them too far apart.
        gap, seconds = done_at - running_at, (running_at + done_at) / 2
        if gap < 0 or seconds < 0 or gap > max(2.5, seconds):
            return None
        self.observe(key, seconds, uncertainty=gap / 2)
        return seconds

    def history(self, key: str) -> tuple[float, ...]:
        """The durations the plan should use for ``key``, oldest first."""
        return tuple(seconds for seconds, _ in self._kept(key))

    def uncertainty(self, key: str) -> float:
        return max((spread for _, spread in self._kept(key)), default=0.0)

    def _kept(self, key: str) -> list[tuple[float, float]]:
        # Coarse durations within the range of 2+ precise ones go; those outside stay (no bias).
        entries = list(self._entries(key))
        precise = [(s, u) for s, u in entries if u <= max(0.1, 0.03 * s)]  # within 0.1 s or 3 %
        if len(precise) < 2:
            return entries
        (low, _), (high, _) = min(precise), max(precise)
        return [(s, u) for s, u in entries if (s, u) in precise or s + u < low or s - u > high]


def hashed_key(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()[:24]


def _read(path: Path) -> dict[str, list[Entry]]:
    """The file's valid entries of the last ``MAX_AGE`` per key, oldest first; {} if not ours."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.loads(file.read(256 * 1024 + 1))  # over 256 KiB: cut short, not JSON
        now, out = time.time(), {}
        for name, raw in data["keys"].items() if data["version"] == 1 else ():
            entries = [(float(s), float(u), float(t)) for s, u, t in raw]
            entries = [e for e in entries if now - MAX_AGE <= e[2] <= now + 86400]
            if valid := [e for e in entries if 0 <= e[0] <= MAX_PLAUSIBLE and 0 <= e[1] < 86400]:
                out[str(name)] = sorted(valid, key=lambda e: e[2])[-KEEP:]
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _merge_into(path: Path, pending: dict[str, list[Entry]]) -> None:
    """Merge under a lock, then write and rename: no reader sees half a file, no write is lost."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:  # closing it unlocks
        if sys.platform != "win32":  # Windows: merge-then-replace without a lock
            import fcntl

            for _ in range(100):  # half a second at most
                with contextlib.suppress(BlockingIOError):
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                time.sleep(0.005)
            else:
                raise OSError("the duration cache is locked")
        keys = _read(path)
        for key, entries in pending.items():  # stale ones go on the next read
            keys[key] = sorted({*keys.get(key, ()), *entries}, key=lambda e: e[2])[-KEEP:]
        newest = sorted(keys, key=lambda k: keys[k][-1][2])[-MAX_KEYS:]
        text = json.dumps({"version": 1, "keys": {k: keys[k] for k in sorted(newest)}})
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise


@atexit.register
def _flush_all() -> None:
    for model in list(_SHARED.values()):
        model.flush()


def shared_durations(scope: str, *, persist: bool) -> DurationModel:
    """The duration model of every client of ``scope`` (its endpoints), cached if ``persist``."""
    from .quota import cache_root

    off = os.environ.get("YANDEX_ART_CACHE", "").strip().lower() in ("0", "false", "no", "off")
    root = cache_root()
    cache = root / "yandex-art" / "durations.json" if root and persist and not off else None
    with _SHARED_LOCK:
        if (model := _SHARED.get((scope, cache))) is None:
            model = _SHARED[scope, cache] = DurationModel(cache=cache, scope=scope)
        return model


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
    lag_fraction: float = 1.5
    lag_constant: float = 2.0

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
            # The dense window opens at lo, up to one jittered step early.
            start = lo - step * rng.uniform(0.0, self.jitter)
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

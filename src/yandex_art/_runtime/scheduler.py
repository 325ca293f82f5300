"""When to read unfinished operations: the adaptive polling parts in one place.

:class:`PollScheduler` (one per client) keeps reads within the service's quota
of 50 ``OperationService.Get`` per second; :class:`DurationModel` (shared per
endpoints, cached on disk) learns how long each model takes; :class:`PollPolicy`
turns that and an operation's age into the time of its next read.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import heapq
import itertools
import json
import logging
import math
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import logs

__all__ = ["DurationModel", "PollPolicy", "PollScheduler", "shared_durations"]

_LOG = logs.get("quota")
# Slack for float rounding when comparing a wake-up time with the clock.
_EPSILON = 1e-9
# Ages are differences of clock readings: (start + age) - start != age.
_EPSILON_AGE = 1e-6
KEEP = 32  # durations kept per key, in memory and on disk


def check_number(name: str, value: float, *, strict: bool = False) -> None:
    """Reject what is not a number, NaN, and values below 0 (or at 0 when ``strict``)."""
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


# --------------------------------------------------------------------------- read budget


@dataclass(order=True)
class _Waiter:
    due: float
    seq: int
    asked_at: float = field(compare=False)
    future: asyncio.Future[Grant] = field(compare=False)


@dataclass(eq=False, slots=True)
class Grant:
    """Permission for one read; it counts until a window after ``end`` (inf: in flight)."""

    granted_at: float
    end: float = math.inf


class PollScheduler:
    """Client-wide budget of operation reads.

    A read may start once its ``due`` time has come and fewer than
    ``max_reads_per_second * window`` reads could still be counted by the
    server. A read counts from its grant until ``window + guard`` (clock
    granularity) after its answer (:meth:`release`): the server counts it on
    arrival, somewhere in between, so however long a read is delayed on its
    way (a busy event loop, the network), the server never sees more than its
    quota. Waiting reads are granted by due time; ``max_reads_per_second=None``
    (or ``inf``) turns the limit off. It serves one event loop at a time
    (moving on after that one closed is fine).
    """

    def __init__(
        self,
        *,
        max_reads_per_second: float | None = 50.0,
        clock: Callable[[], float] = time.monotonic,
        window: float = 1.0,
        guard: float = 0.02,
    ) -> None:
        self.reads_per_window: int | None = None
        if max_reads_per_second is not None and max_reads_per_second != math.inf:
            check_number("max_reads_per_second", max_reads_per_second, strict=True)
            self.reads_per_window = max(1, math.floor(max_reads_per_second * window))
        self._rate = max_reads_per_second
        self._clock = clock
        self._window = window
        self._guard = guard
        self._grants: list[Grant] = []
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._pressure_until = -math.inf
        self._reduced_cap = self.reads_per_window or 0
        # For tests and benchmarks: slots handed out, and the seconds granted
        # reads waited past their due time (summed, and the longest).
        self.granted = 0
        self.total_wait = 0.0
        self.max_wait = 0.0

    def __repr__(self) -> str:
        cap = self.reads_per_window
        limit = "unlimited" if cap is None else f"{cap}/{self._window:g}s"
        return (
            f"{type(self).__name__}({limit}, granted={self.granted}, "
            f"waiting={self.waiting}, total_wait={self.total_wait:.3f}s)"
        )

    def fresh(self) -> PollScheduler:
        """The same budget with nothing granted or waiting (a forked child starts here)."""
        return PollScheduler(
            max_reads_per_second=self._rate,
            clock=self._clock,
            window=self._window,
            guard=self._guard,
        )

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._heap if not waiter.future.done())

    @property
    def in_flight(self) -> int:
        """Reads granted and not yet released."""
        return sum(1 for grant in self._grants if grant.end == math.inf)

    def note_exhausted(self, retry_after: float | None = None) -> None:
        """The server refused a read for quota: halve the budget (again, if still halved)
        for ``retry_after`` (at least one window) plus one window."""
        if self.reads_per_window is None:
            return
        now = self._clock()
        base = self._reduced_cap if now < self._pressure_until else self.reads_per_window
        self._reduced_cap = max(1, base // 2)
        hold = max(retry_after or 0.0, self._window) + self._window
        self._pressure_until = max(self._pressure_until, now + hold)
        self._wake_dispatcher()

    def release(self, grant: Grant, *, at: float | None = None) -> None:
        """The read of ``grant`` is over (its answer came at ``at``, default now)."""
        if grant.end == math.inf:
            grant.end = self._clock() if at is None else at
            self._wake_dispatcher()

    async def acquire(self, due: float) -> Grant:
        """Wait until a read due at ``due`` (a clock reading) may start; then :meth:`release`."""
        now = self._clock()
        if self.reads_per_window is None:
            if due > now:
                await asyncio.sleep(due - now)
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
                grant.end = min(grant.end, now)
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
        if self.reads_per_window is not None:
            self._grants.append(grant)
        waited = max(0.0, at - max(due, asked_at))
        if waited > _EPSILON and _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug(
                "a read was held %.3f s by the read budget (%s reads per %g s, %d waiting)",
                waited,
                self.reads_per_window,
                self._window,
                len(self._heap),
            )
        self.granted += 1
        self.total_wait += waited
        self.max_wait = max(self.max_wait, waited)
        return grant

    def _refund(self, grant: Grant) -> None:
        if grant in self._grants:  # else already out of the window
            self._grants.remove(grant)
            self.granted -= 1
            self._wake_dispatcher()

    def _free_at(self, now: float) -> float:
        """The earliest time at which one more read fits the budget (inf: after a release)."""
        assert self.reads_per_window is not None
        counted = self._window + self._guard
        self._grants = [g for g in self._grants if g.end > now - counted]
        ends = sorted(g.end for g in self._grants)

        def free(cap: int) -> float:
            # With ``cap`` reads or more still counted, the oldest of the newest
            # ``cap`` has to leave the window first.
            return ends[-cap] + counted if len(ends) >= cap else -math.inf

        if now < self._pressure_until:
            return min(
                free(self._reduced_cap), max(free(self.reads_per_window), self._pressure_until)
            )
        return free(self.reads_per_window)

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
            timer = None if at == math.inf else loop.call_later(at - now, self._wake_dispatcher)
            try:
                await self._wakeup
            finally:
                if timer is not None:
                    timer.cancel()
                self._wakeup = None


# --------------------------------------------------------------------------- learned durations

MAX_KEYS = 64  # (scope, model) keys in the cache file; KEEP entries each
MAX_AGE = 7 * 24 * 3600.0  # older entries are dropped
_WRITE_INTERVAL = 2.0  # after one write, the next waits this long (or for the exit)
_LOCK_WAIT = 0.5
_MAX_FILE_BYTES = 256 * 1024
Entry = tuple[float, float, float]  # seconds, uncertainty, wall-clock time seen


class DurationModel:
    """Recent operation durations (and their uncertainty) per key, the model URI.

    Once a key has ``min_precise`` precise observations, :meth:`history`
    leaves out coarse ones (from cold backoff or throttled reads) within the
    precise range, but keeps those wholly outside it (dropping them would
    bias it). With a ``cache`` file, a key's history starts from the file
    (read once, when first needed) and new observations are merged into it
    under a hash of ``scope`` and the key: only durations and when they were
    seen. Writes merge with the file under an advisory lock, through a
    temporary file and ``os.replace``, so readers never see half a file and
    concurrent writers lose nothing; any error (a read-only or missing home,
    a corrupt file, a lock held too long) leaves the cache out.
    """

    def __init__(
        self, *, keep: int = KEEP, min_precise: int = 2, cache: Path | None = None, scope: str = ""
    ) -> None:
        self._keep = keep
        self._min_precise = min_precise
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self.cache = cache
        self._scope = scope
        self._lock = threading.Lock()
        self._on_disk: dict[str, list[Entry]] | None = None
        self._pending: dict[str, list[Entry]] = {}
        self._last_write = -math.inf

    def __repr__(self) -> str:
        sizes = {key: len(values) for key, values in self._history.items()}
        return f"{type(self).__name__}({sizes})"

    def _entries(self, key: str) -> deque[tuple[float, float]]:
        entries = self._history.get(key)
        if entries is None:
            seed: list[Entry] = []
            if self.cache is not None:
                with self._lock:
                    if self._on_disk is None:
                        self._on_disk = _read(self.cache)
                    seed = self._on_disk.get(hashed_key(self._scope, key), [])
            seeded = ((seconds, spread) for seconds, spread, _ in seed)
            entries = self._history[key] = deque(seeded, maxlen=self._keep)
        return entries

    def observe(self, key: str, seconds: float, *, uncertainty: float = 0.0) -> None:
        """Remember that an operation under ``key`` took ``seconds`` (± ``uncertainty``)."""
        self._entries(key).append((seconds, uncertainty))
        if self.cache is not None:
            with self._lock:
                entry = (seconds, uncertainty, time.time())
                self._pending.setdefault(hashed_key(self._scope, key), []).append(entry)
                due = time.monotonic() - self._last_write >= _WRITE_INTERVAL
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
        """Learn from an operation last seen running and first seen done at these ages.

        The server's timestamps, when they fit between those ages (± 0.25 s
        for latency and clock steps), are far more precise than the reads
        (whole seconds count as ± 1 s); otherwise the duration is the midpoint
        of the reads, ± half their gap, unless they are too far apart (over
        2.5 s and over the duration: reads held back by the budget). Returns
        the duration learned, or None.
        """
        if created_at is not None and modified_at is not None:
            seconds = modified_at - created_at
            if math.isfinite(seconds) and running_at - 0.25 <= seconds <= done_at + 0.25:
                coarse = float(created_at).is_integer() and float(modified_at).is_integer()
                self.observe(key, max(seconds, 0.0), uncertainty=1.0 if coarse else 0.0)
                return seconds
        gap, seconds = done_at - running_at, (running_at + done_at) / 2
        if gap < 0 or seconds < 0 or gap > max(2.5, seconds):
            return None
        self.observe(key, seconds, uncertainty=gap / 2)
        return seconds

    def history(self, key: str) -> tuple[float, ...]:
        """The durations the plan should use for ``key``, oldest first."""
        return tuple(seconds for seconds, _ in self._kept(key))

    def uncertainty(self, key: str) -> float:
        """The largest uncertainty among the durations :meth:`history` returns (0 if none)."""
        return max((spread for _, spread in self._kept(key)), default=0.0)

    def _kept(self, key: str) -> list[tuple[float, float]]:
        entries = list(self._entries(key))
        precise = [seconds for seconds, spread in entries if _precise(seconds, spread)]
        if len(precise) < self._min_precise:
            return entries
        low, high = min(precise), max(precise)
        return [
            (seconds, spread)
            for seconds, spread in entries
            if _precise(seconds, spread) or seconds + spread < low or seconds - spread > high
        ]


def _precise(seconds: float, uncertainty: float) -> bool:
    return uncertainty <= max(0.1, 0.03 * seconds)  # within 0.1 s or 3 %


def cache_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``YANDEX_ART_CACHE`` says off (``0``, ``false``, ``no``, ``off``)."""
    value = (os.environ if env is None else env).get("YANDEX_ART_CACHE", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """``<user cache dir>/yandex-art`` (XDG, macOS, Windows), or None without a home."""
    env = os.environ if env is None else env
    xdg, local = env.get("XDG_CACHE_HOME", "").strip(), env.get("LOCALAPPDATA", "").strip()
    try:
        if xdg:
            root = Path(xdg)
        elif sys.platform == "win32":
            root = Path(local) if local else Path.home() / "AppData" / "Local"
        elif sys.platform == "darwin":
            root = Path.home() / "Library" / "Caches"
        else:
            root = Path.home() / ".cache"
    except (RuntimeError, KeyError, OSError):  # no home directory
        return None
    return root / "yandex-art"


def hashed_key(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()[:24]


def _read(path: Path) -> dict[str, list[Entry]]:
    """The file's valid entries of the last ``MAX_AGE`` per key, oldest first; {} if not ours."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.loads(file.read(_MAX_FILE_BYTES + 1))  # cut short: not JSON
        now, out = time.time(), {}
        for name, raw in data["keys"].items() if data["version"] == 1 else ():
            entries = [(float(s), float(u), float(t)) for s, u, t in raw]
            valid = [
                (s, u, t)
                for s, u, t in entries
                if 0 <= s < 86400 and 0 <= u < 86400 and now - MAX_AGE <= t <= now + 86400
            ]
            if valid:
                out[str(name)] = sorted(valid, key=lambda e: e[2])[-KEEP:]
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _merge_into(path: Path, pending: dict[str, list[Entry]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path.with_name(path.name + ".lock")):
        now = time.time()
        keys = _read(path)
        for key, entries in pending.items():
            fresh = [e for e in set(keys.get(key, ())) | set(entries) if e[2] >= now - MAX_AGE]
            keys[key] = sorted(fresh, key=lambda e: e[2])[-KEEP:]
        newest = sorted(keys, key=lambda k: keys[k][-1][2], reverse=True)[:MAX_KEYS]
        text = json.dumps(
            {"version": 1, "keys": {k: [list(e) for e in keys[k]] for k in sorted(newest)}},
            separators=(",", ":"),
        )
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory ``flock`` (none on Windows); OSError when held too long."""
    try:
        import fcntl
    except ImportError:  # Windows: merge-then-replace without a lock
        yield
        return
    with open(path, "a") as file:  # closing it releases the lock
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OSError("the duration cache is locked") from None
                time.sleep(0.005)
        yield


_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple[str, Path | None], DurationModel] = {}


@atexit.register
def _flush_all() -> None:
    for model in list(_SHARED.values()):
        model.flush()


def shared_durations(
    scope: str, *, persist: bool, env: Mapping[str, str] | None = None
) -> DurationModel:
    """The duration model of every client of ``scope`` (its endpoints) in the process,
    so a web app making a client per request learns once; with ``persist`` (and
    ``YANDEX_ART_CACHE`` not off) it is kept in ``<cache_dir()>/durations.json``."""
    directory = cache_dir(env) if persist and cache_enabled(env) else None
    with _SHARED_LOCK:
        model = _SHARED.get((scope, directory))
        if model is None:
            cache = None if directory is None else directory / "durations.json"
            model = _SHARED[scope, directory] = DurationModel(cache=cache, scope=scope)
        return model


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class PollPolicy:
    """How an operation's reads are spread over its life.

    Without history: the first read ``initial_interval`` after the start, then
    intervals growing by ``multiplier`` up to ``max_interval``.

    With history (recent durations of the same model): ``sparse_reads`` reads
    at lo/2, 3lo/4, ... in case the model got faster, then reads every
    ``step`` across the likely window ``[lo, hi]`` (``lead * p10`` to ``p90 *
    (1 + tail)``, widened to ``p50 * prior_spread / n`` around ``[p10, p90]``
    while there are only ``n`` durations). ``step`` spreads ``dense_reads``
    reads over the window, within ``[dense_interval, max_dense_interval]``:
    about ``dense_reads / 2`` reads for a lag of ``(hi - lo) / (2 *
    dense_reads)``. Past it, intervals grow by ``late_growth`` s per second
    overdue (the operation is late, not unknown).

    A tight history (``min_tight`` durations or more, known and agreeing
    within ``tight_spread``: the server's timestamps of a steady model) gets
    one read ``tight_offset`` after p90, then intervals growing from
    ``tight_interval``. Precise durations skip sparse reads before
    ``sparse_min_age``: they would save little lag at the cost of a read on
    every short operation; durations from the gap between reads keep them,
    as they bound that gap from below.

    Every interval is spread by ``±jitter`` so that operations started
    together do not read together. ``exhausted_delay`` holds a read back after
    a quota refusal without a retry-after hint.
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
        # The first (unjittered) sparse point before ``end`` worth a read and
        # not covered by the read at ``ref``, jitter included.
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

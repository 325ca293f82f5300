"""Learned generation durations per model, kept in memory and in a small cache file.

The poll policy (poll_policy.py) reads them to plan when to read an operation; every
client of one set of endpoints shares one model (``shared_durations``), and the cache
file carries them to the next process.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import math
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path

from . import logs

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

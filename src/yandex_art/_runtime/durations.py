"""Learned generation durations per model, kept in memory and in a small cache file.

The poll policy (poll_policy.py) reads them to plan when to read an operation; every
client of one set of endpoints shares one model (``shared_durations``), and the cache
file carries them to the next process.

The file is read on a worker thread and written there too when the caller is an event
loop's thread (the client runs its loop on one): a slow or hung file system, or a FIFO
put in the file's place, must never stall the loop and with it every ``poll_timeout``.
What it holds is not trusted: regular files only (opened non-blocking, checked before
reading), at most 256 KiB, a bounded nesting depth, plausible durations only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import json
import math
import os
import stat
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
MAX_BYTES = 256 * 1024  # a bigger file is not ours
_LOOP_WAIT = 0.1  # seconds an event loop's thread waits for the first read of the file
_SYNC_WAIT = 5.0  # and any other thread
_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple[str, Path | None], DurationModel] = {}  # see shared_durations


def _on_loop_thread() -> bool:
    return asyncio._get_running_loop() is not None


class DurationModel:
    """Recent durations (± uncertainty) per model URI, seeded from and merged into ``cache``."""

    def __init__(self, *, cache: Path | None = None, scope: str = "") -> None:
        self.cache = cache
        self._scope = scope
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self._seeded: set[str] = set()  # keys whose history holds the file's entries
        self._lock = threading.Lock()  # memory only: never held during file I/O
        self._io_lock = threading.Lock()  # one merge into the file at a time
        self._on_disk: dict[str, list[Entry]] | None = None  # read once, when first needed
        self._loaded: threading.Event | None = None  # set when the read is over
        self._pending: dict[str, list[Entry]] = {}
        self._last_write = -math.inf
        self._flushing = False  # a worker is writing
        self._early: set[Entry] = set()  # observed before the file was read: not seeded twice

    def _entries(self, key: str) -> deque[tuple[float, float]]:
        if key not in self._history:
            self._wait_for_file()
            with self._lock:
                if key not in self._history:
                    self._history[key] = deque(maxlen=KEEP)
                    self._seed(key)
        return self._history[key]

    def _wait_for_file(self) -> None:
        """Wait for the read of the file (started if need be): a little on a loop's thread
        (a regular file takes milliseconds; a hung one is not waited for: it seeds late)."""
        loaded = self.prefetch()
        if loaded is not None:
            loaded.wait(_LOOP_WAIT if _on_loop_thread() else _SYNC_WAIT)

    def prefetch(self) -> threading.Event | None:
        """Start reading the file on a worker thread, once; the event is set when it is read."""
        if self.cache is None:
            return None
        with self._lock:
            if self._loaded is None:
                self._loaded = threading.Event()
                worker = threading.Thread(target=self._load, name="yandex-art-durations")
                worker.daemon = True
                worker.start()
            return self._loaded

    def _load(self) -> None:
        assert self.cache is not None and self._loaded is not None
        loaded = self._loaded
        on_disk = _read(self.cache)
        with self._lock:
            self._on_disk = on_disk
            for key in list(self._history):  # histories begun before the read ended
                self._seed(key)
            self._early.clear()
        loaded.set()

    def _seed(self, key: str) -> None:
        """Put the file's entries of ``key`` before the ones seen here (under ``_lock``)."""
        if key in self._seeded or (self._on_disk is None and self.cache is not None):
            return
        self._seeded.add(key)
        seed = (self._on_disk or {}).get(hashed_key(self._scope, key), [])
        seed = [e for e in seed if e not in self._early]  # written by this process meanwhile
        if seed:
            entries = self._history[key]
            merged = [(s, u) for s, u, _ in seed] + list(entries)
            entries.clear()
            entries.extend(merged[-KEEP:])

    def observe(self, key: str, seconds: float, *, uncertainty: float = 0.0) -> None:
        if not 0 <= seconds <= MAX_PLAUSIBLE:
            return
        entries = self._entries(key)
        with self._lock:
            entries.append((seconds, uncertainty))
            if self.cache is None:
                return
            entry = (seconds, uncertainty, time.time())
            self._pending.setdefault(hashed_key(self._scope, key), []).append(entry)
            if self._on_disk is None:
                self._early.add(entry)
            due = time.monotonic() - self._last_write >= 2.0  # else it waits (or for the exit)
            if due and _on_loop_thread():
                self._last_write = time.monotonic()
                if not self._flushing:
                    self._flushing = True
                    threading.Thread(target=self._flush_aside, daemon=True).start()
                return
        if due:
            self.flush()

    def _flush_aside(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flushing = False

    def flush(self) -> bool:
        """Merge new observations into the cache file; True unless that failed."""
        with self._io_lock:
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

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's threads are gone, and their locks may be held."""
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._flushing = False
        self._pending = {}  # the parent writes its own
        if self._loaded is not None and not self._loaded.is_set():
            self._loaded = None  # the read was the parent's thread's: read again

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
        data = json.loads(_read_regular(path))
        now, out = time.time(), {}
        for name, raw in data["keys"].items() if data["version"] == 1 else ():
            entries = [(float(s), float(u), float(t)) for s, u, t in raw[: KEEP * 4]]
            entries = [e for e in entries if now - MAX_AGE <= e[2] <= now + 86400]
            if valid := [e for e in entries if 0 <= e[0] <= MAX_PLAUSIBLE and 0 <= e[1] < 86400]:
                out[str(name)] = sorted(valid, key=lambda e: e[2])[-KEEP:]
        return dict(list(out.items())[: MAX_KEYS * 2])
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}


def _read_regular(path: Path) -> str:
    """The text of ``path`` if it is a regular file of at most ``MAX_BYTES`` and nested at
    most a few levels; else ValueError. Opened non-blocking: a FIFO would block ``open``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            raise ValueError("not a regular file of the expected size")
        text = file.read(MAX_BYTES + 1).decode("utf-8")
    if len(text) > MAX_BYTES or _depth(text) > 4:  # the format nests 4 levels
        raise ValueError("not a duration cache")
    return text


def _depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest (brackets inside strings count too: the format has none)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _merge_into(path: Path, pending: dict[str, list[Entry]]) -> None:
    """Merge under a lock, then write and rename: no reader sees half a file, no write is lost."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path.with_name(path.name + ".lock"), flags, 0o600)  # a FIFO: ENXIO, no wait
    with os.fdopen(fd, "a") as lock:  # closing it unlocks
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("the duration cache's lock is not a regular file")
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


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for model in list(_SHARED.values()):
        model.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def shared_durations(scope: str, *, persist: bool) -> DurationModel:
    """The duration model of every client of ``scope`` (its endpoints), cached if ``persist``."""
    from .quota import cache_root

    off = os.environ.get("YANDEX_ART_CACHE", "").strip().lower() in ("0", "false", "no", "off")
    root = cache_root()
    cache = root / "yandex-art" / "durations.json" if root and persist and not off else None
    with _SHARED_LOCK:
        if (model := _SHARED.get((scope, cache))) is None:
            model = _SHARED[scope, cache] = DurationModel(cache=cache, scope=scope)
            model.prefetch()  # read by the time the first operation plans its reads
        return model

"""Learned operation durations shared by the whole process and kept on disk.

Every client of the same endpoints gets the same :class:`~.scheduler.DurationModel`
(:func:`shared_durations`), so a web app that makes a client per request, or a
script that makes several, learns once. With the cache on, the durations also
outlive the process: a small JSON file in the user's cache directory
(``$XDG_CACHE_HOME/yandex-art/durations.json``, ``~/.cache`` on Linux,
``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) holds, per
hashed (endpoints, model URI) key, the last durations with their uncertainty
and the wall-clock time they were seen. Nothing else: no prompt, operation id,
folder, endpoint or credential is written (the key is a truncated SHA-256).

The file is best-effort and harmless: read once, lazily, when a key is first
needed; written by merging this process's new observations into what is on
disk under an advisory lock, through a temporary file and ``os.replace`` (so a
reader never sees half a file and concurrent writers lose nothing); bounded
(``KEEP`` entries per key, ``MAX_KEYS`` keys); entries older than ``MAX_AGE``
are dropped; any error (read-only or missing home, a corrupt file, a held
lock) is swallowed. ``YANDEX_ART_CACHE=0`` (or ``duration_cache=False`` on the
client) turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from .scheduler import DurationModel

__all__ = ["DurationStore", "cache_dir", "cache_enabled", "shared_durations"]

_log = logging.getLogger("yandex_art.history")

FILE_NAME = "durations.json"
KEEP = 32
MAX_KEYS = 64
MAX_AGE = 7 * 24 * 3600.0
# After one write, further observations are written at most this often (and at exit).
WRITE_INTERVAL = 2.0
_LOCK_WAIT = 0.5
_MAX_FILE_BYTES = 256 * 1024

Entry = tuple[float, float, float]  # seconds, uncertainty, wall-clock time seen


def cache_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``YANDEX_ART_CACHE`` says off (``0``, ``false``, ``no``, ``off``)."""
    value = (os.environ if env is None else env).get("YANDEX_ART_CACHE", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """``<user cache dir>/yandex-art``, or None when no home can be found."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "").strip()
    try:
        if base:
            root = Path(base)
        elif sys.platform == "win32":
            local = env.get("LOCALAPPDATA", "").strip()
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


def _valid(entry: object, now: float) -> Entry | None:
    if not isinstance(entry, list) or len(entry) != 3:
        return None
    try:
        seconds, spread, seen = (float(x) for x in entry)
    except (TypeError, ValueError):
        return None
    if not (0 <= seconds < 86400 and 0 <= spread < 86400 and now - MAX_AGE <= seen <= now + 86400):
        return None
    return seconds, spread, seen


def _parse(text: str, now: float) -> dict[str, list[Entry]]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    keys = data.get("keys") if isinstance(data, dict) and data.get("version") == 1 else None
    if not isinstance(keys, dict):
        return {}
    out: dict[str, list[Entry]] = {}
    for name, entries in keys.items():
        if isinstance(name, str) and isinstance(entries, list):
            valid = [e for e in (_valid(x, now) for x in entries) if e is not None]
            if valid:
                out[name] = sorted(valid, key=lambda e: e[2])[-KEEP:]
    return out


def _bounded(keys: dict[str, list[Entry]]) -> dict[str, list[Entry]]:
    if len(keys) <= MAX_KEYS:
        return keys
    newest = sorted(keys, key=lambda k: keys[k][-1][2], reverse=True)[:MAX_KEYS]
    return {k: keys[k] for k in sorted(newest)}


class DurationStore:
    """One cache file: lazy read, merged atomic writes. Thread-safe; never raises."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self._lock = threading.Lock()
        self._loaded: dict[str, list[Entry]] | None = None
        self._pending: dict[str, list[Entry]] = {}
        self._last_write = -float("inf")
        self.writes = 0

    def load(self, key: str) -> list[tuple[float, float]]:
        """The durations on disk for ``key`` (hashed), oldest first; [] on any problem."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._read()
            return [(seconds, spread) for seconds, spread, _ in self._loaded.get(key, ())]

    def _read(self) -> dict[str, list[Entry]]:
        try:
            with open(self.path, encoding="utf-8") as file:
                text = file.read(_MAX_FILE_BYTES + 1)
        except (OSError, UnicodeDecodeError):
            return {}
        if len(text) > _MAX_FILE_BYTES:
            return {}
        return _parse(text, time.time())

    def record(self, key: str, seconds: float, uncertainty: float) -> None:
        """Queue one observation; writes now unless a write happened in the last moments."""
        with self._lock:
            self._pending.setdefault(key, []).append((seconds, uncertainty, time.time()))
            due = time.monotonic() - self._last_write >= WRITE_INTERVAL
        if due:
            self.flush()

    def flush(self) -> bool:
        """Merge the queued observations into the file; True when they were written."""
        with self._lock:
            if not self._pending:
                return True
            pending, self._pending = self._pending, {}
            self._last_write = time.monotonic()
            try:
                self._merge_into_file(pending)
            except OSError as exc:
                _log.debug("duration cache not written (%s)", type(exc).__name__)
                return False  # dropped: best-effort, and a read-only home stays read-only
            self.writes += 1
            return True

    def _merge_into_file(self, pending: dict[str, list[Entry]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.path.with_name(FILE_NAME + ".lock")):
            now = time.time()
            keys = self._read()
            for key, entries in pending.items():
                merged = set(keys.get(key, ())) | set(entries)
                fresh = [e for e in merged if e[2] >= now - MAX_AGE]
                keys[key] = sorted(fresh, key=lambda e: e[2])[-KEEP:]
            keys = _bounded(keys)
            text = json.dumps(
                {"version": 1, "keys": {k: [list(e) for e in v] for k, v in keys.items()}},
                separators=(",", ":"),
            )
            tmp = self.path.with_name(f"{FILE_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as file:
                    file.write(text)
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (POSIX ``flock``); OSError when it stays held too long."""
    try:
        import fcntl
    except ImportError:  # Windows: merge-then-replace without a lock
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OSError("the duration cache is locked") from None
                time.sleep(0.005)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class _Shared:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: dict[tuple[str, Path | None], DurationModel] = {}
        self.stores: dict[Path, DurationStore] = {}
        self.hooked = False

    def flush_all(self) -> None:
        for store in list(self.stores.values()):
            store.flush()


_SHARED = _Shared()


def shared_durations(
    scope: str, *, persist: bool, env: Mapping[str, str] | None = None
) -> DurationModel:
    """The process-wide duration model for ``scope`` (the client's endpoints).

    With ``persist`` (and the cache not turned off by ``YANDEX_ART_CACHE``),
    the model is seeded from the cache file and writes what it learns back.
    """
    directory = cache_dir(env) if persist and cache_enabled(env) else None
    with _SHARED.lock:
        model = _SHARED.models.get((scope, directory))
        if model is not None:
            return model
        store = None
        if directory is not None:
            store = _SHARED.stores.get(directory)
            if store is None:
                store = _SHARED.stores[directory] = DurationStore(directory)
            if not _SHARED.hooked:
                atexit.register(_SHARED.flush_all)
                _SHARED.hooked = True
        model = DurationModel(store=None if store is None else _ScopedStore(store, scope))
        _SHARED.models[(scope, directory)] = model
        return model


class _ScopedStore:
    """A store seen through one scope: keys are hashed with it."""

    def __init__(self, store: DurationStore, scope: str) -> None:
        self._store = store
        self._scope = scope

    def load(self, key: str) -> list[tuple[float, float]]:
        return self._store.load(hashed_key(self._scope, key))

    def record(self, key: str, seconds: float, uncertainty: float) -> None:
        self._store.record(hashed_key(self._scope, key), seconds, uncertainty)

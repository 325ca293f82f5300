"""Quota stores: the folder's budgets shared by every process that uses them.

The service counts operation reads (50 per second) and Generate calls (per minute and
per day) per cloud, not per process. A quota store holds a sliding-window log of the
grants of one budget, keyed by endpoint and folder, where every process can see it:

- ``local`` (the default): a small file per budget in the user's cache directory,
  changed under ``flock``; every process of the user on the host shares it;
- ``redis://host:port/db``: a sorted set per budget, changed by one Lua script (atomic,
  timed by the Redis server's clock), for several hosts; needs ``yandex-art-sdk[redis]``;
- ``process``: no store; each client keeps its own budget in memory.

WHY a log of expiry times and not a counter: a process killed while holding grants
never gives them back. Each entry expires by itself one window (plus a guard) after
its grant, or after its release if the read took longer, so a crash leaks nothing
for longer than about a second. A release only ever makes an entry last longer.

WHY a store failure is never fatal: the quota is an optimisation of the client's
politeness, not a condition of its work. :class:`SharedBudget` turns any failure into
"use your own share" (the in-process budget), warns once on the ``yandex_art.quota``
logger, and tries the store again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
import struct
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import logs
from .errors import ConfigurationError

__all__ = [
    "GENERATE_PER_DAY",
    "GENERATE_PER_MINUTE",
    "LocalFileStore",
    "QuotaStore",
    "RedisStore",
    "SharedBudget",
    "Taken",
    "budget_key",
    "open_store",
]

_LOG = logs.get("quota")
ENV = "YANDEX_ART_QUOTA_STORE"
# The documented Generate quotas (API_FACTS.md, "Limits and quotas"): defaults, not constants.
GENERATE_PER_MINUTE = 500
GENERATE_PER_DAY = 5000
_RETRY_STORE_AFTER = 30.0  # s without the store after a failure, then it is tried again
_LOCK_PATIENCE = 0.05  # s a local store waits for its file lock before it counts as broken
_DAMPING = 0.25  # s: refusals this close together are one signal, halving the budget once


@dataclass(frozen=True, slots=True)
class Taken:
    """A store's answer: granted (with the store's ``token``, or None when the store
    could not be asked), or refused for ``retry_in`` seconds, until a place frees."""

    token: str | None
    retry_in: float = 0.0

    @property
    def granted(self) -> bool:
        return self.retry_in <= 0


class QuotaStore(ABC):
    """Sliding-window budgets shared across processes; every method may raise on failure."""

    name: str
    blocking = False  # True: calls wait on a network, so they run in a worker thread

    @abstractmethod
    def take(self, key: str, limit: int, hold: float) -> Taken:
        """A place in ``key``'s budget (at most ``limit`` entries), counted for ``hold`` s."""

    @abstractmethod
    def release(self, key: str, token: str, hold: float) -> None:
        """The grant ``token`` ended now: it counts ``hold`` s more (never less than before)."""

    @abstractmethod
    def note_exhausted(self, key: str, limit: int, hold: float) -> None:
        """A quota refusal: halve the budget for everyone for ``hold`` s."""

    @abstractmethod
    def fresh(self) -> QuotaStore:
        """The same store for a forked child (its own file handle or connection)."""


def budget_key(kind: str, scope: str, folder_id: str) -> str:
    """The store key of one budget (``reads``, ``generate-minute``, ...) of a folder."""
    digest = hashlib.sha256(f"{scope}\n{folder_id}".encode()).hexdigest()[:24]
    return f"{kind}-{digest}"


# -- local: a file per budget under flock ------------------------------------------------

_HEADER = struct.Struct("<4sddI")  # magic; pressure until, its last halving (wall clock); cap
_ENTRY = struct.Struct("<dQ")  # expiry (wall clock), token
_MAGIC = b"YAQ1"
_Pressure = tuple[float, float, int]  # until, last halving, cap


def _decide(expiries: list[float], now: float, limit: int, pressure: tuple[float, int]) -> float:
    """When a new entry fits (<= now: at once), as the in-process budget decides it."""
    ordered = sorted(expiries)

    def free_at(cap: int) -> float:
        return now if len(ordered) < cap else ordered[len(ordered) - cap]

    until, cap = pressure
    if now < until:
        return min(free_at(max(1, min(cap, limit))), max(free_at(limit), until))
    return free_at(limit)


class LocalFileStore(QuotaStore):
    """Budgets in files under ``directory``: a header and a log of (expiry, token) entries.

    Each change opens nothing: the file stays open, ``flock`` is held for one read and
    one write of a few hundred bytes (microseconds), so calls run on the event loop.
    """

    def __init__(self, directory: Path) -> None:
        import fcntl  # noqa: F401 - POSIX only; open_store falls back elsewhere

        self.directory = directory
        self.name = f"local ({directory})"
        self._files: dict[str, int] = {}  # budget key -> fd, open for the process's life
        self._lock = threading.Lock()  # the client's loop thread and asyncio.to_thread users
        self._pid = os.getpid()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._collect_stale()

    def _collect_stale(self) -> None:
        """Remove the files of budgets unused for two days (an emulator's port, a folder
        long gone): every entry in them expired, at most a day after its grant."""
        import fcntl

        old = time.time() - 2 * 86400
        for path in self.directory.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime >= old:
                    continue
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    if os.fstat(fd).st_mtime < old:  # still unused, now that it is ours
                        path.unlink()
                finally:
                    os.close(fd)

    def fresh(self) -> LocalFileStore:
        self._forget_if_forked()
        return self

    def _forget_if_forked(self) -> None:
        # WHY: a forked child shares its parent's open file descriptions, and flock locks
        # belong to those: parent and child would hold each other's lock. The child opens
        # its own. Its lock object may have been held by a parent's thread: a new one too.
        if os.getpid() != self._pid:
            self._files, self._pid, self._lock = {}, os.getpid(), threading.Lock()

    def _fd(self, key: str) -> int:
        if (fd := self._files.get(key)) is None:
            fd = os.open(self.directory / key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._files[key] = fd
        return fd

    @contextlib.contextmanager
    def _locked(self, key: str) -> Any:
        import fcntl

        self._forget_if_forked()
        with self._lock:
            fd = self._fd(key)
            deadline = time.monotonic() + _LOCK_PATIENCE
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OSError("the quota file stays locked") from None
                    time.sleep(0.0002)
            if os.fstat(fd).st_nlink == 0:  # collected as stale while we held it open
                os.close(fd)
                del self._files[key]
                fd = self._fd(key)
                fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody holds it long
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def _load(fd: int, now: float, hold: float) -> tuple[_Pressure, list[tuple[float, int]]]:
        data = os.pread(fd, 1 << 20, 0)
        if len(data) < _HEADER.size or data[:4] != _MAGIC:
            return (-math.inf, -math.inf, 0), []  # new, or not ours: start empty (harmless)
        _, until, last, cap = _HEADER.unpack_from(data)
        body = data[_HEADER.size :]
        body = body[: len(body) - len(body) % _ENTRY.size]  # a write cut short by a crash
        # Expired entries go; so do impossible ones (the wall clock stepped back).
        latest = now + hold + 1.0
        entries = [e for e in _ENTRY.iter_unpack(body) if now < e[0] <= latest]
        if not math.isfinite(until) or until > now + 86400 * 2:
            until = last = -math.inf
        return (until, last, cap), entries

    @staticmethod
    def _save(fd: int, pressure: _Pressure, entries: list[tuple[float, int]]) -> None:
        data = _HEADER.pack(_MAGIC, *pressure) + b"".join(_ENTRY.pack(*e) for e in entries)
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))

    def take(self, key: str, limit: int, hold: float) -> Taken:
        with self._locked(key) as fd:
            now = time.time()
            pressure, entries = self._load(fd, now, hold)
            at = _decide([e[0] for e in entries], now, limit, (pressure[0], pressure[2]))
            if at > now:
                self._save(fd, pressure, entries)  # pruned
                return Taken(None, at - now)
            token = secrets.randbits(63) or 1
            entries.append((now + hold, token))
            self._save(fd, pressure, entries)
            return Taken(str(token))

    def release(self, key: str, token: str, hold: float) -> None:
        with self._locked(key) as fd:
            now = time.time()
            pressure, entries = self._load(fd, now, hold)
            number, end = int(token), now + hold
            kept = [e for e in entries if e[1] != number]
            old = max((e[0] for e in entries if e[1] == number), default=-math.inf)
            kept.append((max(old, end), number))
            self._save(fd, pressure, kept)

    def note_exhausted(self, key: str, limit: int, hold: float) -> None:
        with self._locked(key) as fd:
            now = time.time()
            (until, last, cap), entries = self._load(fd, now, hold)
            if now - last > _DAMPING:
                cap, last = max(1, (cap if now < until else limit) // 2), now
            self._save(fd, (max(until, now + hold), last, cap), entries)


# -- redis: a sorted set per budget, changed by one script -----------------------------------

# KEYS[1]: the log (member: token, score: expiry); KEYS[2]: the pressure hash.
# ARGV: operation, limit, hold, token. Times are the server's, so hosts' clocks do not matter.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op, limit, hold = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = math.ceil((hold + 2) * 1000)
if op == 'release' then
  local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[4]) or '0')
  if old < now + hold then redis.call('ZADD', KEYS[1], now + hold, ARGV[4]) end
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, '0'}
end
local p = redis.call('HMGET', KEYS[2], 'until', 'cap', 'last')
local untl, cap, last = tonumber(p[1] or '0'), tonumber(p[2] or '0'), tonumber(p[3] or '0')
if op == 'exhausted' then
  if now - last > tonumber(ARGV[5]) then
    if now >= untl then cap = limit end
    cap = math.max(1, math.floor(cap / 2))
    last = now
  end
  untl = math.max(untl, now + hold)
  redis.call('HSET', KEYS[2], 'until', tostring(untl), 'cap', cap, 'last', tostring(last))
  redis.call('PEXPIRE', KEYS[2], math.ceil((untl - now + 1) * 1000))
  return {1, '0'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. tostring(now + hold + 1), '+inf')
local n = redis.call('ZCARD', KEYS[1])
local function free_at(c)
  if n < c then return now end
  local e = redis.call('ZRANGE', KEYS[1], n - c, n - c, 'WITHSCORES')
  return tonumber(e[2])
end
local at = free_at(limit)
if now < untl then at = math.min(free_at(math.max(1, math.min(cap, limit))), math.max(at, untl)) end
if at > now then return {0, tostring(at - now)} end
redis.call('ZADD', KEYS[1], now + hold, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, '0'}
"""


class RedisStore(QuotaStore):
    """Budgets in Redis (``redis://host:port/db``), for processes on several hosts."""

    blocking = True

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                f"quota store {url!r} needs the redis client: pip install 'yandex-art-sdk[redis]'"
            ) from None
        self.url = url
        self.name = _without_password(url)
        self._timeout = timeout
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Short timeouts and no retries: an unreachable store costs a client half a second
        # (then SharedBudget leaves it alone for a while), never a hang.
        self._redis: Any = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 0),
        )
        self._script: Any = self._redis.register_script(_LUA)

    def fresh(self) -> RedisStore:
        return self  # redis-py's pool opens new connections in a forked child

    def _run(self, key: str, *args: object) -> list[Any]:
        keys = [f"yandex-art:{key}", f"yandex-art:{key}:p"]
        result: list[Any] = self._script(keys=keys, args=args)
        return result

    def take(self, key: str, limit: int, hold: float) -> Taken:
        token = secrets.token_hex(8)
        granted, wait = self._run(key, "take", limit, hold, token)
        return Taken(token) if int(granted) else Taken(None, max(float(wait), 0.0))

    def release(self, key: str, token: str, hold: float) -> None:
        self._run(key, "release", 0, hold, token)

    def note_exhausted(self, key: str, limit: int, hold: float) -> None:
        self._run(key, "exhausted", limit, hold, "", _DAMPING)


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    _, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


def cache_root() -> Path | None:
    """The user's cache directory (``XDG_CACHE_HOME`` first); None without a home."""
    env = os.environ  # the process's, as for the duration cache: one place per user
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    local = env.get("LOCALAPPDATA", "").strip() if sys.platform == "win32" else ""
    default = {"win32": "AppData/Local", "darwin": "Library/Caches"}.get(sys.platform, ".cache")
    try:
        return Path(xdg or local or Path.home() / default)
    except (RuntimeError, KeyError, OSError):
        return None


def open_store(spec: str | QuotaStore | None, env: Any = None) -> QuotaStore | None:
    """The store named by ``spec`` (None: ``YANDEX_ART_QUOTA_STORE``, else ``local``);
    None for ``process``. A local store that cannot exist here is ``process``, said once."""
    if isinstance(spec, QuotaStore):
        return spec
    env = os.environ if env is None else env
    if spec is None:
        spec = env.get(ENV, "").strip() or "local"
    if not isinstance(spec, str):
        raise ConfigurationError(
            f"quota_store must be 'local', 'process' or a redis:// URL, not {type(spec).__name__}"
        )
    value = spec.strip()
    if value == "process":
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")) and value != "local":
        raise ConfigurationError(
            f"quota_store must be 'local', 'process' or a redis:// URL, not {spec!r}"
        )
    root = cache_root() if value == "local" else None
    # One store object per place in the process: clients share its files or connections.
    with _STORES_LOCK:
        if (store := _STORES.get((value, root))) is not None:
            return store
        if value != "local":
            store = RedisStore(value)
        else:
            try:
                if root is None:
                    raise OSError("no cache directory")
                store = LocalFileStore(root / "yandex-art" / "quota")
            except ImportError:  # no fcntl (Windows): as documented, each client keeps its own
                _LOG.debug("no local quota store on this platform; each client keeps its own")
                return None
            except OSError as exc:  # no home, or a read-only one
                message = "the local quota store is unavailable (%s); each client keeps its own"
                _warn_once("local", message, exc)
                return None
        _STORES[value, root] = store
        return store


_STORES: dict[tuple[str, Path | None], QuotaStore] = {}
_STORES_LOCK = threading.Lock()


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _warn_once(what: str, message: str, *args: object) -> None:
    with _WARNED_LOCK:
        first = what not in _WARNED
        _WARNED.add(what)
    (_LOG.warning if first else _LOG.debug)(message, *args)


class SharedBudget:
    """One budget of one store (``limit`` per ``hold`` s), that never fails its caller.

    Any failure of the store (unreachable, broken, locked) answers "granted" with no
    token: the caller's own in-process budget decides alone for ``_RETRY_STORE_AFTER``
    seconds, then the store is tried again. The first failure of a store warns; later
    ones are logged at debug level.
    """

    def __init__(self, store: QuotaStore, key: str, limit: int, hold: float) -> None:
        self.store, self.key, self.limit, self.hold = store, key, limit, hold
        self._down_until = -math.inf

    def fresh(self) -> SharedBudget:
        return SharedBudget(self.store.fresh(), self.key, self.limit, self.hold)

    @property
    def blocking(self) -> bool:
        return self.store.blocking

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + _RETRY_STORE_AFTER
        _warn_once(
            self.store.name,
            "quota store %s failed (%s: %s); using this client's own budget, retrying in %g s",
            self.store.name,
            type(exc).__name__,
            exc,
            _RETRY_STORE_AFTER,
        )

    def take_now(self) -> Taken:
        """Take in this thread (for stores that do not block)."""
        if not self.available:
            return Taken(None)
        try:
            return self.store.take(self.key, self.limit, self.hold)
        except Exception as exc:
            self._failed(exc)
            return Taken(None)

    async def take(self) -> Taken:
        if not self.blocking:
            return self.take_now()
        if not self.available:
            return Taken(None)
        try:
            return await asyncio.to_thread(self.store.take, self.key, self.limit, self.hold)
        except Exception as exc:
            self._failed(exc)
            return Taken(None)

    def release(self, token: str) -> None:
        self._call(self.store.release, self.key, token, self.hold)

    def note_exhausted(self, hold: float) -> None:
        self._call(self.store.note_exhausted, self.key, self.limit, hold)

    def _call(self, method: Any, *args: object) -> None:
        if not self.available:
            return

        def call() -> None:
            try:
                method(*args)
            except Exception as exc:
                self._failed(exc)

        if self.blocking:
            with contextlib.suppress(RuntimeError):  # no running loop: done here
                asyncio.get_running_loop().run_in_executor(None, call)
                return
        call()

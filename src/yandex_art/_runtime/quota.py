"""Quota stores: the folder's budgets shared by every process that uses them.

The service counts operation reads (50 per second) and Generate calls (per minute and
per day) per cloud, not per process. A quota store holds a sliding-window log of the
grants of one budget, keyed by endpoint and folder, where every process can see it:

- ``local`` (the default): a small file per budget in the user's cache directory,
  changed under ``flock``; every process of the user on the host shares it;
- ``redis://host:port/db``: a sorted set per budget, changed by one Lua script (atomic,
  timed by the Redis server's clock), for several hosts; needs ``yandex-art-sdk[redis]``;
- ``process``: no store; each client keeps its own budget in memory.

This module picks the store (:func:`open_store`) and wraps one budget of it so
that it never fails its caller (:class:`SharedBudget`); the interface is in
``quota_store``, the stores in ``quota_file`` and ``quota_redis``.

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
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import logs
from .errors import ConfigurationError
from .quota_file import LocalFileStore
from .quota_redis import RedisStore
from .quota_store import QuotaStore, Taken, budget_key

__all__ = [
    "GENERATE_PER_DAY",
    "GENERATE_PER_MINUTE",
    "LocalFileStore",
    "QuotaStore",
    "RedisStore",
    "SharedBudget",
    "Taken",
    "budget_key",
    "cache_root",
    "open_store",
]

_LOG = logs.get("quota")
ENV = "YANDEX_ART_QUOTA_STORE"
# The documented Generate quotas (API_FACTS.md, "Limits and quotas"): defaults, not constants.
GENERATE_PER_MINUTE = 500
GENERATE_PER_DAY = 5000
_RETRY_STORE_AFTER = 30.0  # s without the store after a failure, then it is tried again
_SPECS = "quota_store must be 'local', 'process' or a redis:// URL"


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
    value = _store_spec(spec, os.environ if env is None else env)
    if value == "process":
        return None
    root = cache_root() if value == "local" else None
    # One store object per place in the process: clients share its files or connections.
    with _STORES_LOCK:
        if (store := _STORES.get((value, root))) is None:
            store = RedisStore(value) if value != "local" else _local_store(root)
            if store is None:
                return None
            _STORES[value, root] = store
        return store


def _store_spec(spec: object, env: Any) -> str:
    """``spec`` (None: from the environment, else ``local``) checked and stripped."""
    if spec is None:
        spec = env.get(ENV, "").strip() or "local"
    if not isinstance(spec, str):
        raise ConfigurationError(f"{_SPECS}, not {type(spec).__name__}")
    value = spec.strip()
    if value not in ("local", "process") and not value.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigurationError(f"{_SPECS}, not {spec!r}")
    return value


def _local_store(root: Path | None) -> LocalFileStore | None:
    """The local store under the cache directory ``root``; None where it cannot be."""
    try:
        if root is None:
            raise OSError("no cache directory")
        return LocalFileStore(root / "yandex-art" / "quota")
    except ImportError:  # no fcntl (Windows): as documented, each client keeps its own
        _LOG.debug("no local quota store on this platform; each client keeps its own")
    except OSError as exc:  # no home, or a read-only one
        message = "the local quota store is unavailable (%s); each client keeps its own"
        _warn_once("local", message, exc)
    return None


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

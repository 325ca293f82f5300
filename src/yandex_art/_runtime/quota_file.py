"""The local quota store: one small file per budget, changed under ``flock``.

Every process of the user on the host shares it (the default store). A file
holds a header (the budget's pressure, see :class:`_Pressure`) and a log of
entries, each the expiry time of one grant and its token. Times are the wall
clock, the one clock that processes share.

WHY the file stays open and the lock is taken without waiting: a change is
one read and one write of a few hundred bytes under the lock (microseconds),
so the calls run on the client's event loop; a lock held longer than
:data:`_LOCK_PATIENCE` means something is wrong, and the store counts as
failed (``SharedBudget`` then falls back to the client's own budget).
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .quota_store import DAMPING, QuotaStore, Taken

__all__ = ["LocalFileStore"]

_HEADER = struct.Struct("<4sddI")  # magic; pressure: until, last halving (wall clock), cap
_ENTRY = struct.Struct("<dQ")  # expiry (wall clock), token
_MAGIC = b"YAQ1"
_LOCK_PATIENCE = 0.05  # s a store waits for its file lock before it counts as broken
_STALE_AFTER = 2 * 86400.0  # s unused before a budget's file is removed


@dataclass
class _Pressure:
    """What quota refusals did to a budget: until ``until``, only ``cap`` entries fit.

    ``last`` is when the cap was last halved: refusals within :data:`DAMPING` of it
    are the same signal and do not halve it again.
    """

    until: float = -math.inf
    last: float = -math.inf
    cap: int = 0


# One grant: (expiry, token), the expiry on the wall clock. Plain tuples, as struct reads
# them: a budget's whole log is read and written at every take, on the event loop.
_Entry = tuple[float, int]


def _fits_at(expiries: list[float], now: float, limit: int, pressure: _Pressure) -> float:
    """When a new entry fits (<= now: at once), as the in-process budget decides it."""
    ordered = sorted(expiries)
    if now < pressure.until:  # under pressure: the halved cap, but never past its end
        capped = _free_at(ordered, now, max(1, min(pressure.cap, limit)))
        return min(capped, max(_free_at(ordered, now, limit), pressure.until))
    return _free_at(ordered, now, limit)


def _free_at(ordered: list[float], now: float, cap: int) -> float:
    """When fewer than ``cap`` of the entries (expiries, ascending) still count.

    WHY this index: of n entries, n - cap + 1 must expire for a new one to fit,
    and the (n - cap + 1)-th earliest expiry is ``ordered[n - cap]``.
    """
    return now if len(ordered) < cap else ordered[len(ordered) - cap]


class LocalFileStore(QuotaStore):
    """Budgets in files under ``directory``: a header and a log of (expiry, token) entries."""

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

        old = time.time() - _STALE_AFTER
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
    def _locked(self, key: str) -> Iterator[int]:
        """The budget's file, locked for this process and thread until the block ends."""
        import fcntl

        self._forget_if_forked()
        with self._lock:
            fd = self._fd(key)
            _lock_within(fd, _LOCK_PATIENCE)
            if os.fstat(fd).st_nlink == 0:  # collected as stale while we held it open
                os.close(fd)
                del self._files[key]
                fd = self._fd(key)
                fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody holds it long
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def take(self, key: str, limit: int, hold: float) -> Taken:
        with self._locked(key) as fd:
            now = time.time()
            pressure, entries = _load(fd, now, hold)
            at = _fits_at([expiry for expiry, _ in entries], now, limit, pressure)
            if at > now:
                _save(fd, pressure, entries)  # pruned
                return Taken(None, at - now)
            token = secrets.randbits(63) or 1
            entries.append((now + hold, token))
            _save(fd, pressure, entries)
            return Taken(str(token))

    def release(self, key: str, token: str, hold: float) -> None:
        with self._locked(key) as fd:
            now = time.time()
            pressure, entries = _load(fd, now, hold)
            number = int(token)
            # A release only ever makes an entry last longer (a read that took long).
            old = max((expiry for expiry, t in entries if t == number), default=-math.inf)
            kept = [entry for entry in entries if entry[1] != number]
            kept.append((max(old, now + hold), number))
            _save(fd, pressure, kept)

    def note_exhausted(self, key: str, limit: int, hold: float) -> None:
        with self._locked(key) as fd:
            now = time.time()
            pressure, entries = _load(fd, now, hold)
            if now - pressure.last > DAMPING:
                current = pressure.cap if now < pressure.until else limit
                pressure.cap, pressure.last = max(1, current // 2), now
            pressure.until = max(pressure.until, now + hold)
            _save(fd, pressure, entries)


def _lock_within(fd: int, patience: float) -> None:
    """Take ``fd``'s flock, or raise OSError if it stays held for ``patience`` seconds."""
    import fcntl

    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise OSError("the quota file stays locked") from None
            time.sleep(0.0002)


def _load(fd: int, now: float, hold: float) -> tuple[_Pressure, list[_Entry]]:
    """The budget in the file, without its expired entries."""
    data = os.pread(fd, 1 << 20, 0)
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        return _Pressure(), []  # new, or not ours: start empty (harmless)
    _, until, last, cap = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    body = body[: len(body) - len(body) % _ENTRY.size]  # a write cut short by a crash
    # Expired entries go; so do impossible ones (the wall clock stepped back).
    latest = now + hold + 1.0
    entries = [entry for entry in _ENTRY.iter_unpack(body) if now < entry[0] <= latest]
    if not math.isfinite(until) or until > now + 2 * 86400:  # no hold is that long: a bad clock
        return _Pressure(cap=cap), entries
    return _Pressure(until, last, cap), entries


def _save(fd: int, pressure: _Pressure, entries: list[_Entry]) -> None:
    header = _HEADER.pack(_MAGIC, pressure.until, pressure.last, pressure.cap)
    data = header + b"".join(_ENTRY.pack(*e) for e in entries)
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))

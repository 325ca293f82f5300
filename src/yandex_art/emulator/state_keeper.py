"""The state file of a serving emulator: locked, loaded at start, kept up to date, last written
on close.

A generation is acknowledged only once its record is on disk (:meth:`StateKeeper.commit`),
so an operation id the emulator returned survives a kill -9. Writes happen on a background
task that never gives up: a failed write is logged and retried, the records stay in memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import IO

from grpclib.const import Status

from .config import EmulatorConfigError
from .errors import EmulatorError
from .service import EmulatorService
from .state import load_state, remove_stale_temporaries, save_state

__all__ = ["StateKeeper"]

log = logging.getLogger(__name__)

_COMMIT_TIMEOUT = 10.0
"""Seconds a generation waits for its record to be written before answering UNAVAILABLE."""
_MAX_RETRY_PAUSE = 2.0


class StateKeeper:
    """Keeps ``path`` equal to the records of ``service`` while it serves."""

    def __init__(self, path: Path, service: EmulatorService, flush_seconds: float) -> None:
        self.path = path
        self._service = service
        self._interval = max(flush_seconds, 0.01)
        self._lock_file: IO[str] | None = None
        self._saved_version = -1
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._saved = asyncio.Condition()

    def open(self) -> None:
        """Lock the state file, load it (refusing corruption) and prove it can be written."""
        self._lock_file = _lock(self.path)
        try:
            remove_stale_temporaries(self.path)  # a kill -9 during a write leaves one
            records = load_state(self.path, now=time.time(), now_monotonic=time.monotonic())
            self._service.load(records)
            self._saved_version = -1
            self._write(-1)
        except OSError as exc:
            self.release()
            raise EmulatorConfigError(
                f"cannot write the state file {self.path}: {exc.strerror or exc}"
            ) from None
        except BaseException:
            self.release()
            raise

    def start_flushing(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write changes from now on, and make every generation wait for its write."""
        self._wake = asyncio.Event()  # WHY new ones: bound to the loop that serves
        self._saved = asyncio.Condition()
        self._service.commit = self.commit
        self._flusher = loop.create_task(self._flush_loop())

    async def stop_flushing(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None

    def close(self) -> None:
        """Write what is pending (a failure is logged) and release the file. Idempotent."""
        if self._lock_file is not None:
            try:
                self._write(self._saved_version)
            except Exception as exc:
                log.error("could not write the state file %s on close: %s", self.path, exc)
        self.release()

    def release(self) -> None:
        """Let another emulator use the file (without writing it)."""
        handle, self._lock_file = self._lock_file, None
        if handle is not None:
            handle.close()  # closing the file drops the lock

    async def commit(self, version: int) -> None:
        """Return once the records of ``version`` are on disk."""
        if self._saved_version >= version:
            return
        self._wake.set()
        try:
            async with self._saved:
                await asyncio.wait_for(
                    self._saved.wait_for(lambda: self._saved_version >= version),
                    _COMMIT_TIMEOUT,
                )
        except asyncio.TimeoutError:  # (the builtin one from 3.11 on)
            raise EmulatorError(
                Status.UNAVAILABLE,
                "the emulator cannot write its state file; the operation is kept in memory "
                "and is saved when writing works again",
            ) from None

    def _write(self, since: int) -> bool:
        """Write the records if they changed after version ``since``; True if it wrote."""
        pending = self._service.changes(since)
        if pending is None:
            return False
        version, records = pending
        save_state(self.path, records)
        self._saved_version = version
        return True

    async def _flush_loop(self) -> None:
        """Write changes as they come (at least every ``state_flush_seconds``); never gives up.

        A failed write is logged and retried with a growing pause; the
        records stay in memory meanwhile, and generations wait (see
        :meth:`commit`) rather than be acknowledged without being on disk.
        """
        pause = self._interval
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
                pass
            self._wake.clear()
            try:
                wrote = await loop.run_in_executor(None, self._write, self._saved_version)
            except Exception as exc:
                log.warning(
                    "cannot write the state file %s (%s); retrying in %.2g s",
                    self.path,
                    exc,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_RETRY_PAUSE)
                self._wake.set()
                continue
            pause = self._interval
            if wrote:
                async with self._saved:
                    self._saved.notify_all()


def _lock(path: Path) -> IO[str]:
    """An exclusive lock on ``<state file>.lock``: one emulator per state file."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "a+", encoding="utf-8")  # held while serving
    except OSError as exc:
        raise EmulatorConfigError(
            f"cannot use the state file {path}: {exc.strerror or exc}"
        ) from None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise EmulatorConfigError(
            f"the state file {path} is in use by another emulator (it holds {lock_path}); "
            "give each emulator its own --state file"
        ) from None
    return handle

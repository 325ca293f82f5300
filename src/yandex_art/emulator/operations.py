"""The operations and their lifecycle: started, done when due or cancelled, forgotten when old.

:class:`Operations` keeps the :class:`~.state.Record` of every operation by
id. A running one becomes done at its ``finish_monotonic`` time: by a timer
on the serving loop, or, if that has not fired yet, by the first look at it.
Done ones are forgotten ``retention_seconds`` after they finished, as the
service does. Every change bumps :attr:`Operations.version`, which the
state file's writer follows.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grpclib.const import Status

from .config import EmulatorConfig
from .errors import EmulatorError, invalid, short
from .faults import GenerationFault
from .state import Record

__all__ = ["Drawing", "Operations"]

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_PURGE_EVERY = 1.0
"""Seconds between two searches for expired operations (a lookup forgets its own at once)."""


@dataclass(frozen=True)
class Drawing:
    """What a generation draws, fixed when it starts (the image can be drawn again from it)."""

    prompt_sha256: str
    seed: int
    width: int
    height: int
    mime_type: str
    image: bytes | None
    """None when a fault replaces the image, or until it is drawn again after a restart."""


class Operations:
    """Every operation by id. Callers hold ``lock`` (the service's); the timers take it."""

    def __init__(
        self,
        config: EmulatorConfig,
        rng: random.Random,
        lock: threading.RLock,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._rng = rng
        self._lock = lock
        self._clock = clock
        self._wall = wall_clock
        self._records: dict[str, Record] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_purge = -math.inf
        self.version = 0
        """A counter bumped by every change worth persisting."""

    # -- the whole set ----------------------------------------------------------------

    def load(self, records: list[Record]) -> None:
        """Take over records from a state file (before serving)."""
        for record in records:
            self._records[record.id] = record
        self._purge(force=True)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the completion of running operations on ``loop``."""
        self._loop = loop
        for record in self._records.values():
            if not record.done:
                self._schedule(record)

    def to_json(self) -> list[dict[str, Any]]:
        return [record.to_json() for record in self._records.values()]

    def clear(self) -> None:
        self._records.clear()
        self.version += 1

    def records_now(self) -> list[Record]:
        """Every record, the ones due finished first (for statistics)."""
        now = self._clock()
        for record in self._records.values():
            if not record.done and record.finish_monotonic <= now:
                self._finish(record)
        return list(self._records.values())

    # -- one operation ----------------------------------------------------------------

    def duration(self) -> float:
        """How long the next generation runs: the configured time, with its jitter."""
        base = float(self._config.generation_seconds)
        if base <= 0:
            return 0.0
        if self._config.jitter:
            base *= 1 + self._config.jitter * self._rng.uniform(-1.0, 1.0)
        return max(base, 0.0)

    def create(
        self,
        drawing: Drawing,
        *,
        authorization: str | None,
        fault: GenerationFault | None,
        duration: float,
        loop: asyncio.AbstractEventLoop,
    ) -> Record:
        """A new operation, done after ``duration`` seconds (at once when it is 0)."""
        now, now_mono = self._wall(), self._clock()
        record = Record(
            id=self._new_id(),
            created_at=now,
            modified_at=now,
            created_by=subject(authorization),
            prompt_sha256=drawing.prompt_sha256,
            seed=drawing.seed,
            width=drawing.width,
            height=drawing.height,
            mime_type=drawing.mime_type,
            model_version=self._config.model_version,
            outcome="image" if fault is None else fault.kind,
            finish_at=now + duration,
            error_code=fault.code if fault else 0,
            error_message=fault.message if fault else "",
            type_url=fault.type_url if fault else "",
            created_monotonic=now_mono,
            finish_monotonic=now_mono + duration,
            image=drawing.image,
        )
        self._records[record.id] = record
        self.version += 1
        if duration <= 0:
            self._finish(record)
        else:
            self._loop = loop
            self._schedule(record)
        self._purge()
        return record

    def find(self, operation_id: str) -> Record | None:
        """The record of ``operation_id`` if it is still kept (not purged), else None."""
        return self._records.get(operation_id)

    def lookup(self, operation_id: str) -> Record:
        """The record of ``operation_id``, done if due; NOT_FOUND once forgotten."""
        if not operation_id:
            raise invalid("operation_id", "is required")
        self._purge()
        record = self._records.get(operation_id)
        if record is not None and self._expired(record):
            del self._records[operation_id]
            self.version += 1
            record = None
        if record is None:
            raise EmulatorError(
                Status.NOT_FOUND,
                f"operation {short(operation_id)} not found (finished operations are kept "
                f"for {_duration_text(self._config.retention_seconds)})",
            )
        if not record.done and record.finish_monotonic <= self._clock():
            self._finish(record)
        return record

    def cancel(self, operation_id: str) -> Record:
        """Stop a running operation: it becomes done with error CANCELLED (1)."""
        record = self.lookup(operation_id)
        if record.done:
            raise EmulatorError(
                Status.FAILED_PRECONDITION,
                f"operation {record.id} is already done and cannot be cancelled",
            )
        record.outcome = "error"
        record.error_code = Status.CANCELLED.value
        record.error_message = "the operation was cancelled"
        record.cancelled = True
        self._finish(record)
        return record

    # -- internals --------------------------------------------------------------------

    def _new_id(self) -> str:
        while True:
            tail = "".join(self._rng.choice(_ID_ALPHABET) for _ in range(17))
            candidate = "fbv" + tail
            if candidate not in self._records:
                return candidate

    def _schedule(self, record: Record) -> None:
        loop = self._loop
        if loop is None:
            return
        delay = max(record.finish_monotonic - self._clock(), 0.0)
        loop.call_later(delay, self._finish_due, record.id)

    def _finish_due(self, operation_id: str) -> None:
        with self._lock:  # a timer: the only entry not called under the service's lock
            record = self._records.get(operation_id)
            if record is not None and not record.done:
                self._finish(record)

    def _finish(self, record: Record) -> None:
        now = self._wall()
        record.done = True
        record.done_at = now
        record.modified_at = now
        record.done_monotonic = self._clock()
        self.version += 1

    def _purge(self, *, force: bool = False) -> None:
        now_mono = self._clock()
        if not force and now_mono - self._last_purge < _PURGE_EVERY:
            return
        self._last_purge = now_mono
        expired = [r.id for r in self._records.values() if self._expired(r)]
        for operation_id in expired:
            del self._records[operation_id]
        if expired:
            self.version += 1

    def _expired(self, record: Record) -> bool:
        limit = self._wall() - self._config.retention_seconds
        return record.done and record.done_at is not None and record.done_at < limit


def subject(authorization: str | None) -> str:
    """The ``created_by`` of a caller: a stable id made from its credentials, never them."""
    digest = hashlib.sha256((authorization or "").encode("utf-8")).digest()
    return "aje" + "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest[:17])


def _duration_text(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"

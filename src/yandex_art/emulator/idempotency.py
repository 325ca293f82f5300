"""Idempotency keys: a Generate repeating a key gets the operation the key already started."""

from __future__ import annotations

import asyncio

__all__ = ["IdempotencyKeys", "Slot"]

Slot = tuple[str | None, str]
"""(authorization, idempotency-key): a key is one caller's, never shared between callers."""

_MAX_KEYS = 100_000
"""Keys remembered (the oldest forgotten first)."""


class IdempotencyKeys:
    """The operation each key started, and the keys whose start is under way.

    Not thread-safe: the service calls it under its lock.
    """

    def __init__(self) -> None:
        self._started: dict[Slot, str] = {}
        self._starting: dict[Slot, asyncio.Future[None]] = {}
        """Keys whose Generate is being started now (their record does not exist yet)."""

    def operation_of(self, slot: Slot) -> str | None:
        """The id of the operation ``slot`` started, if it is remembered."""
        return self._started.get(slot)

    def claim(self, slot: Slot) -> asyncio.Future[None] | None:
        """None once the caller holds ``slot`` (it must :meth:`release` it), or the future of
        the start under way for it, to await before looking again.

        WHY: the image is drawn between the key's check and its record; a repeat arriving
        then (a batch rerun right after a kill -9) must wait for this start, not begin a
        second generation.
        """
        under_way = self._starting.get(slot)
        if under_way is None:
            self._starting[slot] = asyncio.get_running_loop().create_future()
        return under_way

    def release(self, slot: Slot) -> None:
        """End the caller's start for ``slot`` (done or failed): those waiting look again."""
        mine = self._starting.pop(slot, None)
        if mine is not None and not mine.done():
            mine.set_result(None)

    def remember(self, slot: Slot, operation_id: str) -> None:
        self._started[slot] = operation_id
        while len(self._started) > _MAX_KEYS:
            self._started.pop(next(iter(self._started)))

    def forget_all(self) -> None:
        """Forget the started operations (a start under way still ends normally)."""
        self._started.clear()

"""What a quota store is: the interface every store implements, and its answer.

A quota store holds sliding-window budgets shared by processes: each budget
is a log of the grants of one kind of call (operation reads, Generate calls)
of one folder at one endpoint. The stores themselves are in ``quota_file``
(one host) and ``quota_redis`` (several hosts); ``quota`` picks one and
wraps it so that it never fails its caller.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["DAMPING", "QuotaStore", "Taken", "budget_key"]

DAMPING = 0.25
"""Seconds: quota refusals this close together are one signal, and halve a budget once."""


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
    """The store key of one budget (``reads``, ``generate-minute``, ...) of a folder.

    Hashed: a key names a file or a Redis key, and must not show the folder or endpoint.
    """
    digest = hashlib.sha256(f"{scope}\n{folder_id}".encode()).hexdigest()[:24]
    return f"{kind}-{digest}"

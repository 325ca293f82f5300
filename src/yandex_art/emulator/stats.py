"""The emulator's statistics: counters since start or the last reset, and each operation's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .faults import METHODS
from .read_quota import ReadQuota
from .state import Record

__all__ = ["CallCounters", "EmulatorStats", "OperationStats", "emulator_stats"]


@dataclass(frozen=True)
class OperationStats:
    """What happened to one operation (times: see :class:`EmulatorStats`)."""

    id: str
    state: str
    """``running``, ``succeeded``, ``failed`` (including the faulty results) or ``cancelled``."""
    reads: int
    """OperationService.Get calls answered for it."""
    created_at: float
    created_monotonic: float
    done_at: float | None
    """``time.time()`` when it became done."""
    done_monotonic: float | None
    """``time.monotonic()`` of the emulator's process when it became done."""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class EmulatorStats:
    """Counters since start or the last reset.

    ``reads`` counts every OperationService.Get that reached the quota check
    (both protocols), ``resource_exhausted`` those refused by it, and
    ``max_reads_per_window`` the most reads accepted within any sliding
    ``read_quota_window`` (1 s by default). Monotonic times are the
    emulator process's ``time.monotonic()``, comparable with the caller's
    when the emulator runs in the same process.
    """

    calls: dict[str, int]
    reads: int
    resource_exhausted: int
    unauthenticated: int
    injected_faults: int
    repeated_generates: int
    """Generate calls answered with the operation their idempotency-key already started."""
    max_reads_per_window: int
    read_quota: int | None
    read_quota_window: float
    operations: dict[str, OperationStats]

    def operation(self, operation_id: str) -> OperationStats:
        return self.operations[operation_id]

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "operations"}
        data["calls"] = dict(self.calls)
        data["operations"] = {k: v.to_dict() for k, v in self.operations.items()}
        return data


@dataclass
class CallCounters:
    """The service's counters of calls (the read quota keeps its own)."""

    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*METHODS, "endpoints"), 0))
    """Calls by method, counted on entry (before faults, credentials and the quota)."""
    unauthenticated: int = 0
    injected_faults: int = 0
    repeated_generates: int = 0


def emulator_stats(
    counters: CallCounters, quota: ReadQuota, records: Iterable[Record]
) -> EmulatorStats:
    """The statistics of these counters and operations."""
    return EmulatorStats(
        calls=dict(counters.calls),
        reads=quota.reads,
        resource_exhausted=quota.exhausted,
        unauthenticated=counters.unauthenticated,
        injected_faults=counters.injected_faults,
        repeated_generates=counters.repeated_generates,
        max_reads_per_window=quota.max_per_window,
        read_quota=quota.quota,
        read_quota_window=quota.window,
        operations={record.id: operation_stats(record) for record in records},
    )


def operation_stats(record: Record) -> OperationStats:
    """What happened to the operation of ``record`` so far."""
    if not record.done:
        state = "running"
    elif record.cancelled:
        state = "cancelled"
    elif record.outcome == "image":
        state = "succeeded"
    else:
        state = "failed"
    return OperationStats(
        id=record.id,
        state=state,
        reads=record.reads,
        created_at=record.created_at,
        created_monotonic=record.created_monotonic,
        done_at=record.done_at,
        done_monotonic=record.done_monotonic,
    )

"""The service's quota of operation reads: at most ``read_quota`` per sliding window."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from grpclib.const import Status

from .errors import EmulatorError

__all__ = ["ReadQuota"]


class ReadQuota:
    """Counts OperationService.Get calls and refuses those over the quota.

    Not thread-safe: the service calls it under its lock. The counters are
    what :class:`~.stats.EmulatorStats` reports.
    """

    def __init__(self, quota: int | None, window: float, clock: Callable[[], float]) -> None:
        self.quota = quota
        """Reads accepted per window; None for no quota."""
        self.window = window
        """The window's length in seconds."""
        self._clock = clock
        self._accepted: deque[float] = deque()
        """When each read of the current window was accepted, oldest first."""
        self.reads = 0
        """Reads counted, refused ones included."""
        self.exhausted = 0
        """Reads refused with RESOURCE_EXHAUSTED."""
        self.max_per_window = 0
        """The most reads accepted within any one window."""

    def count(self) -> None:
        """Count a read; RESOURCE_EXHAUSTED if the window already holds ``quota`` of them."""
        self.reads += 1
        now = self._clock()
        while self._accepted and self._accepted[0] <= now - self.window:
            self._accepted.popleft()
        if self.quota is not None and len(self._accepted) >= self.quota:
            self.exhausted += 1
            raise EmulatorError(
                Status.RESOURCE_EXHAUSTED,
                f"quota exceeded: at most {self.quota} operation reads per {self.window:g} s; "
                "slow down and retry",
            )
        self._accepted.append(now)
        self.max_per_window = max(self.max_per_window, len(self._accepted))

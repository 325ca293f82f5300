"""A clock the test moves by hand, for the token caches of the auth tests."""

from __future__ import annotations

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class FakeClock:
    """``clock()`` answers ``clock.now``, which only the test changes."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

"""Repeating one call that failed in transport, with exponential backoff and jitter.

This is about a single request; how often to poll an unfinished operation is
a separate concern.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import TransportError

__all__ = ["JITTER", "BeforeRetry", "RetryPolicy", "call_with_retry"]

T = TypeVar("T")

_DEFAULT_RETRYABLE = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
# Generate carries an idempotency-key, kept across its retries, so the service
# can tell a repeat from a new request.
_DEFAULT_NON_IDEMPOTENT = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
JITTER = random.Random()
"""The one jitter source of the runtime (backoffs, poll plans) when none is injected."""

BeforeRetry = Callable[[TransportError], Awaitable[None]]
"""Awaited with the error after each backoff, before the retry is sent (an
operation read asks the client's read budget for a slot there)."""


def _codes(name: str, value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str) or not all(isinstance(code, str) for code in value):
        raise TypeError(f"{name} must be a collection of status code strings")
    return frozenset(value)


def _number(name: str, value: float, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum:g}, got {value!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How to repeat a call that failed with a transient transport error.

    ``max_attempts`` counts the first try. The n-th retry waits
    ``initial_backoff * multiplier**(n-1)`` seconds, capped at ``max_backoff``
    and spread by ``±jitter`` (a fraction). Idempotent calls retry on
    ``retryable_codes``; other calls (Generate) only on codes that are in both
    ``retryable_codes`` and ``non_idempotent_codes``, with the same
    ``idempotency-key``. A request that provably never left (connection
    refused, name not resolved) is always retried.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 3.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retryable_codes: frozenset[str] = field(default=_DEFAULT_RETRYABLE)
    non_idempotent_codes: frozenset[str] = field(default=_DEFAULT_NON_IDEMPOTENT)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError(f"max_attempts must be an int, not {type(self.max_attempts).__name__}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        _number("initial_backoff", self.initial_backoff, 0.0)
        _number("max_backoff", self.max_backoff, self.initial_backoff)
        _number("multiplier", self.multiplier, 1.0)
        _number("jitter", self.jitter, 0.0)
        if self.jitter > 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        object.__setattr__(self, "retryable_codes", _codes("retryable_codes", self.retryable_codes))
        object.__setattr__(
            self, "non_idempotent_codes", _codes("non_idempotent_codes", self.non_idempotent_codes)
        )

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def should_retry(self, error: TransportError, *, idempotent: bool) -> bool:
        """Whether ``error`` is worth another attempt (attempt count aside)."""
        if not error.sent:
            return True  # the request never left: repeating it is always safe
        if error.code not in self.retryable_codes:
            return False
        return idempotent or error.code in self.non_idempotent_codes

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), jitter included."""
        if retry < 1:
            raise ValueError(f"retry must be >= 1, got {retry}")
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        spread = 1.0 + self.jitter * (2.0 * (rng or JITTER).random() - 1.0)
        return max(0.0, min(self.max_backoff, base * spread))


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, TransportError, float], None] | None = None,
    before_retry: BeforeRetry | None = None,
) -> T:
    """Await ``fn()`` and repeat it on retryable :class:`TransportError`.

    ``deadline`` is an absolute ``clock()`` value: when the next wait would end
    after it, the last error is raised at once. A server's ``retry_after``
    hint is honoured when it is longer than the computed backoff.
    ``on_retry(attempt, error, delay)`` is called before each wait, where
    ``attempt`` is the 1-based number of the attempt that failed;
    ``before_retry(error)`` is awaited after the wait.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except TransportError as error:
            if attempt >= policy.max_attempts or not policy.should_retry(
                error, idempotent=idempotent
            ):
                raise
            delay = policy.backoff(attempt, rng)
            if error.retry_after is not None and error.retry_after > delay:
                delay = error.retry_after
            if deadline is not None and clock() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, error, delay)
            failed = error
        # Sleep outside the except block so errors of later attempts do not
        # chain onto earlier ones.
        await sleep(delay)
        if before_retry is not None:
            await before_retry(failed)

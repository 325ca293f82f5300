"""Repeating one call that failed in transport, with exponential backoff and jitter.

This is about a single request; how often to poll an unfinished operation is
a separate concern.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from . import logs
from .errors import TransportError

T = TypeVar("T")

_LOG = logs.get("retry")
# Generate carries an idempotency-key, kept across its retries, so the service
# can tell a repeat from a new request: it may retry on the same codes.
_TRANSIENT = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
JITTER = random.Random()
"""The one jitter source of the runtime (backoffs, poll plans) when none is injected."""

BeforeRetry = Callable[[TransportError], Awaitable[None]]
"""Awaited with the error after each backoff, before the retry is sent (an
operation read asks the client's read budget for a slot there)."""


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
    retryable_codes: frozenset[str] = _TRANSIENT
    non_idempotent_codes: frozenset[str] = _TRANSIENT

    def __post_init__(self) -> None:
        if type(self.max_attempts) is not int:
            raise TypeError(f"max_attempts must be an int, not {type(self.max_attempts).__name__}")
        bounds = {
            "max_attempts": (1, math.inf),
            "initial_backoff": (0.0, math.inf),
            "max_backoff": (self.initial_backoff, math.inf),
            "multiplier": (1.0, math.inf),
            "jitter": (0.0, 1.0),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, not {type(value).__name__}")
            if not low <= value <= high or math.isnan(value):
                raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
        for name in ("retryable_codes", "non_idempotent_codes"):
            codes = getattr(self, name)
            if isinstance(codes, str) or not all(isinstance(code, str) for code in codes):
                raise TypeError(f"{name} must be a collection of status code strings")
            object.__setattr__(self, name, frozenset(codes))

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
    before_retry: BeforeRetry | None = None,
    name: str = "call",
) -> T:
    """Await ``fn()`` and repeat it on retryable :class:`TransportError`.

    ``deadline`` is an absolute ``clock()`` value: when the next wait would end
    after it, the last error is raised at once. A server's ``retry_after``
    hint is honoured when it is longer than the computed backoff.
    ``before_retry(error)`` is awaited after each wait; ``name`` is logged.
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
            delay = max(policy.backoff(attempt, rng), error.retry_after or 0.0)
            if deadline is not None and clock() + delay > deadline:
                raise
            if _LOG.isEnabledFor(logging.DEBUG):
                message = "%s: attempt %d failed with %s; retrying in %.3f s"
                _LOG.debug(message, name, attempt, error.code, delay)
            failed = error
        # Sleep outside the except block so errors of later attempts do not
        # chain onto earlier ones.
        await sleep(delay)
        if before_retry is not None:
            await before_retry(failed)

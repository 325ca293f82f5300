"""Repeating one call that failed in transport (polling an operation is a separate concern)."""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from . import logs
from .errors import TransportError
from .validation import Bounds, check_within

T = TypeVar("T")
_LOG = logs.get("retry")
_TRANSIENT = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})  # Generate too, by idempotency-key
JITTER = random.Random()  # the runtime's one jitter source (backoffs, poll plans)


class RetryHooks(Protocol):
    """What the caller of one logical call is told between its attempts."""

    def attempt_failed(self, error: TransportError) -> None:
        """An attempt failed and will be retried; called before the backoff starts."""

    async def before_retry(self, error: TransportError) -> None:
        """Awaited after the backoff, just before the next attempt is sent."""


@dataclass(frozen=True, init=False)
class RetryPolicy:
    """How to repeat a call that failed in transport: the n-th retry waits ``initial_backoff *
    multiplier**(n-1)`` s (at most ``max_backoff``, ``±jitter``); Generate retries only on codes
    also in ``non_idempotent_codes``; a request that never left is always retried.

    The official SDK's names are accepted too: ``backoff_multiplier`` for ``multiplier`` and
    ``retriable_codes`` for ``retryable_codes``; codes may be names or ``grpc.StatusCode``.
    ``jitter`` is relative here (0..1, ±20 % by default), where the official one adds up to
    ``jitter`` seconds.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 3.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retryable_codes: frozenset[str] = _TRANSIENT
    non_idempotent_codes: frozenset[str] = _TRANSIENT

    def __init__(
        self,
        max_attempts: int = 5,
        initial_backoff: float = 0.1,
        max_backoff: float = 3.0,
        multiplier: float | None = None,
        jitter: float = 0.2,
        retryable_codes: Iterable[Any] | None = None,
        non_idempotent_codes: Iterable[Any] = _TRANSIENT,
        *,
        backoff_multiplier: float | None = None,
        retriable_codes: Iterable[Any] | None = None,
    ) -> None:
        if multiplier is not None and backoff_multiplier is not None:
            raise TypeError("pass multiplier or backoff_multiplier (its official name), not both")
        if retryable_codes is not None and retriable_codes is not None:
            raise TypeError("pass retryable_codes or retriable_codes (its official name), not both")
        chosen_multiplier = multiplier if multiplier is not None else backoff_multiplier
        codes = retryable_codes if retryable_codes is not None else retriable_codes
        values = {
            "max_attempts": max_attempts,
            "initial_backoff": initial_backoff,
            "max_backoff": max_backoff,
            "multiplier": 2.0 if chosen_multiplier is None else chosen_multiplier,
            "jitter": jitter,
            "retryable_codes": _TRANSIENT if codes is None else codes,
            "non_idempotent_codes": non_idempotent_codes,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    @property
    def backoff_multiplier(self) -> float:
        """``multiplier``, by the official SDK's name."""
        return self.multiplier

    @property
    def retriable_codes(self) -> frozenset[str]:
        """``retryable_codes``, by the official SDK's name (as status names)."""
        return self.retryable_codes

    def __post_init__(self) -> None:
        _check_range("max_attempts", self.max_attempts, 1, integer=True)
        _check_range("initial_backoff", self.initial_backoff, 0.0)
        _check_range("max_backoff", self.max_backoff, self.initial_backoff)
        _check_range("multiplier", self.multiplier, 1.0)
        _check_range("jitter", self.jitter, 0.0, 1.0)
        for name in ("retryable_codes", "non_idempotent_codes"):
            codes = getattr(self, name)
            if isinstance(codes, str | bytes) or not isinstance(codes, Iterable):
                raise TypeError(f"{name} must be a collection of status code names")
            names = [code.name if isinstance(code, enum.Enum) else code for code in codes]
            if not all(isinstance(code, str) for code in names):  # grpc.StatusCode is an Enum
                raise TypeError(f"{name} must hold status code names or grpc.StatusCode values")
            object.__setattr__(self, name, frozenset(names))

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), jitter included."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        spread = 1.0 + self.jitter * (2.0 * (rng or JITTER).random() - 1.0)
        return max(0.0, min(self.max_backoff, base * spread))


class NoRetryPolicy(RetryPolicy):
    """No retries: every call is tried once (the official SDK's ``NoRetryPolicy``)."""

    def __init__(self) -> None:
        super().__init__(max_attempts=1)


def _check_range(
    name: str, value: float, low: float, high: float = math.inf, *, integer: bool = False
) -> None:  # value is what the caller passed, whatever the annotation says
    check_within(name, value, Bounds(integer=integer, minimum=low, maximum=high, finite=False))


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    hooks: RetryHooks | None = None,
    name: str = "call",
) -> T:
    """Await ``fn()`` until it succeeds, the policy gives up or a wait would pass ``deadline``."""
    codes = policy.retryable_codes
    codes = codes if idempotent else codes & policy.non_idempotent_codes
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except TransportError as error:
            retry = attempt < policy.max_attempts and (not error.sent or error.code in codes)
            delay = max(policy.backoff(attempt), error.retry_after or 0.0)
            if not retry or (deadline is not None and clock() + delay > deadline):
                raise
            message = "%s: attempt %d failed with %s; retrying in %.3f s"
            _LOG.debug(message, name, attempt, error.code, delay)
            failed = error
            if hooks is not None:
                hooks.attempt_failed(failed)
        await sleep(delay)  # outside the except block: later errors do not chain onto earlier ones
        if hooks is not None:
            await hooks.before_retry(failed)

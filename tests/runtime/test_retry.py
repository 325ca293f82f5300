import random
from collections.abc import Awaitable, Callable

import pytest

from yandex_art._runtime.errors import InvalidArgumentError, TransportError
from yandex_art._runtime.retry import RetryPolicy, call_with_retry


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def err(code: str, retry_after: float | None = None) -> TransportError:
    return TransportError("boom", code=code, endpoint="e:443", retry_after=retry_after)


def failing(
    *errors: BaseException, result: str = "ok"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls = [0]
    queue = list(errors)

    async def fn() -> str:
        calls[0] += 1
        if queue:
            raise queue.pop(0)
        return result

    return fn, calls


NO_JITTER = RetryPolicy(jitter=0.0)


async def test_default_policy() -> None:
    p = RetryPolicy()
    assert p.max_attempts == 5
    assert p.retryable_codes == frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
    assert p.non_idempotent_codes == frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_backoff": -1},
        {"max_backoff": 0.01},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"initial_backoff": float("nan")},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_type_validation() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(max_attempts=True)
    with pytest.raises(TypeError):
        RetryPolicy(max_attempts=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RetryPolicy(retryable_codes="UNAVAILABLE")  # type: ignore[arg-type]


def test_codes_are_frozen() -> None:
    p = RetryPolicy(retryable_codes={"UNAVAILABLE"})  # type: ignore[arg-type]
    assert p.retryable_codes == frozenset({"UNAVAILABLE"})
    assert isinstance(p.retryable_codes, frozenset)


def test_backoff_grows_and_caps() -> None:
    assert [NO_JITTER.backoff(n) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.0, 3.0]


def test_backoff_jitter_stays_in_band() -> None:
    rng = random.Random(1)
    p = RetryPolicy(jitter=0.2)
    values = [p.backoff(2, rng) for _ in range(500)]
    assert all(0.16 <= v <= 0.24 for v in values)
    assert len(set(values)) > 100


async def test_success_first_try() -> None:
    t = FakeTime()
    fn, calls = failing()
    assert (
        await call_with_retry(fn, policy=NO_JITTER, idempotent=True, clock=t.clock, sleep=t.sleep)
        == "ok"
    )
    assert calls == [1]
    assert t.sleeps == []


async def test_retries_idempotent_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    fn, calls = failing(err("UNAVAILABLE"), err("UNAVAILABLE"))
    with caplog.at_level("DEBUG", logger="yandex_art.retry"):
        result = await call_with_retry(
            fn, policy=NO_JITTER, idempotent=True, clock=t.clock, sleep=t.sleep, name="Get"
        )
    assert result == "ok"
    assert calls == [3]
    assert t.sleeps == [0.1, 0.2]
    assert [r.getMessage() for r in caplog.records if r.name == "yandex_art.retry"] == [
        "Get: attempt 1 failed with UNAVAILABLE; retrying in 0.100 s",
        "Get: attempt 2 failed with UNAVAILABLE; retrying in 0.200 s",
    ]


async def test_gives_up_after_max_attempts_with_last_error() -> None:
    t = FakeTime()
    errors = [err("UNAVAILABLE") for _ in range(5)]
    fn, calls = failing(*errors)
    with pytest.raises(TransportError) as info:
        await call_with_retry(fn, policy=NO_JITTER, idempotent=True, clock=t.clock, sleep=t.sleep)
    assert info.value is errors[-1]
    assert calls == [5]
    assert len(t.sleeps) == 4
    assert info.value.__context__ is None  # no chain of earlier attempts


async def test_non_retryable_code_raises_at_once() -> None:
    t = FakeTime()
    fn, calls = failing(err("INVALID_ARGUMENT"))
    with pytest.raises(TransportError):
        await call_with_retry(fn, policy=NO_JITTER, idempotent=True, clock=t.clock, sleep=t.sleep)
    assert calls == [1]


async def test_other_exceptions_are_not_retried() -> None:
    t = FakeTime()
    fn, calls = failing(InvalidArgumentError("x", "bad"))
    with pytest.raises(InvalidArgumentError):
        await call_with_retry(fn, policy=NO_JITTER, idempotent=True, clock=t.clock, sleep=t.sleep)
    assert calls == [1]


async def test_non_idempotent_retries_only_the_safe_codes() -> None:
    t = FakeTime()
    fn, calls = failing(err("INTERNAL"))
    with pytest.raises(TransportError):
        await call_with_retry(fn, policy=NO_JITTER, idempotent=False, clock=t.clock, sleep=t.sleep)
    assert calls == [1]
    fn, calls = failing(err("DEADLINE_EXCEEDED"))  # it may have been created: not repeated
    with pytest.raises(TransportError):
        await call_with_retry(fn, policy=NO_JITTER, idempotent=False, clock=t.clock, sleep=t.sleep)
    assert calls == [1]

    fn, calls = failing(err("UNAVAILABLE"))
    assert (
        await call_with_retry(fn, policy=NO_JITTER, idempotent=False, clock=t.clock, sleep=t.sleep)
        == "ok"
    )
    assert calls == [2]


async def test_a_request_that_never_left_is_always_retried() -> None:
    t = FakeTime()
    unsent = TransportError("refused", code="UNAVAILABLE", endpoint="e", sent=False)
    policy = RetryPolicy(retryable_codes=frozenset(), non_idempotent_codes=frozenset(), jitter=0)
    fn, calls = failing(unsent)
    assert (
        await call_with_retry(fn, policy=policy, idempotent=False, clock=t.clock, sleep=t.sleep)
        == "ok"
    )
    assert calls == [2]

    fn, calls = failing(err("RESOURCE_EXHAUSTED"), err("RESOURCE_EXHAUSTED"))
    assert (
        await call_with_retry(fn, policy=NO_JITTER, idempotent=False, clock=t.clock, sleep=t.sleep)
        == "ok"
    )
    assert calls == [3]


async def test_non_idempotent_needs_code_in_retryable_codes_too() -> None:
    t = FakeTime()
    policy = RetryPolicy(retryable_codes=frozenset({"UNAVAILABLE"}), jitter=0)
    fn, calls = failing(err("RESOURCE_EXHAUSTED"))
    with pytest.raises(TransportError):
        await call_with_retry(fn, policy=policy, idempotent=False, clock=t.clock, sleep=t.sleep)
    assert calls == [1]


async def test_retry_after_honoured_when_larger() -> None:
    t = FakeTime()
    fn, _ = failing(
        err("RESOURCE_EXHAUSTED", retry_after=2.5), err("RESOURCE_EXHAUSTED", retry_after=0.01)
    )
    await call_with_retry(fn, policy=NO_JITTER, idempotent=True, clock=t.clock, sleep=t.sleep)
    assert t.sleeps == [2.5, 0.2]


async def test_deadline_stops_before_oversleeping() -> None:
    t = FakeTime()
    errors = [err("UNAVAILABLE") for _ in range(5)]
    fn, calls = failing(*errors)
    with pytest.raises(TransportError) as info:
        await call_with_retry(
            fn,
            policy=NO_JITTER,
            idempotent=True,
            deadline=t.now + 0.35,
            clock=t.clock,
            sleep=t.sleep,
        )
    # 0.1 + 0.2 fit; the third wait (0.4) would pass the deadline.
    assert t.sleeps == [0.1, 0.2]
    assert calls == [3]
    assert info.value is errors[2]
    assert t.now <= 100.35


async def test_deadline_with_retry_after() -> None:
    t = FakeTime()
    fn, calls = failing(err("UNAVAILABLE", retry_after=10))
    with pytest.raises(TransportError):
        await call_with_retry(
            fn, policy=NO_JITTER, idempotent=True, deadline=t.now + 5, clock=t.clock, sleep=t.sleep
        )
    assert calls == [1]
    assert t.sleeps == []


async def test_none_policy_never_retries() -> None:
    t = FakeTime()
    fn, calls = failing(err("UNAVAILABLE"))
    with pytest.raises(TransportError):
        await call_with_retry(
            fn, policy=RetryPolicy(max_attempts=1), idempotent=True, clock=t.clock, sleep=t.sleep
        )
    assert calls == [1]


async def test_waits_are_jittered() -> None:
    t = FakeTime()
    fn, _ = failing(err("UNAVAILABLE"), err("UNAVAILABLE"))
    await call_with_retry(fn, policy=RetryPolicy(), idempotent=True, clock=t.clock, sleep=t.sleep)
    assert t.sleeps != [0.1, 0.2]
    assert 0.08 <= t.sleeps[0] <= 0.12 and 0.16 <= t.sleeps[1] <= 0.24


async def test_real_sleep_default_is_short() -> None:
    fn, calls = failing(err("UNAVAILABLE"))
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.001, jitter=0)
    assert await call_with_retry(fn, policy=policy, idempotent=True) == "ok"
    assert calls == [2]

"""model.run_batch(): sync and async, per-item errors, concurrency, rate, quota refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from yandex_art import BatchRequest
from yandex_art._runtime.batch import RateLimiter
from yandex_art._runtime.errors import InvalidArgumentError, OperationFailedError
from yandex_art.emulator import Emulator


def test_sync_batch_yields_every_item_once(emu: Emulator) -> None:
    prompts = [f"cat {i}" for i in range(6)]
    with emu.sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        items = list(model.run_batch(prompts, concurrency=3, rate_per_minute=None))
    assert sorted(item.index for item in items) == list(range(6))
    assert all(item.ok and item.result is not None for item in items)
    assert len({item.operation_id for item in items}) == 6
    assert emu.stats().calls["generate"] == 6


async def test_async_batch_reports_errors_per_item(emu: Emulator) -> None:
    emu.faults.fail_generations(1, code=13, message="boom")
    requests: list[Any] = [
        BatchRequest("one", name="a"),
        BatchRequest("x" * 501, name="too long"),  # refused before sending
        BatchRequest("three", {"seed": 7, "width_ratio": 2, "height_ratio": 1}, name="c"),
    ]
    async with emu.async_sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        items = [i async for i in model.run_batch(requests, concurrency=1, rate_per_minute=None)]
    by_name = {item.name: item for item in items}
    assert isinstance(by_name["too long"].error, InvalidArgumentError)
    assert by_name["too long"].operation_id is None
    failed = [item for item in items if isinstance(item.error, OperationFailedError)]
    assert len(failed) == 1 and failed[0].operation_id is not None
    assert sum(item.ok for item in items) == 1
    assert emu.stats().calls["generate"] == 2


async def test_concurrency_bounds_operations_in_flight(start_emulator: Any) -> None:
    slow = start_emulator(generation_seconds=0.2)
    live: list[int] = []
    peak = 0

    def started(index: int, request: BatchRequest, operation: Any) -> None:
        nonlocal peak
        live.append(index)
        peak = max(peak, len(live))

    async with slow.async_sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        async for item in model.run_batch(
            [str(i) for i in range(8)], concurrency=2, rate_per_minute=None, on_started=started
        ):
            live.remove(item.index)
    assert peak == 2


async def test_quota_refused_starts_are_retried_not_reported(emu: Emulator) -> None:
    # More refusals than the transport's own retries take: the batch waits and tries again.
    emu.faults.fail_calls("generate", 6, code="RESOURCE_EXHAUSTED")
    async with emu.async_sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        items = [i async for i in model.run_batch(["a", "b"], rate_per_minute=None)]
    assert all(item.ok for item in items)
    assert emu.stats().calls["generate"] == 2 + 6


async def test_rate_limiter_spaces_and_slows_down() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await limiter.acquire()
    assert now[0] == pytest.approx(1.0)  # three starts, 0.5 s apart
    hold = limiter.slow_down(retry_after=3.0)
    assert hold == 3.0 and limiter.interval == 1.0
    await limiter.acquire()
    assert now[0] == pytest.approx(4.0)
    assert asyncio.iscoroutinefunction(limiter.acquire)


def test_bad_concurrency_is_refused(emu: Emulator) -> None:
    with emu.sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        with pytest.raises(ValueError, match="concurrency"):
            list(model.run_batch(["a"], concurrency=0))

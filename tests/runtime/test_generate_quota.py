"""Batches take the folder's Generate quotas from the quota store, and pause for the day."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from yandex_art._runtime.batch import BatchItem, BatchRequest, run_batch
from yandex_art._runtime.errors import QuotaPausedError, TransportError
from yandex_art._runtime.quota import LocalFileStore, SharedBudget


class _Op:
    def __init__(self, n: int) -> None:
        self.id = f"op-{n}"

    async def wait(self, **_: Any) -> str:
        await asyncio.sleep(0.01)
        return f"image of {self.id}"


class _Service:
    """A fake Generate: records start times; refuses as told."""

    def __init__(self, refuse_after: int | None = None, refusal: TransportError | None = None):
        self.starts: list[float] = []
        self.refuse_after, self.refusal = refuse_after, refusal

    async def start(self, request: BatchRequest) -> Any:
        if self.refuse_after is not None and len(self.starts) >= self.refuse_after:
            assert self.refusal is not None
            raise self.refusal
        self.starts.append(time.monotonic())
        return _Op(len(self.starts))


async def _run(service: _Service, count: int, quota: list[SharedBudget]) -> list[BatchItem[Any]]:
    requests = [BatchRequest(f"cat {k}", name=str(k)) for k in range(count)]
    return [
        item
        async for item in run_batch(
            requests,
            start=service.start,
            concurrency=4,
            rate_per_minute=None,
            generate_quota=quota,
        )
    ]


def _budgets(directory: Path, key: str, per_window: int, window: float, per_day: int) -> list[Any]:
    store = LocalFileStore(directory)  # an object of its own: as another process would have
    return [
        SharedBudget(store, f"{key}-minute", per_window, window),
        SharedBudget(store, f"{key}-day", per_day, 3600.0),
    ]


def test_two_batches_share_the_generate_rate(tmp_path: Path) -> None:
    key, one, two = uuid.uuid4().hex, _Service(), _Service()

    async def both() -> None:
        await asyncio.gather(
            _run(one, 6, _budgets(tmp_path, key, 3, 0.5, 100)),
            _run(two, 6, _budgets(tmp_path, key, 3, 0.5, 100)),
        )

    asyncio.run(both())

    starts = sorted(one.starts + two.starts)
    assert len(starts) == 12
    # at most 3 starts in any 0.5 s, counting both batches (a little slack for the clocks)
    assert max(sum(1 for t in starts if s <= t < s + 0.48) for s in starts) <= 3


def test_a_full_day_budget_pauses_the_batch_with_a_resume_hint(tmp_path: Path) -> None:
    service = _Service()
    started = time.monotonic()
    items = asyncio.run(_run(service, 7, _budgets(tmp_path, uuid.uuid4().hex, 100, 60.0, 3)))

    assert time.monotonic() - started < 5  # paused, not waiting for the day
    done = [i for i in items if i.ok]
    paused = [i for i in items if isinstance(i.error, QuotaPausedError)]
    assert len(done) == 3 and len(paused) == 4 and len(service.starts) == 3
    assert all(i.operation_id is None for i in paused)
    hint = paused[0].error.resume_after  # type: ignore[union-attr]
    assert hint is not None and 3000 < hint <= 3600


@pytest.mark.parametrize(
    "refusal",
    [
        TransportError("quota exceeded", code="RESOURCE_EXHAUSTED", endpoint="e", retry_after=7200),
        TransportError(
            "quota exceeded: 5000 Generate requests per day",
            code="RESOURCE_EXHAUSTED",
            endpoint="e",
        ),
    ],
)
def test_a_per_day_refusal_pauses_instead_of_failing_items(
    tmp_path: Path, refusal: TransportError
) -> None:
    service = _Service(refuse_after=2, refusal=refusal)
    quota = _budgets(tmp_path, uuid.uuid4().hex, 100, 60.0, 1000)
    started = time.monotonic()
    items = asyncio.run(_run(service, 6, quota))

    assert time.monotonic() - started < 5  # no retries through the day
    assert sum(i.ok for i in items) == 2
    paused = [i.error for i in items if not i.ok]
    assert len(paused) == 4 and all(isinstance(e, QuotaPausedError) for e in paused)
    if refusal.retry_after:
        assert all(7000 < e.resume_after <= 7200 for e in paused)  # type: ignore[union-attr]
    # ... and the day's refusal reached the store: another process's budget is smaller now
    other = SharedBudget(LocalFileStore(tmp_path), quota[1].key, 1000, 3600.0)
    assert sum(other.take_now().granted for _ in range(1000)) <= 500

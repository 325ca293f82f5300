"""The client-wide read budget, the duration model and the poll plan."""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import random
from typing import TYPE_CHECKING

import pytest

from yandex_art._runtime import durations as durations_module
from yandex_art._runtime.durations import DurationModel
from yandex_art._runtime.poll_policy import PollPolicy, quantile
from yandex_art._runtime.read_budget import Grant, PollScheduler

from .conftest import CountingScheduler

if TYPE_CHECKING:
    from .conftest import Sim


async def _slot(scheduler: PollScheduler, due: float) -> None:
    """A read that takes no time: granted, and released at once."""
    scheduler.release(await scheduler.acquire(due))


async def _grant_times(scheduler: PollScheduler, clock: Sim, dues: list[float]) -> list[float]:
    times: list[float] = []

    async def one(due: float) -> None:
        await _slot(scheduler, due)
        times.append(clock.clock())

    await asyncio.gather(*(one(due) for due in dues))
    return times


# --------------------------------------------------------------------------- scheduler


def test_slot_returns_at_due_time(sim: Sim) -> None:
    async def main() -> float:
        await _slot(sim.scheduler, 2.5)
        return sim.clock()

    assert sim.run(main()) == pytest.approx(2.5)
    assert sim.scheduler.granted == 1


def test_slot_due_in_the_past_is_granted_at_once(sim: Sim) -> None:
    async def main() -> float:
        await asyncio.sleep(3)
        await _slot(sim.scheduler, 1.0)
        return sim.clock()

    assert sim.run(main()) == pytest.approx(3.0)


def test_reads_in_any_window_stay_within_budget(sim: Sim) -> None:
    times = sim.run(_grant_times(sim.scheduler, sim, [0.0] * 230))

    assert len(times) == 230
    assert sim.max_in_window(times, 1.0) == 50
    assert sim.max_in_window(times, 1.0 + 0.019) <= 50  # the guard covers network jitter
    assert max(times) == pytest.approx(4 * 1.02)
    assert sim.scheduler.granted == 230
    assert sim.scheduler.waiting == 0


def test_budget_follows_max_reads_per_second(sim: Sim) -> None:
    scheduler = PollScheduler(max_reads_per_second=10, clock=sim.clock)
    times = sim.run(_grant_times(scheduler, sim, [0.0] * 25))
    assert scheduler.reads_per_window == 10
    assert sorted(times)[::10] == pytest.approx([0.0, 1.02, 2.04])


def test_saturated_reads_are_granted_by_due_time(sim: Sim) -> None:
    async def main() -> list[float]:
        await _grant_times(sim.scheduler, sim, [0.0] * 50)  # use up the first window
        order: list[float] = []

        async def one(due: float) -> None:
            await _slot(sim.scheduler, due)
            order.append(due)

        dues = [0.5, 0.1, 0.9, 0.3, 0.2, 0.7]
        await asyncio.gather(*(one(due) for due in dues))
        return order

    assert sim.run(main()) == sorted([0.5, 0.1, 0.9, 0.3, 0.2, 0.7])
    assert sim.clock() == pytest.approx(1.02)


def test_cancelled_waiter_does_not_keep_its_place(sim: Sim) -> None:
    async def main() -> tuple[float, int]:
        await _grant_times(sim.scheduler, sim, [0.0] * 50)
        first = asyncio.create_task(_slot(sim.scheduler, 0.1))
        second = asyncio.create_task(_slot(sim.scheduler, 0.2))
        await asyncio.sleep(0.5)
        assert sim.scheduler.waiting == 2
        first.cancel()
        await asyncio.sleep(0)
        await second
        assert first.cancelled()
        return sim.clock(), sim.scheduler.waiting

    granted_at, waiting = sim.run(main())
    assert granted_at == pytest.approx(1.02)  # the first free slot, not the one after
    assert waiting == 0
    assert sim.scheduler.granted == 51


def test_unlimited_scheduler_only_waits_for_due_time(sim: Sim) -> None:
    scheduler = PollScheduler(max_reads_per_second=None, clock=sim.clock)
    times = sim.run(_grant_times(scheduler, sim, [0.0] * 500 + [1.5]))
    assert times.count(0.0) == 500
    assert max(times) == pytest.approx(1.5)
    unlimited = PollScheduler(max_reads_per_second=math.inf, clock=sim.clock)
    unlimited.note_exhausted(None)  # still more than anyone reads
    assert sim.run(_grant_times(unlimited, sim, [0.0] * 500)).count(sim.clock()) == 500


def test_quota_refusal_lowers_the_budget_for_a_while(sim: Sim) -> None:
    async def main() -> list[float]:
        sim.scheduler.note_exhausted(retry_after=2.0)
        return await _grant_times(sim.scheduler, sim, [0.0] * 150)

    times = sim.run(main())
    in_first_window = [t for t in times if t < 1.0]
    assert len(in_first_window) == 25  # halved
    # Full budget again once the pressure (retry_after + one window) is over.
    after = [t for t in times if 3.0 <= t < 4.0]
    assert len(after) == 50
    assert sim.max_in_window(times, 1.0) <= 50


def test_repeated_refusals_halve_again(sim: Sim) -> None:
    async def main() -> list[float]:
        sim.scheduler.note_exhausted(None)
        sim.scheduler.note_exhausted(None)
        return await _grant_times(sim.scheduler, sim, [0.0] * 30)

    times = sim.run(main())
    assert len([t for t in times if t < 1.0]) == 12


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_scheduler_survives_its_loop_closing_with_waiters() -> None:
    now = [0.0]  # a clock moved by hand: the new loop comes after the window
    scheduler = CountingScheduler(max_reads_per_second=1, clock=lambda: now[0])
    old = asyncio.new_event_loop()
    old.run_until_complete(_slot(scheduler, 0.0))  # uses up the window
    stranded = old.create_task(_slot(scheduler, 0.0))
    old.run_until_complete(asyncio.sleep(0))  # the dispatcher now waits on the old loop
    assert scheduler.waiting == 1
    old.close()  # abruptly: the waiter and the dispatcher never finish
    del stranded
    now[0] = 5.0

    async def later() -> None:
        await asyncio.wait_for(_slot(scheduler, 0.0), timeout=2)

    asyncio.run(later())
    assert scheduler.granted == 2
    gc.collect()  # the abandoned tasks complain now, inside this test


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_reads_per_second": 0}, "max_reads_per_second"),
        ({"max_reads_per_second": -5}, "max_reads_per_second"),
        ({"max_reads_per_second": float("nan")}, "max_reads_per_second"),
    ],
)
def test_scheduler_rejects_bad_settings(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        PollScheduler(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- durations


def test_duration_is_the_midpoint_between_last_running_and_done() -> None:
    model = DurationModel()
    recorded = model.learn("m", running_at=2.8, done_at=3.0)
    assert recorded == pytest.approx(2.9)
    assert model.history("m") == pytest.approx((2.9,))
    assert model.history("other") == ()


def test_duration_model_keeps_the_last_n() -> None:
    model = DurationModel()
    for seconds in range(durations_module.KEEP + 3):
        model.observe("m", float(seconds))
    assert model.history("m") == tuple(float(s) for s in range(3, durations_module.KEEP + 3))


def test_reads_held_back_for_long_are_not_learned() -> None:
    model = DurationModel()
    assert model.learn("m", running_at=4.0, done_at=60.0) is None
    assert model.learn("m", running_at=5.0, done_at=4.0) is None
    assert model.history("m") == ()


def test_coarse_observations_give_way_to_precise_ones() -> None:
    model = DurationModel()
    model.observe("m", 3.3, uncertainty=0.8)  # from cold backoff
    assert model.history("m") == (3.3,)
    model.observe("m", 3.0, uncertainty=0.05)
    model.observe("m", 3.05, uncertainty=0.05)
    assert model.history("m") == (3.0, 3.05)
    # A coarse observation wholly outside the precise range still counts:
    # the operation finished earlier than anything seen before.
    model.observe("m", 2.2, uncertainty=0.5)
    assert model.history("m") == (3.0, 3.05, 2.2)


def test_quantile_interpolates() -> None:
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([1.0, 2.0], 0.1) == pytest.approx(1.1)
    assert quantile([7.0], 0.9) == 7.0


# --------------------------------------------------------------------------- plan


def _schedule(
    policy: PollPolicy,
    duration: float,
    history: tuple[float, ...] = (),
    uncertainty: float = 0.0,
) -> list[float]:
    """Read ages the plan picks for an operation that takes ``duration``."""
    rng = random.Random(5)
    reads: list[float] = []
    last = None
    while last is None or last < duration:
        last = policy.next_read_age(
            age=last or 0.0,
            last_read_age=last,
            history=history,
            uncertainty=uncertainty,
            rng=rng,
        )
        reads.append(last)
    return reads


def test_cold_plan_is_geometric_backoff_up_to_the_cap() -> None:
    policy = PollPolicy(jitter=0.0)
    reads = _schedule(policy, 9.0)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *reads])]
    assert gaps[:4] == pytest.approx([0.15, 0.24, 0.384, 0.6144])
    assert max(gaps) == pytest.approx(2.0)
    assert all(b >= a for a, b in itertools.pairwise(gaps))


def test_plan_with_history_reads_sparsely_then_densely() -> None:
    # The learned plan alone; the lag bound has its own tests. One sparse read (off by
    # default: the lag bound's reads do its work) to see it placed.
    policy = PollPolicy(jitter=0.0, lag_fraction=math.inf, lag_constant=math.inf, sparse_reads=1)
    history = tuple(19.0 + 0.2 * i for i in range(11))  # p10 19.2, p90 20.8
    reads = _schedule(policy, 20.0, history=history)
    margin = 20.0 * policy.prior_spread / 11
    lo = min(policy.lead * 19.2, 19.2 - margin)
    hi = max(20.8 * (1 + policy.tail), 20.8 + margin)
    step = max((hi - lo) / policy.dense_reads, policy.dense_step_fraction * 20.0)
    assert policy.window(history) == pytest.approx((lo, hi, step))
    assert reads[0] == pytest.approx(lo / 2)
    # The first dense read comes one step into the window, then a read every step.
    assert reads[1] == pytest.approx(lo + step)
    dense = [b - a for a, b in itertools.pairwise(reads[1:])]
    assert dense and all(g == pytest.approx(step) for g in dense)
    assert len(reads) <= 1 + policy.dense_reads


def test_a_narrow_window_reads_no_closer_than_the_minimum_step() -> None:
    policy = PollPolicy(jitter=0.0)
    # Eight durations within 40 ms of 8 s: a window of ~0.5 s, but reads stay at least
    # min_dense_step and dense_step_fraction of the duration apart, so close history cannot
    # buy lag with reads.
    history = tuple(8.0 + 0.005 * i for i in range(8))
    lo, hi, step = policy.window(history)
    assert (hi - lo) / policy.dense_reads < policy.min_dense_step
    floor = max(policy.min_dense_step, policy.dense_step_fraction * quantile(history, 0.5))
    assert step == pytest.approx(floor) and step > 0.25
    short = policy.window((0.5, 0.52, 0.55))
    assert short[2] == pytest.approx(policy.min_dense_step)


def test_plan_with_a_tight_history_reads_just_after_the_expected_end() -> None:
    # The learned plan alone; the lag bound has its own tests.
    policy = PollPolicy(jitter=0.0, lag_fraction=math.inf, lag_constant=math.inf)
    history = (20.0, 20.004, 19.998)
    target = quantile(history, 0.9) + 0.001
    reads = _schedule(policy, 20.0, history=history)
    sparse = [target * (1 - 0.5**k) for k in range(1, policy.sparse_reads + 1)]
    assert reads == pytest.approx([*sparse, target])
    # Later than expected: intervals grow from tight_interval, not from the dense step.
    late = _schedule(policy, 20.5, history=(20.0,) * 3)
    gaps = [b - a for a, b in itertools.pairwise(late[policy.sparse_reads :])]
    assert gaps[0] == pytest.approx(0.01)
    assert all(b > a for a, b in itertools.pairwise(gaps))
    assert late[-1] - 20.5 < 0.5 * (20.5 - 20.001)  # lag bounded by the growth


def test_early_sparse_reads_are_skipped_only_for_precise_durations() -> None:
    # The learned plan alone; the lag bound has its own tests.
    policy = PollPolicy(jitter=0.0, lag_fraction=math.inf, lag_constant=math.inf, sparse_reads=1)
    history = (2.8, 3.0, 3.2)  # a 3 s model: its sparse read would come at ~1.3 s
    lo = policy.window(history)[0]
    precise = _schedule(policy, 3.0, history=history)
    step = policy.window(history)[2]
    assert precise[0] == pytest.approx(lo + step)  # straight to the likely window
    coarse = _schedule(policy, 3.0, history=history, uncertainty=0.5)
    assert coarse[0] == pytest.approx(lo / 2)  # a running read that bounds the next estimate
    assert len(coarse) == len(precise) + 1
    # Tight and short: one read just after the expected end, nothing before it.
    assert _schedule(policy, 3.0, history=(3.0, 3.0)) == pytest.approx([3.001])
    # Long operations keep their sparse read (at >= sparse_min_age).
    long = _schedule(policy, 20.0, history=(20.0, 20.0))
    assert long == pytest.approx([20.001 / 2, 20.001])
    assert long[0] >= policy.sparse_min_age


def test_few_observations_widen_the_window_and_one_is_never_tight() -> None:
    # The learned plan alone; the lag bound has its own tests.
    policy = PollPolicy(jitter=0.0, lag_fraction=math.inf, lag_constant=math.inf)
    one = policy.window((20.0,))
    assert one[0] == pytest.approx(18.0) and one[1] == pytest.approx(22.0)  # +-10% of one
    two = policy.window((20.0, 20.0))
    margin = 20.0 * 0.1 / 2
    assert two[0] == pytest.approx(20.0 - margin) and two[1] == pytest.approx(20.0 + margin)
    # A single observation is read across its window, not just after it.
    reads = _schedule(policy, 21.5, history=(20.0,))
    step = one[2]
    assert reads[0] == pytest.approx(18.0 + step)
    assert len(reads) <= policy.dense_reads + 1
    assert reads[-1] - 21.5 <= step


def test_server_timestamps_give_precise_durations_when_they_fit() -> None:
    model = DurationModel()
    ages = {"running_at": 19.8, "done_at": 20.1}
    assert model.learn("k", created_at=100.25, modified_at=120.25, **ages) == 20.0
    assert model.history("k") == (20.0,) and model.uncertainty("k") == 0.0
    # Not updated on completion (modified == created): the client's view wins.
    assert model.learn("k", created_at=100.5, modified_at=100.5, **ages) == pytest.approx(19.95)
    assert model.uncertainty("k") == pytest.approx(0.15)
    # Whole seconds only: kept, but as a coarse observation.
    coarse = DurationModel()
    coarse.learn("k", created_at=100.0, modified_at=120.0, **ages)
    assert coarse.uncertainty("k") == 1.0
    coarse.observe("k", 20.5, uncertainty=0.01)
    coarse.observe("k", 20.5, uncertainty=0.01)
    assert coarse.history("k") == (20.5, 20.5)  # 20 +- 1 overlaps the precise ones: dropped


def test_plan_falls_back_to_backoff_after_the_likely_window() -> None:
    policy = PollPolicy(jitter=0.0)
    reads = _schedule(policy, 60.0, history=(3.0,) * 10)
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert max(gaps) == pytest.approx(policy.max_interval)
    assert gaps[-5:] == pytest.approx([2.0] * 5)


def test_plan_never_reads_in_the_past_and_is_reproducible() -> None:
    policy = PollPolicy()
    history = (2.8, 3.1, 3.0)
    for age, last in [(0.0, None), (5.0, 0.2), (2.9, 2.85), (40.0, 39.0)]:
        first = policy.next_read_age(
            age=age, last_read_age=last, history=history, rng=random.Random(1)
        )
        again = policy.next_read_age(
            age=age, last_read_age=last, history=history, rng=random.Random(1)
        )
        assert first == again
        assert first >= age


def test_plan_jitter_spreads_reads() -> None:
    policy = PollPolicy()
    rng = random.Random(3)
    picks = {policy.next_read_age(age=0.0, last_read_age=None, rng=rng) for _ in range(50)}
    assert len(picks) > 40
    assert min(picks) >= 0.15 * 0.85 and max(picks) <= 0.15 * 1.15


# --------------------------------------------------------------------------- many operations


def test_thousand_concurrent_operations_share_the_budget(sim: Sim) -> None:
    ops = [sim.operation(5.0) for _ in range(1000)]

    async def main() -> list[str]:
        return await asyncio.gather(*(op.wait() for op in ops))

    results = sim.run(main())

    assert results == [f"image of {op.id}" for op in ops]
    reads = sim.server.reads
    assert sim.max_in_window(reads, 1.0) <= 50
    assert len(reads) == sim.scheduler.granted == sum(op.reads for op in ops)
    # Every operation needs at least one read after 5 s; the rest is overhead.
    assert len(reads) < 2_000
    # The budget, not the plan, bounds the end: ~len(reads)/50 seconds.
    assert sim.clock() < len(reads) / 50 * 1.02 + 5
    assert sim.scheduler.waiting == 0
    assert sim.server.in_flight == 0


def test_reads_delayed_on_their_way_still_fit_the_servers_window(sim: Sim) -> None:
    # Reads reach the server up to 0.3 s after their grant, in random order:
    # counting each read until a window after its answer keeps the server's
    # count within the quota anyway (a fixed guard after the grant would not).
    delays = random.Random(7)
    sim.server.send_delay = lambda: delays.uniform(0.0, 0.3)
    ops = [sim.operation(5.0) for _ in range(400)]

    async def main() -> None:
        await asyncio.gather(*(op.wait() for op in ops))

    sim.run(main())
    assert sim.max_in_window(sim.server.reads, 1.0) <= 50
    assert sim.scheduler.in_flight == 0
    assert len(sim.server.reads) == sim.scheduler.granted


def test_an_unreleased_grant_holds_its_place_until_released(sim: Sim) -> None:
    scheduler = CountingScheduler(max_reads_per_second=2, clock=sim.clock)

    async def main() -> tuple[float, float]:
        first = await scheduler.acquire(0.0)
        await scheduler.acquire(0.0)  # never released: counts for ever
        await asyncio.sleep(0.5)
        scheduler.release(first)
        third = await scheduler.acquire(0.0)
        third_at = sim.clock()
        assert scheduler.in_flight == 2
        fourth = asyncio.ensure_future(scheduler.acquire(0.0))
        await asyncio.sleep(10)
        blocked = not fourth.done()
        scheduler.release(third)
        await fourth
        return third_at, float(blocked)

    third_at, blocked = sim.run(main())
    assert third_at == pytest.approx(0.5 + 1.02)  # a window (and the guard) after the release
    assert blocked == 1.0  # two reads in flight fill a budget of two


def test_a_granted_read_cancelled_before_it_starts_gives_its_place_back(sim: Sim) -> None:
    scheduler = PollScheduler(max_reads_per_second=2, clock=sim.clock)

    async def main() -> float:
        for _ in range(2):  # the window is full until 1.02
            scheduler.release(await scheduler.acquire(0.0))
        behind: list[asyncio.Task[Grant]] = []

        async def ahead() -> float:
            await scheduler.acquire(0.0)  # never released: one of the two places for ever
            behind[0].cancel()  # granted in the same pass as this one, but not started
            await asyncio.wait_for(scheduler.acquire(0.0), timeout=5.0)
            return sim.clock()

        first = asyncio.create_task(ahead())
        behind.append(asyncio.create_task(scheduler.acquire(0.0)))
        granted_at = await first
        assert behind[0].cancelled()
        return granted_at

    assert sim.run(main()) == pytest.approx(1.02)  # the cancelled read's place, at once

"""The operation poller, async and sync, against an in-memory server on virtual time."""

from __future__ import annotations

import _thread
import asyncio
import dataclasses
import inspect
import itertools
import math
import statistics
import threading
from typing import TYPE_CHECKING, Any

import pytest

from yandex_art._runtime.errors import (
    OperationError,
    OperationFailedError,
    OperationTimeoutError,
    TransportError,
    UnexpectedOperationResultError,
)
from yandex_art._runtime.operation import (
    AsyncOperation,
    Operation,
    OperationSnapshot,
    OperationStatus,
    RpcStatus,
)
from yandex_art._runtime.poll_policy import PollPolicy

if TYPE_CHECKING:
    from .conftest import RealWorld, Sim


def _exhausted(retry_after: float | None) -> TransportError:
    return TransportError(
        "quota", code="RESOURCE_EXHAUSTED", endpoint="operation", retry_after=retry_after
    )


# --------------------------------------------------------------------------- outcomes


def test_wait_returns_the_result(sim: Sim) -> None:
    op = sim.operation(2.0)
    assert sim.run(op.wait()) == f"image of {op.id}"
    assert sim.clock() >= 2.0
    assert sim.run(op.get_status()) == OperationStatus("succeeded")


def test_await_operation_waits(sim: Sim) -> None:
    op = sim.operation(1.0)

    async def main() -> str:
        return await op

    assert sim.run(main()) == f"image of {op.id}"


def test_failed_operation_raises_with_code_message_details_and_id(sim: Sim) -> None:
    op = sim.operation(1.0, "error")
    with pytest.raises(OperationFailedError) as caught:
        sim.run(op.wait())
    error = caught.value
    assert (error.code, error.error_message, error.details) == (
        3,
        "prompt is too long",
        ("field: messages",),
    )
    assert error.operation_id == op.id
    assert not error.cancelled
    assert op.id in str(error) and "prompt is too long" in str(error)
    assert "code 3" in str(error)
    status = sim.run(op.get_status())
    assert status.is_failed and not status.is_cancelled and status.done
    assert (status.code, status.message, status.details) == (
        3,
        "prompt is too long",
        ("field: messages",),
    )


def test_cancelled_operation_raises_with_cancelled_flag(sim: Sim) -> None:
    op = sim.operation(1.0, "cancelled")
    with pytest.raises(OperationFailedError) as caught:
        sim.run(op.wait())
    assert caught.value.cancelled
    assert "was cancelled" in str(caught.value) and op.id in str(caught.value)
    status = sim.run(op.get_status())
    assert status.is_cancelled and status.is_failed
    assert status.state == "cancelled" and status.code == 1


def test_done_without_result_is_not_a_success(sim: Sim) -> None:
    op = sim.operation(1.0, "empty")
    with pytest.raises(UnexpectedOperationResultError) as caught:
        sim.run(op.wait())
    text = str(caught.value)
    assert "neither a response nor an error" in text
    assert "type.googleapis.com/test.Result" in text and op.id in text
    status = sim.run(op.get_status())
    assert status.is_failed and not status.is_succeeded
    assert status.code == 2


def test_response_of_the_wrong_type_names_both_types(sim: Sim) -> None:
    op = sim.operation(1.0, "wrong")
    with pytest.raises(UnexpectedOperationResultError) as caught:
        sim.run(op.wait())
    text = str(caught.value)
    assert "'type.googleapis.com/other.Thing'" in text
    assert "expected 'type.googleapis.com/test.Result'" in text
    assert caught.value.operation_id == op.id


def test_get_result_of_a_running_operation_says_so(sim: Sim) -> None:
    op = sim.operation(5.0)
    with pytest.raises(OperationError, match="still running") as caught:
        sim.run(op.get_result())
    assert type(caught.value) is OperationError
    assert caught.value.operation_id == op.id and op.id in str(caught.value)
    assert op.reads == 1


def test_get_result_reuses_the_last_done_read(sim: Sim) -> None:
    op = sim.operation(1.0)
    sim.run(op.wait())
    reads = op.reads
    assert sim.run(op.get_result()) == f"image of {op.id}"
    assert sim.run(op.wait()) == f"image of {op.id}"
    assert op.reads == reads


def test_get_status_reads_once(sim: Sim) -> None:
    op = sim.operation(1.0)
    assert sim.run(op.get_status()).is_running
    assert op.reads == 1

    async def later() -> OperationStatus:
        await asyncio.sleep(1.0)
        return await op.get_status()

    status = sim.run(later())
    assert status.is_succeeded and status.error is None and status.code is None
    assert op.reads == 2


def test_cancel_returns_the_servers_status(sim: Sim) -> None:
    op = sim.operation(10.0)
    status = sim.run(op.cancel())
    assert status.is_cancelled
    with pytest.raises(OperationFailedError) as caught:
        sim.run(op.get_result())
    assert caught.value.cancelled


def test_attached_operation_reads_at_once(sim: Sim) -> None:
    op = sim.operation(0.0, attach=True)
    assert repr(op) == f"AsyncOperation<id='{op.id}', state=unknown, reads=0>"
    assert sim.run(op.wait()) == f"image of {op.id}"
    assert sim.clock() == 0.0 and op.reads == 1


def test_status_properties_and_repr() -> None:
    running = OperationStatus("running")
    assert running.is_running and not running.done and not running.is_finished
    assert running.status_name == "running" and running.details == ()
    assert repr(running) == "OperationStatus<running>"
    failed = OperationStatus("failed", RpcStatus(13, "boom"))
    assert failed.is_failed and failed.is_finished and not failed.is_succeeded
    assert repr(failed) == "OperationStatus<failed code=13 message='boom'>"
    done = OperationStatus.from_snapshot(OperationSnapshot("x", True, response=b"img"))
    assert done.is_succeeded and done.done
    ok_code = OperationSnapshot("x", True, error=RpcStatus(0, ""), response=b"img")
    assert OperationStatus.from_snapshot(ok_code).is_succeeded


def test_operation_repr_has_id_and_state(sim: Sim) -> None:
    op = sim.operation(1.0)
    assert repr(op) == f"AsyncOperation<id='{op.id}', state=running, reads=0>"
    sim.run(op.wait())
    assert repr(op) == f"AsyncOperation<id='{op.id}', state=succeeded, reads={op.reads}>"


# --------------------------------------------------------------------------- timing


def test_zero_poll_interval_is_honoured(sim: Sim) -> None:
    sim.server.latency = 0.01
    op = sim.operation(0.5)
    sim.run(op.wait(poll_interval=0))
    times = sim.server.reads_by_op[op.id]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap == pytest.approx(0.01) for gap in gaps)  # back to back
    assert times[0] == 0.0 and len(times) == 50  # the server answers after 10 ms


def test_zero_poll_interval_still_respects_the_budget(sim: Sim) -> None:
    op = sim.operation(3.0)
    sim.run(op.wait(poll_interval=0))
    reads = sim.server.reads
    assert sim.max_in_window(reads, 1.0) == 50
    assert len(reads) == 151


def test_fixed_poll_interval(sim: Sim) -> None:
    op = sim.operation(2.2)
    sim.run(op.wait(poll_interval=0.5))
    assert sim.server.reads_by_op[op.id] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5])


def test_poll_timeout_raises_with_the_operation_id(sim: Sim) -> None:
    sim.server.latency = 0.3
    op = sim.operation(100.0)
    with pytest.raises(OperationTimeoutError) as caught:
        sim.run(op.wait(poll_timeout=5))
    error = caught.value
    assert error.operation_id == op.id and error.timeout == 5
    assert op.id in str(error) and "5 s" in str(error)
    assert isinstance(error, TimeoutError)
    assert sim.clock() == pytest.approx(5.0)
    assert sim.server.in_flight == 0 and sim.scheduler.waiting == 0


def test_poll_timeout_zero_with_a_known_result_returns_it(sim: Sim) -> None:
    op = sim.operation(1.0)
    sim.run(op.wait())
    assert sim.run(op.wait(poll_timeout=0)) == f"image of {op.id}"


@pytest.mark.parametrize("poll_timeout", [None, math.inf])
def test_no_poll_timeout(sim: Sim, poll_timeout: float | None) -> None:
    op = sim.operation(20_000.0)
    assert sim.run(op.wait(poll_timeout=poll_timeout)) == f"image of {op.id}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": -1}, "timeout: must be > 0, got -1"),
        ({"timeout": 0}, "timeout: must be > 0, got 0"),
        ({"poll_timeout": -0.5}, "poll_timeout: must be >= 0, got -0.5"),
        ({"poll_interval": -0.1}, "poll_interval: must be >= 0, got -0.1"),
        ({"poll_interval": float("nan")}, "poll_interval: must be a number, got nan"),
    ],
)
def test_negative_times_are_rejected(sim: Sim, kwargs: dict[str, float], message: str) -> None:
    op = sim.operation(1.0)
    with pytest.raises(ValueError, match=f"^{message}"):
        sim.run(op.wait(**kwargs))
    with pytest.raises(ValueError, match="timeout"):
        sim.run(op.get_status(timeout=-1))
    assert op.reads == 0


def test_other_transport_errors_propagate_naming_the_operation(sim: Sim) -> None:
    op = sim.operation(3.0)
    sim.server.fail_next.append(
        TransportError("no", code="PERMISSION_DENIED", endpoint="operation")
    )
    with pytest.raises(TransportError, match="PERMISSION_DENIED") as caught:
        sim.run(op.wait())
    assert caught.value.operation_id == op.id and op.id in str(caught.value)


@pytest.mark.parametrize("code", ["UNAVAILABLE", "DEADLINE_EXCEEDED"])
def test_a_wait_rides_out_an_outage_with_capped_backoff(sim: Sim, code: str) -> None:
    op = sim.operation(1.0)
    for _ in range(20):
        sim.server.fail_next.append(TransportError("down", code=code, endpoint="operation"))
    assert sim.run(op.wait(poll_timeout=3600)) == f"image of {op.id}"
    reads = sim.server.reads_by_op[op.id]
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert len(reads) == 21
    assert max(gaps) <= 5.0 * 1.2 + 1e-9  # capped
    assert gaps[1] > gaps[0]  # growing


def test_an_outage_longer_than_poll_timeout_ends_with_the_operation_id(sim: Sim) -> None:
    op = sim.operation(1.0)
    for _ in range(1000):
        sim.server.fail_next.append(TransportError("down", code="UNAVAILABLE", endpoint="x"))
    with pytest.raises(OperationTimeoutError) as caught:
        sim.run(op.wait(poll_timeout=60))
    assert caught.value.operation_id == op.id


def test_quota_refusal_delays_the_next_read_by_retry_after(sim: Sim) -> None:
    op = sim.operation(1.0)
    sim.server.fail_next.append(_exhausted(3.0))
    assert sim.run(op.wait()) == f"image of {op.id}"
    first, second = sim.server.reads_by_op[op.id][:2]
    assert second - first == pytest.approx(3.0)
    assert sim.scheduler.reads_per_window == 50  # the full budget is unchanged ...


def test_quota_refusal_lowers_the_client_budget(sim: Sim) -> None:
    ops = [sim.operation(2.0) for _ in range(100)]
    sim.server.fail_next.append(
        TransportError("quota", code="RESOURCE_EXHAUSTED", endpoint="operation")
    )

    async def main() -> list[str]:
        return await asyncio.gather(*(op.wait() for op in ops))

    sim.run(main())
    refused_at = sim.server.reads[0]
    soon = [t for t in sim.server.reads if refused_at < t <= refused_at + 1.0]
    assert len(soon) <= 25  # ... but the client reads at half the rate for a while


def test_quota_refusal_without_hint_waits_the_policy_delay(sim: Sim) -> None:
    op = sim.operation(0.5)
    sim.server.fail_next.append(_exhausted(None))
    sim.run(op.wait())
    first, second = sim.server.reads_by_op[op.id][:2]
    assert second - first == pytest.approx(1.0)


def test_quota_refusal_past_poll_timeout_is_a_timeout(sim: Sim) -> None:
    op = sim.operation(1.0)
    sim.server.fail_next.append(_exhausted(30.0))
    with pytest.raises(OperationTimeoutError):
        sim.run(op.wait(poll_timeout=10))
    assert sim.clock() == pytest.approx(10.0)


def test_get_status_does_not_swallow_quota_refusals(sim: Sim) -> None:
    op = sim.operation(1.0)
    sim.server.fail_next.append(_exhausted(1.0))
    with pytest.raises(TransportError):
        sim.run(op.get_status())


def test_cancelling_wait_leaves_nothing_pending(sim: Sim) -> None:
    sim.server.latency = 0.2

    async def main() -> None:
        op = sim.operation(30.0)
        task = asyncio.create_task(op.wait())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sim.server.in_flight == 0
        assert sim.scheduler.waiting == 0
        assert len(asyncio.all_tasks()) == 1

    sim.run(main())


# --------------------------------------------------------------------------- learning


def _measure(sim: Sim, duration: float) -> tuple[float, int]:
    """Run one operation of ``duration``: (seconds from done to result, reads)."""
    op = sim.operation(duration)
    sim.run(op.wait())
    return sim.clock() - sim.finished_at(op), op.reads


def test_done_operations_teach_the_duration_model(sim: Sim) -> None:
    _measure(sim, 3.0)
    history = sim.durations.history("art://folder/yandex-art/latest")
    assert len(history) == 1 and history[0] == pytest.approx(3.0, abs=1.0)
    for _ in range(3):  # once the plan reads densely near the end, it is exact
        _measure(sim, 3.0)
    history = sim.durations.history("art://folder/yandex-art/latest")
    assert history[-1] == pytest.approx(3.0, abs=0.1)


def test_failed_and_attached_operations_do_not_teach(sim: Sim) -> None:
    sim.run(sim.operation(0.0, attach=True).wait())
    with pytest.raises(OperationFailedError):
        sim.run(sim.operation(1.0, "error").wait())
    assert sim.durations.history("art://folder/yandex-art/latest") == ()


def test_history_is_per_key(sim: Sim) -> None:
    _measure(sim, 3.0)
    op = sim.operation(3.0, key="art://folder/other/latest")
    sim.run(op.wait())
    assert len(sim.durations.history("art://folder/other/latest")) == 1


# Read limits per operation from the goals (cold: documented bounds of backoff).
LEARNED_READS = {0.5: 2, 3.0: 4, 20.0: 7}


@pytest.mark.parametrize("duration", [0.5, 3.0, 20.0])
def test_completion_lag_and_reads_with_learned_history(sim: Sim, duration: float) -> None:
    for _ in range(8):
        _measure(sim, duration)
    measured = [_measure(sim, duration) for _ in range(15)]
    lags = [lag for lag, _ in measured]
    reads = [n for _, n in measured]
    # The dense step has a floor (PollPolicy.min_dense_step, dense_step_fraction of the
    # duration): a result is noticed within a step, in the median within about half of one.
    policy = PollPolicy()
    step = max(policy.min_dense_step, policy.dense_step_fraction * duration)
    assert max(lags) < 2 * step
    assert statistics.median(lags) < step
    assert statistics.median(reads) <= LEARNED_READS[duration]
    assert max(reads) <= LEARNED_READS[duration] + 1


@pytest.mark.parametrize(
    ("duration", "max_lag", "max_reads"),
    [(0.5, 0.5, 6), (3.0, 2.0 * 1.15, 6), (20.0, 2.0 * 1.15, 16)],
)
def test_completion_lag_and_reads_cold(
    sim: Sim, duration: float, max_lag: float, max_reads: int
) -> None:
    for _ in range(15):
        sim.durations = type(sim.durations)()  # forget: every operation is a first one
        lag, reads = _measure(sim, duration)
        assert 0 <= lag < max_lag
        assert reads <= max_reads


def test_learned_plan_beats_a_fixed_ten_second_interval(sim: Sim) -> None:
    for _ in range(5):
        _measure(sim, 3.0)
    lag, reads = _measure(sim, 3.0)
    assert lag < 0.5 and reads <= 6  # the official SDK: 7 s of lag for a 3 s generation


# --------------------------------------------------------------------------- sync


def test_sync_operation_delegates_to_the_async_one(sim: Sim) -> None:
    initial = sim.server.create(1.0)
    op = Operation(
        AsyncOperation(
            initial.id,
            reader=sim.server,
            scheduler=sim.scheduler,
            durations=sim.durations,
            duration_key="k",
            initial=initial,
            clock=sim.clock,
        ),
        run=sim.run,
    )
    assert op.id == initial.id
    assert repr(op) == f"Operation<id='{op.id}', state=running, reads=0>"
    assert op.get_status().is_running
    with pytest.raises(OperationError, match="still running"):
        op.get_result()
    assert op.wait() == f"image of {op.id}"
    assert op.get_result() == f"image of {op.id}"
    assert op.get_status() == OperationStatus("succeeded")
    assert op.reads >= 3
    assert not hasattr(op, "__await__")
    # help() shows the same parameters and docs as the async face
    assert inspect.signature(Operation.wait) == inspect.signature(AsyncOperation.wait)
    assert Operation.wait.__doc__ == AsyncOperation.wait.__doc__


def test_sync_operation_on_the_real_bridge(real: RealWorld) -> None:
    op = real.operation(0.3)
    assert op.wait(poll_timeout=10) == f"image of {op.id}"
    assert op.cancel().is_succeeded  # too late to cancel
    with pytest.raises(OperationTimeoutError) as caught:
        real.operation(60.0).wait(poll_timeout=0.3)
    assert caught.value.operation_id in str(caught.value)
    assert real.other_tasks() == 0


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="needs the main thread"
)
def test_ctrl_c_stops_sync_wait_and_leaves_no_pending_reads(real: RealWorld) -> None:
    real.server.latency = 0.2  # make it likely that a read is in flight
    op = real.operation(60.0)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            op.wait()
    finally:
        timer.cancel()
    assert real.server.in_flight == 0
    assert real.scheduler.waiting == 0
    assert real.other_tasks() == 0
    assert op.reads >= 1


def test_sync_wrapper_passes_arguments_through() -> None:
    calls: list[Any] = []

    class Reader:
        async def get(
            self, operation_id: str, *, timeout: float, retry_hooks: Any = None
        ) -> OperationSnapshot[str]:
            calls.append(("get", operation_id, timeout))
            return OperationSnapshot(operation_id, True, response="r")

        async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[str]:
            calls.append(("cancel", operation_id, timeout))
            return OperationSnapshot(operation_id, True, error=RpcStatus(1, "x"))

    from yandex_art._runtime.durations import DurationModel
    from yandex_art._runtime.read_budget import PollScheduler

    op: Operation[str] = Operation(
        AsyncOperation(
            "abc",
            reader=Reader(),
            scheduler=PollScheduler(),
            durations=DurationModel(),
            duration_key="k",
        ),
        run=asyncio.run,
    )
    assert op.get_status(timeout=7).is_succeeded
    assert op.cancel(timeout=8).is_cancelled
    assert calls == [("get", "abc", 7), ("cancel", "abc", 8)]
    assert isinstance(AsyncOperation, type)


def test_sync_wait_on_a_known_outcome_reads_nothing() -> None:
    from yandex_art._runtime.durations import DurationModel
    from yandex_art._runtime.read_budget import PollScheduler

    def make(initial: OperationSnapshot[str]) -> Operation[str]:
        return Operation(
            AsyncOperation(
                initial.id,
                reader=None,  # type: ignore[arg-type]  # never read
                scheduler=PollScheduler(),
                durations=DurationModel(),
                duration_key="k",
                initial=initial,
            ),
            run=asyncio.run,
        )

    done = make(OperationSnapshot("a", True, response="image"))
    assert done.wait() == "image"
    assert done.get_result() == "image"
    assert done.reads == 0
    failed = make(OperationSnapshot("b", True, error=RpcStatus(13, "boom")))
    with pytest.raises(OperationFailedError, match="boom") as caught:
        failed.wait()
    assert caught.value.operation_id == "b"
    # arguments are still checked
    with pytest.raises(ValueError, match="poll_timeout"):
        done.wait(poll_timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        done.get_result(timeout=-1)


def test_transport_retries_of_a_read_are_reads_within_the_budget(sim: Sim) -> None:
    from yandex_art._runtime.retry import RetryPolicy, call_with_retry

    class RetryingReader:
        async def get(
            self, operation_id: str, *, timeout: float, retry_hooks: Any = None
        ) -> OperationSnapshot[str]:
            return await call_with_retry(
                lambda: sim.server.get(operation_id, timeout=timeout),
                policy=RetryPolicy(initial_backoff=0.01, jitter=0),
                idempotent=True,
                clock=sim.clock,
                hooks=retry_hooks,  # passed down explicitly, as the transports do
            )

        async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[str]:
            return await sim.server.cancel(operation_id, timeout=timeout)

    for _ in range(3):
        sim.server.fail_next.append(
            TransportError("down", code="UNAVAILABLE", endpoint="operation")
        )
    initial = sim.server.create(1.0)
    op = AsyncOperation(
        initial.id,
        reader=RetryingReader(),
        scheduler=sim.scheduler,
        durations=sim.durations,
        duration_key="k",
        initial=initial,
        clock=sim.clock,
    )
    assert sim.run(op.wait()) == f"image of {op.id}"
    # Every attempt, retries included, was granted by the scheduler and counted.
    assert len(sim.server.reads) == sim.scheduler.granted == op.reads
    assert op.reads >= 4
    assert sim.scheduler.in_flight == 0


def test_server_timestamps_teach_the_exact_duration_and_the_next_read_lands_on_it(
    sim: Sim,
) -> None:
    sim.server.wall_offset = 1.7e9 + 0.123  # the server's wall clock, unrelated to ours
    first = sim.operation(7.3)
    sim.run(first.wait())
    assert sim.durations.history("art://folder/yandex-art/latest") == pytest.approx((7.3,))

    sim.run(sim.operation(7.3).wait())  # one observation is not enough to trust
    third = sim.operation(7.3)
    sim.run(third.wait())
    done_at = sim.finished_at(third)
    reads = sim.server.reads_by_op[third.id]
    # Reads within the lag bound (every 2 s, then 1.5x the age), then one just after the
    # expected end.
    assert len(reads) == 3
    assert 0 <= reads[-1] - done_at <= 0.002
    assert first.reads > third.reads


def test_timestamps_that_contradict_the_client_are_not_learned(sim: Sim) -> None:
    sim.server.wall_offset = 0.5
    op = sim.operation(4.0)
    # A server whose modified_at says the work took 40 s, though it was seen done by ~4 s.
    real = sim.server._snapshot

    def lying(fake: Any) -> OperationSnapshot[str]:
        snap = real(fake)
        if snap.done and snap.created_at is not None:
            return dataclasses.replace(snap, modified_at=snap.created_at + 40.0)
        return snap

    sim.server._snapshot = lying  # type: ignore[method-assign]
    sim.run(op.wait())
    (learned,) = sim.durations.history("art://folder/yandex-art/latest")
    assert 3.0 < learned < 5.0  # from the client's own reads


def test_expected_remaining_comes_from_the_learned_median(sim: Sim) -> None:
    assert sim.operation(3.0).expected_remaining() is None  # nothing learned yet
    for duration in (2.0, 3.0, 9.0):
        sim.run(sim.operation(duration).wait())
    op = sim.operation(3.0)
    assert op.expected_remaining() == pytest.approx(3.0, abs=0.1)
    assert sim.operation(3.0, attach=True).expected_remaining() is None  # age unknown


# -- the read budget under faults: many waits in flight, none may hang ------------------------


class _RetryingReader:
    """The fake server behind the real transport retry loop, as the generated readers do."""

    def __init__(self, sim: Sim, policy: Any) -> None:
        self.sim, self.policy = sim, policy

    async def get(
        self, operation_id: str, *, timeout: float, retry_hooks: Any = None
    ) -> OperationSnapshot[str]:
        from yandex_art._runtime.retry import call_with_retry

        return await call_with_retry(
            lambda: self.sim.server.get(operation_id, timeout=timeout),
            policy=self.policy,
            idempotent=True,
            clock=self.sim.clock,
            hooks=retry_hooks,
        )

    async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[str]:
        return await self.sim.server.cancel(operation_id, timeout=timeout)


@pytest.mark.parametrize(
    ("waits", "failures", "code"),
    [(30, 90, "UNAVAILABLE"), (60, 300, "UNAVAILABLE"), (100, 40, "RESOURCE_EXHAUSTED")],
)
def test_many_waits_survive_a_storm_of_failed_reads(
    sim: Sim, waits: int, failures: int, code: str
) -> None:
    """Each failed attempt gives its grant back before the backoff: with 50 grants held by
    retrying reads, the budget used to deadlock and every wait ran into poll_timeout."""
    from yandex_art._runtime.retry import RetryPolicy

    reader = _RetryingReader(sim, RetryPolicy(initial_backoff=0.05, max_backoff=0.2))
    for _ in range(failures):
        sim.server.fail_next.append(TransportError("storm", code=code, endpoint="operation"))
    operations = []
    for _ in range(waits):
        initial = sim.server.create(3.0)
        operations.append(
            AsyncOperation(
                initial.id,
                reader=reader,
                scheduler=sim.scheduler,
                durations=sim.durations,
                duration_key="k",
                initial=initial,
                clock=sim.clock,
            )
        )

    async def all_waits() -> list[str]:
        return list(await asyncio.gather(*(op.wait(poll_timeout=600) for op in operations)))

    started = sim.clock()
    results = sim.run(all_waits())
    assert results == [f"image of {op.id}" for op in operations]
    assert not sim.server.fail_next  # the storm was met, not skipped
    assert sim.clock() - started < 120  # ridden out, not timed out
    assert sim.scheduler.in_flight == 0 and sim.scheduler.waiting == 0
    # Never more than the budget's 50 reads in any second, storm included.
    assert sim.max_in_window(sim.server.reads) <= 50


def test_a_failed_attempt_holds_no_grant_during_its_backoff(sim: Sim) -> None:
    from yandex_art._runtime.retry import RetryPolicy

    held_while_sleeping: list[int] = []
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=1.0, jitter=0)
    reader = _RetryingReader(sim, policy)
    sim.server.fail_next.append(TransportError("down", code="UNAVAILABLE", endpoint="op"))
    initial = sim.server.create(0.5)
    op = AsyncOperation(
        initial.id,
        reader=reader,
        scheduler=sim.scheduler,
        durations=sim.durations,
        duration_key="k",
        initial=initial,
        clock=sim.clock,
    )

    async def watch() -> None:
        await asyncio.sleep(0.5)  # inside the 1 s backoff after the first failed read
        held_while_sleeping.append(sim.scheduler.in_flight)

    async def both() -> str:
        result, _ = await asyncio.gather(op.wait(), watch())
        return result

    assert sim.run(both()) == f"image of {op.id}"
    assert held_while_sleeping == [0]
    assert op.reads == 2


def test_a_slow_history_never_makes_a_fast_result_late(sim: Sim) -> None:
    """After three 12 s operations, a 1 s one is noticed within the lag bound, not at 6 s."""
    for _ in range(3):
        sim.durations.observe("art://folder/yandex-art/latest", 12.0)
    fast = sim.operation(1.0)
    started = sim.clock()
    sim.run(fast.wait())
    assert sim.clock() - started <= 2.5
    assert fast.reads <= 2


@pytest.mark.parametrize("learned", [60.0, 600.0])
def test_the_lag_is_bounded_by_the_time_the_operation_took(sim: Sim, learned: float) -> None:
    policy = PollPolicy()
    for _ in range(32):
        sim.durations.observe("art://folder/yandex-art/latest", learned)
    for duration in (1.0, 3.0, 8.0):
        operation = sim.operation(duration)
        sim.run(operation.wait())
        reads = sim.server.reads_by_op[operation.id]
        lag = reads[-1] - sim.finished_at(operation)
        assert lag <= max(policy.lag_constant, policy.lag_fraction * duration) + 0.01


def test_absurd_learned_durations_are_ignored(sim: Sim) -> None:
    sim.durations.observe("k", 86_000.0)
    sim.durations.observe("k", -1.0)
    assert sim.durations.history("k") == ()

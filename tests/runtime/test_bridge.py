import _thread
import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator

import pytest

from yandex_art._runtime.bridge import LoopThread


@pytest.fixture
def bridge() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def test_lazy_start_and_result(bridge: LoopThread) -> None:
    assert bridge._thread is None

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    assert bridge.run(add(1, 2)) == 3
    thread = bridge._thread
    assert thread is not None
    assert thread.name == "yandex-art-loop"
    assert thread.daemon
    assert bridge.run(add(2, 2)) == 4
    assert bridge._thread is thread  # one thread, reused


def test_runs_in_loop_thread(bridge: LoopThread) -> None:
    async def where() -> tuple[str, asyncio.AbstractEventLoop]:
        return threading.current_thread().name, asyncio.get_running_loop()

    name, loop = bridge.run(where())
    assert name == "yandex-art-loop"
    assert loop is bridge.loop


def test_exceptions_propagate(bridge: LoopThread) -> None:
    async def fail() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        bridge.run(fail())


def test_run_from_loop_thread_is_refused(bridge: LoopThread) -> None:
    async def inner() -> int:
        return 1

    async def outer() -> str:
        coro = inner()
        try:
            bridge.run(coro)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    message = bridge.run(outer())
    assert "own event loop thread" in message


def test_keyboard_interrupt_cancels_promptly(bridge: LoopThread) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupt() -> None:
        started.wait(5)
        time.sleep(0.05)
        _thread.interrupt_main()

    timer = threading.Thread(target=interrupt)
    timer.start()
    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        bridge.run(slow())
    elapsed = time.monotonic() - begin
    timer.join()
    assert cancelled.is_set()
    assert elapsed < 1.0
    # the loop is still usable afterwards

    async def ok() -> str:
        return "ok"

    assert bridge.run(ok()) == "ok"


def test_interrupt_waits_for_cleanup(bridge: LoopThread) -> None:
    started = threading.Event()
    cleaned = threading.Event()

    async def slow_cleanup() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.2)
            cleaned.set()

    def interrupt() -> None:
        started.wait(5)
        _thread.interrupt_main()

    threading.Thread(target=interrupt).start()
    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        bridge.run(slow_cleanup())
    assert time.monotonic() - begin < 1.0
    assert cleaned.is_set()  # run() waited (< 1 s) for the task's cleanup


def test_close_cancels_pending_and_is_idempotent() -> None:
    lt = LoopThread()
    started = threading.Event()
    cancelled = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(lt.run, forever())
        assert started.wait(5)
        thread = lt._thread
        assert thread is not None
        lt.close()
        with pytest.raises(concurrent.futures.CancelledError):
            waiting.result(timeout=5)
    assert cancelled.is_set()
    assert not thread.is_alive()
    assert lt._loop is not None and lt._loop.is_closed()
    lt.close()
    assert lt.closed


def test_run_after_close_raises_and_closes_coro() -> None:
    lt = LoopThread()
    lt.close()

    async def never() -> None:
        raise AssertionError("should not run")

    coro = never()
    with pytest.raises(RuntimeError, match="closed"):
        lt.run(coro)
    assert coro.cr_frame is None  # closed, so no "never awaited" warning
    with pytest.raises(RuntimeError):
        _ = lt.loop


def test_close_without_start() -> None:
    lt = LoopThread()
    lt.close()
    lt.close()
    assert lt._thread is None


def test_concurrent_callers(bridge: LoopThread) -> None:
    async def echo(n: int) -> int:
        await asyncio.sleep(0.01)
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: bridge.run(echo(n)), range(32)))
    assert results == list(range(32))


def test_run_propagates_a_timeout_error_raised_by_the_coroutine() -> None:
    """A TimeoutError from the work must not be mistaken for the wait slice expiring."""

    class Expired(TimeoutError):
        pass

    async def work() -> None:
        await asyncio.sleep(0.01)
        raise Expired("operation ran out of time")

    bridge = LoopThread()
    try:
        started = time.monotonic()
        with pytest.raises(Expired):
            bridge.run(work())
        assert time.monotonic() - started < 1
    finally:
        bridge.close()

"""Running coroutines from synchronous code on one background event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")

_WAIT_SLICE = 0.1
_CANCEL_GRACE = 1.0
_SHUTDOWN_GRACE = 5.0


class LoopThread:
    """One daemon thread running an event loop, started on first use; an interrupted
    :meth:`run` (Ctrl-C) cancels its coroutine and lets it clean up first."""

    def __init__(self, name: str = "yandex-art-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.closed = False
        self._pending: set[concurrent.futures.Future[Any]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.closed:
                raise RuntimeError(f"{self._name} event loop thread is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name=self._name, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=_SHUTDOWN_GRACE))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and return its result (or raise its error)."""
        if self._thread is not None and self._thread.ident == threading.get_ident():
            coro.close()
            raise RuntimeError(
                "LoopThread.run() was called from its own event loop thread, which would "
                "deadlock; use the async API (await the coroutine) there instead"
            )
        try:
            loop = self.loop
        except RuntimeError:
            coro.close()
            raise
        finished = threading.Event()  # set once the coroutine is over, cleanup included
        wrapper = _signalling(coro, finished)
        future: concurrent.futures.Future[T] | None = None
        try:
            try:
                future = asyncio.run_coroutine_threadsafe(wrapper, loop)
            except RuntimeError:  # the loop was closed meanwhile
                wrapper.close()
                coro.close()
                raise RuntimeError(f"{self._name} event loop thread is closed") from None
            with self._lock:
                self._pending.add(future)
            # Short slices, so Ctrl-C is seen promptly; done() rather than a
            # TimeoutError, which the coroutine itself may raise.
            while not future.done():
                concurrent.futures.wait((future,), timeout=_WAIT_SLICE)
            return future.result()
        except BaseException:
            _cancel(loop, future, wrapper, finished)
            raise
        finally:
            with self._lock:
                self._pending.discard(future)
            if not finished.is_set() and inspect.getcoroutinestate(coro) == "CORO_CREATED":
                coro.close()  # cancelled before it started: no "never awaited" warning

    def close(self) -> None:
        """Cancel what is still running, stop the loop and join its thread. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass  # already closed
        if thread.ident != threading.get_ident():
            thread.join(_SHUTDOWN_GRACE + _CANCEL_GRACE)
        with self._lock:
            pending, self._pending = self._pending, set()
        for future in pending:
            future.cancel()


async def _signalling(coro: Coroutine[Any, Any, T], finished: threading.Event) -> T:
    """``coro``, setting ``finished`` once it is over, its cleanup included."""
    try:
        return await coro
    finally:
        finished.set()


def _cancel(
    loop: asyncio.AbstractEventLoop,
    future: concurrent.futures.Future[T] | None,
    wrapper: Coroutine[Any, Any, T],
    finished: threading.Event,
) -> None:
    """Cancel a run interrupted in the calling thread (Ctrl-C), and give its cleanup a
    moment to finish on the loop."""
    if future is None:  # interrupted while submitting: no future chains the cancel
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_cancel_task_of, loop, wrapper)
        finished.wait(_CANCEL_GRACE)  # its cleanup, when it had started
    elif future.cancel():  # the future cancels its task, once
        # WHY only once: a second cancel() reaching the task before it resumes would
        # also cancel the first await of its cleanup (Task._must_cancel), cutting the
        # cleanup short; the future's chain already delivers one cancellation.
        finished.wait(_CANCEL_GRACE)  # its cleanup, when it had started


def _cancel_task_of(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
    for task in asyncio.all_tasks(loop):
        if task.get_coro() is coro:
            task.cancel()

"""Running coroutines from synchronous code on one background event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")

_WAIT_SLICE = 0.1
_CANCEL_GRACE = 1.0
_SHUTDOWN_GRACE = 5.0


class LoopThread:
    """One daemon thread running an asyncio event loop, started on first use.

    :meth:`run` blocks the calling thread until the coroutine finishes. If the
    wait is interrupted (Ctrl-C raises :class:`KeyboardInterrupt`), the
    coroutine is cancelled in the loop before the interruption propagates.
    """

    def __init__(self, name: str = "yandex-art-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._thread else "idle"
        return f"{type(self).__name__}(name={self._name!r}, {state})"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (the thread is started if it was not yet)."""
        return self._start()

    @property
    def closed(self) -> bool:
        return self._closed

    def in_loop_thread(self) -> bool:
        """Whether the caller is running on this object's loop thread."""
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
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
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "LoopThread.run() was called from its own event loop thread, which would "
                "deadlock; use the async API (await the coroutine) there instead"
            )
        try:
            loop = self._start()
        except BaseException:
            coro.close()
            raise

        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []
        cancel_requested = False
        # start(), cancel() and copy_outcome() all run on the loop thread, in
        # the order they were scheduled, so they need no lock between them.

        def copy_outcome(task: asyncio.Task[T]) -> None:
            try:
                if task.cancelled():
                    result.cancel()
                elif (error := task.exception()) is not None:
                    result.set_exception(error)
                else:
                    result.set_result(task.result())
            except concurrent.futures.InvalidStateError:
                pass  # already cancelled by close()

        def start() -> None:
            if cancel_requested:
                coro.close()
                result.cancel()
                return
            task = loop.create_task(coro)
            tasks.append(task)
            task.add_done_callback(copy_outcome)

        def cancel() -> None:
            nonlocal cancel_requested
            cancel_requested = True
            for task in tasks:
                task.cancel()

        with self._lock:
            self._pending.add(result)
        try:
            # Submitting is inside the guarded block: an interrupt that lands
            # right after the submission must still cancel the work.
            try:
                loop.call_soon_threadsafe(start)
            except RuntimeError:  # the loop was closed meanwhile
                coro.close()
                raise RuntimeError(f"{self._name} event loop thread is closed") from None
            # Wait in short slices so Ctrl-C is seen promptly. Test done()
            # rather than catching TimeoutError: the coroutine's own error may
            # be a TimeoutError subclass (an operation that ran out of time).
            while not result.done():
                concurrent.futures.wait((result,), timeout=_WAIT_SLICE)
            return result.result()
        except BaseException:
            if not result.done():
                try:
                    loop.call_soon_threadsafe(cancel)
                except RuntimeError:
                    pass  # loop already closed; nothing left to cancel
                else:
                    # Give the task a moment to run its cleanup; exception()
                    # (unlike futures.wait) also wakes up on cancel().
                    try:
                        result.exception(timeout=_CANCEL_GRACE)
                    except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                        pass
            raise
        finally:
            with self._lock:
                self._pending.discard(result)

    def close(self) -> None:
        """Cancel what is still running, stop the loop and join its thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
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

"""What the commands that serve until stopped (``emulator``, ``cassette record|replay``)
share: the stop on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal

__all__ = ["stop_on_signals"]


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call it inside the running loop).

    Where the loop takes no signal handlers (Windows, a thread), Ctrl-C still ends the
    command as a KeyboardInterrupt, which the commands treat as a clean stop.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop

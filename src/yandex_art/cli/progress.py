"""The one progress renderer of the commands: what a long wait shows, wherever it runs.

A command describes its progress with a :class:`ProgressView` (the text and the event);
the renderer decides where and how often it is shown, in one of three modes:

- ``--json``: a ``progress`` event on stdout at most every ``event_seconds``;
- a terminal on stderr: one line redrawn in place, at every update;
- anything else (a log, CI, ``| tee``): a plain line at most every ``log_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .output import Output

__all__ = ["Cadence", "Progress", "ProgressView"]


class ProgressView(Protocol):
    """What a command's progress says; the renderer calls these when it shows it."""

    def terminal_line(self) -> str:
        """The line redrawn in place on a terminal."""

    def log_line(self) -> str:
        """The line printed when stderr is not a terminal."""

    def event(self) -> dict[str, Any]:
        """The fields of a JSON ``progress`` event (``event`` included)."""


@dataclass(frozen=True)
class Cadence:
    tick_seconds: float  # how often the renderer updates by itself while running
    log_seconds: float  # a plain line at most this often (math.inf: once, at the start)
    event_seconds: float  # a JSON event at most this often (unless forced)


class Progress:
    """Shows a :class:`ProgressView` on ``out`` at the pace of a :class:`Cadence`."""

    def __init__(self, out: Output, view: ProgressView, cadence: Cadence) -> None:
        self.out = out
        self.view = view
        self.cadence = cadence
        self.terminal = not out.json and bool(getattr(out.stderr, "isatty", lambda: False)())
        self._last_log = -math.inf
        self._last_event = -math.inf

    def update(self, force: bool = False) -> None:
        """Show the progress now if the mode's pace allows (``force``: a JSON event anyway)."""
        now = time.monotonic()
        if self.out.json:
            if force or now - self._last_event >= self.cadence.event_seconds:
                self._last_event = now
                self.out.event(**self.view.event())
        elif self.terminal:
            self._write("\r" + self.view.terminal_line() + "\x1b[K")
        elif now - self._last_log >= self.cadence.log_seconds:
            # WHY: a wait run by cron, CI or `| tee` has no terminal to redraw a line on;
            # without these lines it looked hung until the end.
            self._last_log = now
            self._write(self.view.log_line() + "\n")

    def clear(self) -> None:
        """Remove the terminal line (before another message, and at the end)."""
        if self.terminal:
            self._write("\r\x1b[K")

    @contextlib.contextmanager
    def running(self) -> Iterator[Progress]:
        """Show the progress at once, then every tick until the block ends (inside a loop)."""
        self.update(force=True)
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            yield self
        finally:
            ticker.cancel()
            self.clear()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.cadence.tick_seconds)
            self.update()

    def _write(self, text: str) -> None:
        self.out.stderr.write(text)
        self.out.stderr.flush()

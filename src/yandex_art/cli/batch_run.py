"""One run of ``yandex-art batch``: what happens at each step of each item, and the summary.

The SDK's ``run_batch`` drives the items; :class:`BatchSteps` is called at each step to
journal it (``sending`` before a Generate, ``started`` with the operation id as soon as it
answers, then ``done``, ``failed`` or ``unwritten``), write each image, and count. Once an
image or a record cannot be written, :class:`DiskPause` stops new Generates.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._runtime.errors import QuotaPausedError
from .batch_journal import DiskFault, Journal, write_image
from .batch_plan import Plan, requested_mime
from .errors import EXIT_DISK, EXIT_OK, EXIT_OPERATION, EXIT_TRANSPORT, describe
from .output import PROG, Output, extension
from .progress import Cadence, Progress

if TYPE_CHECKING:
    from .._runtime.batch import BatchItem, BatchRequest
    from .._runtime.operation import AsyncOperation

__all__ = ["BatchSteps", "DiskPause", "Tally", "summary"]

# A bar redrawn on every step and twice a second on a terminal; off one, a line every 5 s
# (a log or CI job shows life that often); with --json an event a second at most.
CADENCE = Cadence(tick_seconds=0.5, log_seconds=5.0, event_seconds=1.0)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60:02d}s" if whole < 3600 else f"{whole // 3600}h"


class Tally:
    """The counts of a run and its ETA; also what the progress renderer shows of it."""

    def __init__(self, total: int, done: int, failed: int, args: Any) -> None:
        self.total = total
        self.done = done
        self.failed = failed
        self.started = time.monotonic()
        self.finished_now = 0
        self.paused = 0  # items not started: the disk or the day's Generate quota paused them
        self.resume_at: float | None = None  # POSIX time, when known
        self.generation: list[float] = []  # learned durations seen at start
        self.rate: float = args.rate
        self.concurrency: int = args.concurrency

    def eta(self) -> float | None:
        remaining = self.total - self.done - self.failed - self.paused
        if remaining <= 0:
            return 0.0
        elapsed = time.monotonic() - self.started
        if self.finished_now >= 3 and elapsed > 0:
            return remaining / (self.finished_now / elapsed)
        if not self.generation:
            return None
        typical: float = statistics.median(self.generation)
        per_second = min(float(self.rate) / 60.0, self.concurrency / max(typical, 0.1))
        return remaining / per_second + typical

    def terminal_line(self) -> str:
        width = 24
        filled = int(width * (self.done + self.failed) / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        counts = f"{self.done}/{self.total} done, {self.failed} failed"
        return f"[{bar}] {counts}, ETA {_duration(self.eta())}"

    def log_line(self) -> str:
        counts = f"{self.done}/{self.total} done, {self.failed} failed"
        return f"batch: {counts}, ETA {_duration(self.eta())}"

    def event(self) -> dict[str, Any]:
        eta = self.eta()
        return {
            "event": "progress",
            "done": self.done,
            "failed": self.failed,
            "total": self.total,
            "eta_seconds": None if eta is None else round(eta, 1),
        }


class DiskPause:
    """Once an image or a record cannot be written, no Generate starts (a retry would pay
    for an image that cannot be written either); the operations in flight are finished."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.error: OSError | None = None
        self.unwritten: list[tuple[str, str | None]] = []  # (item, operation id), paid for

    @property
    def on(self) -> bool:
        return self.error is not None or self.journal.fault is not None

    def reason(self) -> str:
        error = self.error or self.journal.fault
        return f"{error.strerror or error}" if error else ""

    def feed(self, requests: list[BatchRequest]) -> Iterator[BatchRequest]:
        for request in requests:
            if self.on:
                return
            yield request


class BatchSteps:
    """The callbacks of one run: journal each step, write each image, count."""

    def __init__(
        self, args: Any, out: Output, directory: Path, journal: Journal, plan: Plan, total: int
    ) -> None:
        self.args, self.out, self.directory = args, out, directory
        self.journal, self.plan = journal, plan
        self.pause = DiskPause(journal)
        self.tally = Tally(total, plan.done + plan.adopted, plan.failed_before, args)
        self.progress = Progress(out, self.tally, CADENCE)

    def on_start(self, index: int, request: BatchRequest) -> None:
        # Raised before the Generate is sent: its item ends paused, and nothing is billed.
        if self.pause.on:
            raise DiskFault(self.pause.reason())
        if not self.journal.write(
            sync=False,
            event="sending",
            item=request.name,
            key=request.idempotency_key,
            digest=self.plan.digests.get(request.name or ""),
        ):
            raise DiskFault(self.pause.reason())

    def on_started(self, index: int, request: BatchRequest, operation: AsyncOperation[Any]) -> None:
        if request.operation_id is None:
            written = self.journal.write(
                sync=True,
                event="started",
                item=request.name,
                operation_id=operation.id,
                digest=self.plan.digests.get(request.name or ""),
            )
            if not written:  # the id must reach the user all the same
                self.progress.clear()
                self.out.info(f"{request.name}: operation {operation.id} (not journaled)")
        expected = operation.expected_remaining()
        if expected is not None and len(self.tally.generation) < 32:
            self.tally.generation.append(expected)

    async def finish(self, item: BatchItem[Any]) -> None:
        key = item.request.name or str(item.index)
        if item.error is None and item.result is not None:
            await self._save(key, item)
        elif isinstance(item.error, DiskFault):
            self.tally.paused += 1  # not sent: the rerun generates it
        elif isinstance(item.error, QuotaPausedError):
            # Not a failure: nothing was generated, and the rerun after the hint starts it.
            error = item.error
            self.tally.paused += 1
            if error.resume_at is not None:
                self.tally.resume_at = max(self.tally.resume_at or 0.0, error.resume_at)
            self.out.event(event="item", item=key, paused=True, resume_at=error.resume_at)
        else:
            self._failed(key, item)

    async def _save(self, key: str, item: BatchItem[Any]) -> None:
        result = item.result
        assert result is not None
        name = f"{key}.{extension(result.mime_type or requested_mime(self.args))}"
        try:
            kept = await asyncio.to_thread(
                write_image,
                self.directory,
                name,
                result.image_bytes,
                keep_old=key in self.plan.keep_old,
            )
        except OSError as exc:
            self._unwritten(key, item, name, exc)
            return
        self.journal.write(
            sync=True,
            event="done",
            item=key,
            operation_id=item.operation_id,
            path=name,
            digest=self.plan.digests.get(key),
            **({"kept": kept} if kept else {}),
        )
        self.tally.done += 1
        self.out.event(event="item", item=key, operation_id=item.operation_id, path=name)

    def _unwritten(self, key: str, item: BatchItem[Any], name: str, exc: OSError) -> None:
        # Paid for and not written: the operation stays journaled as started, so the
        # rerun after the fix fetches it again instead of generating it again.
        self.pause.error = self.pause.error or exc
        self.pause.unwritten.append((key, item.operation_id))
        self.journal.write(
            sync=True,
            event="unwritten",
            item=key,
            operation_id=item.operation_id,
            error={"message": f"cannot write {name}: {exc.strerror or exc}"},
        )
        self.out.event(event="item", item=key, operation_id=item.operation_id, unwritten=True)

    def _failed(self, key: str, item: BatchItem[Any]) -> None:
        error = item.error
        code = getattr(error, "code", None)
        message = getattr(error, "error_message", None) or describe(error or Exception())
        self.journal.write(
            sync=True,
            event="failed",
            item=key,
            operation_id=item.operation_id,
            digest=self.plan.digests.get(key),
            error={"code": code, "message": message},
        )
        self.tally.failed += 1
        if not self.out.json:
            self.progress.clear()
            self.out.info(f"{key}: failed: {message}")
        self.out.event(
            event="item",
            item=key,
            operation_id=item.operation_id,
            error={"type": type(error).__name__, "code": code, "message": message},
        )


# -- the summary ------------------------------------------------------------------------------


def _counts_line(steps: BatchSteps, directory: Path, seconds: float) -> str:
    tally, plan = steps.tally, steps.plan
    skipped = plan.done + plan.adopted
    return (
        f"batch: {tally.done}/{tally.total} written, {tally.failed} failed"
        + (
            f" ({plan.failed_before} earlier; rerun with --retry-failed)"
            if plan.failed_before
            else ""
        )
        + (f", {skipped} already done" if skipped else "")
        + (f" ({plan.adopted} found in {directory} without a record)" if plan.adopted else "")
        + f", {seconds:.1f} s; images in {directory}"
    )


def _paused_line(steps: BatchSteps, directory: Path) -> str | None:
    """Why the batch stopped starting items, if it did; None when it did not."""
    tally = steps.tally
    if steps.pause.on:
        paid = len(steps.pause.unwritten)
        advice = (
            "Rerun the same command to go on: the whole images in the directory count as done"
            if steps.journal.gone
            else "Free space or fix permissions, then rerun the same command: the images "
            "already generated are fetched again, not generated again"
        )
        return (
            f"batch paused: cannot write in {directory} ({steps.pause.reason()}); "
            f"{paid} image(s) generated but not written, {tally.paused} item(s) not started. "
            + advice
        )
    if not tally.paused:
        return None
    when = "later"
    if tally.resume_at is not None:
        moment = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(tally.resume_at))
        when = f"after {moment}"
    return (
        f"batch paused: {tally.paused} item(s) not started, the folder's Generate "
        f"quota for the day is used up; rerun the same command {when} to resume"
    )


def _exit_code(steps: BatchSteps) -> int:
    code = EXIT_OK if steps.tally.failed == 0 else EXIT_OPERATION
    if steps.pause.on:
        return EXIT_DISK
    if steps.tally.paused and code == EXIT_OK:
        return EXIT_TRANSPORT
    return code


def _report_unjournaled(steps: BatchSteps) -> None:
    """Operation ids the journal lost: printed, as the rerun cannot know them."""
    lost = steps.journal.lost
    if not lost:
        return
    steps.out.info(
        f"{len(lost)} operation id(s) could not be journaled and a rerun cannot know them; "
        f"fetch any whose image is not in {steps.directory} with "
        f"`{PROG} attach OPERATION_ID -o FILE`:"
    )
    for item, operation_id in lost:
        steps.out.info(f"  {item}: {operation_id}")


def summary(steps: BatchSteps, directory: Path) -> int:
    """Print the run's summary (a line, and the ``summary`` event); returns the exit code."""
    out, tally = steps.out, steps.tally
    seconds = time.monotonic() - tally.started
    out.line(_counts_line(steps, directory, seconds))
    paused = _paused_line(steps, directory)
    if paused is not None:
        out.line(paused)
    _report_unjournaled(steps)
    code = _exit_code(steps)
    out.event(
        event="summary",
        exit_code=code,
        paused=tally.paused,
        resume_at=tally.resume_at,
        unwritten=[{"item": k, "operation_id": op} for k, op in steps.pause.unwritten],
        unjournaled=[{"item": k, "operation_id": op} for k, op in steps.journal.lost],
        total=tally.total,
        done=tally.done,
        failed=tally.failed,
        skipped=steps.plan.done + steps.plan.adopted,
        seconds=round(seconds, 3),
        directory=str(directory),
    )
    return code

"""``yandex-art batch``: one image per prompt of a file, resumable after any crash.

PROMPTS is a text file (one prompt per line; blank lines and lines starting
with ``#`` are skipped) or JSONL (``{"prompt": ..., "name": ..., "seed": ...,
"ratio": "W:H"}`` per line). Item ``k`` is saved as ``DIR/<name or line
number>.<extension of the MIME type>``, written to a hidden temporary file,
fsync'd and renamed, so a file with the final name is always whole.

The journal ``DIR/.yandex-art-batch.jsonl`` (batch_journal.py; batch_plan.py settles each
item against it) makes reruns safe. Its first record names the PROMPTS file; per item it
records, in order: ``sending`` (flushed)
just before Generate is requested, ``started`` with the operation id (flushed and fsync'd)
as soon as Generate answers and before anything else happens, then ``done`` (after the
image is renamed into place) or ``failed``; each with a digest of what the item asks for.
Rerunning the same command reads it and: skips items done (whose image is whole), attaches
to started ones instead of generating them again, leaves failed ones failed unless
``--retry-failed``, generates again the lines that changed (the old image is kept as
``NAME~vN``), and generates the rest. A whole image with no record (the journal was lost)
counts as done. An item whose Generate was sent but whose answer never arrived is
journaled as ``sending`` only, with the ``idempotency-key`` it was sent with: it is
requested again with the same key, so the service can recognise the repeat.

When an image or a record cannot be written (disk full, permissions, I/O error), no
Generate starts any more: the operations in flight are finished, the ones whose image
could not be written stay journaled as started, and the batch exits with ``EXIT_DISK``;
the rerun after the fix fetches them again, generating nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._runtime.errors import QuotaPausedError
from .batch_journal import JOURNAL, DiskFault, Journal, clean_leftovers, write_image
from .batch_plan import Plan, plan_items, requested_mime

if TYPE_CHECKING:
    from ._client import AsyncAIStudio
    from ._runtime.batch import BatchItem, BatchRequest
    from ._runtime.operation import AsyncOperation
    from .cli import _Output

__all__ = ["JOURNAL", "register", "run"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")


def register(
    commands: Any,
    add_connection: Callable[[argparse.ArgumentParser], None],
    add_generation_flags: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add the ``batch`` subcommand (called by ``cli.build_parser``)."""
    batch = commands.add_parser(
        "batch",
        help="generate one image per prompt of a file (resumable)",
        description="Generate an image for every prompt in PROMPTS into DIR. Rerun the same "
        "command after an interruption: finished items are skipped, running ones re-attached.",
    )
    batch.add_argument("prompts", metavar="PROMPTS", help="text file (a prompt a line) or JSONL")
    batch.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="where to save")
    batch.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="operations at once (8)"
    )
    batch.add_argument(
        "--rate",
        type=float,
        default=100.0,
        metavar="PER_MIN",
        help="generations started per minute at most (100)",
    )
    add_generation_flags(batch)  # --seed, --ratio, --mime-type, ... from the specs
    batch.add_argument(
        "--retry-failed", action="store_true", help="generate again the items that failed before"
    )
    batch.add_argument(
        "--force-new",
        action="store_true",
        help="make PROMPTS the batch of DIR even if DIR holds another file's batch",
    )
    batch.add_argument("--model", default="yandex-art", help="model name or URI (yandex-art)")
    batch.add_argument("--emulator", action="store_true", help="use an embedded local emulator")
    batch.add_argument(
        "--auto-emulator",
        action="store_true",
        help="the real service when credentials are configured, else the embedded emulator",
    )
    add_connection(batch)


# -- input -------------------------------------------------------------------------------


@dataclass
class _Item:
    key: str
    prompt: str
    seed: int | None = None
    ratio: tuple[int, int] | None = None


def _parse_ratio(value: Any, where: str) -> tuple[int, int]:
    """``"W:H"`` or ``[W, H]``, read as ``--ratio`` reads it (0 means the default, 1)."""
    from .cli import EXIT_USAGE, CliError, group_usage, parse_group

    names = ("width_ratio", "height_ratio")
    if isinstance(value, list) and all(type(v) is int for v in value):
        value = ":".join(str(v) for v in value)
    ratio = parse_group(value, names) if isinstance(value, str) else None
    if ratio is None:
        raise CliError(f"{where}: ratio: {group_usage(names)}; got {value!r}", EXIT_USAGE)
    return ratio[0], ratio[1]


def read_prompts(path: str) -> list[_Item]:
    """The items of a PROMPTS file, checked (unique names, usable as file names)."""
    from .cli import EXIT_USAGE, CliError

    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_USAGE) from None
    # WHY: "\n" (and "\r\n") only: str.splitlines() also splits at form feeds, U+2028 and
    # the like, and item names (line numbers) would stop matching the editor's lines.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    first = next((line.strip() for line in lines if line.strip()), "")
    jsonl = path.endswith(".jsonl") or first.startswith("{")
    items: list[_Item] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or (not jsonl and text.startswith("#")):
            continue
        where = f"{path}:{number}"
        if not jsonl:
            items.append(_Item(str(number), text))
            continue
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise CliError(f"{where}: not JSON ({exc})", EXIT_USAGE) from None
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise CliError(f'{where}: expected {{"prompt": "...", ...}}', EXIT_USAGE)
        name = record.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            raise CliError(f"{where}: name {name!r} is not a usable file name", EXIT_USAGE)
        seed = record.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise CliError(f"{where}: seed must be an integer", EXIT_USAGE)
        ratio = record.get("ratio")
        items.append(
            _Item(
                name or str(number),
                record["prompt"],
                seed,
                None if ratio is None else _parse_ratio(ratio, where),
            )
        )
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            raise CliError(f"{path}: the name {item.key!r} is used twice", EXIT_USAGE)
        seen.add(item.key)
    if not items:
        raise CliError(f"{path}: no prompts", EXIT_USAGE)
    return items


# -- progress ------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60:02d}s" if whole < 3600 else f"{whole // 3600}h"


class _Progress:
    LINE_SECONDS = 5.0  # a log or CI job shows life at least this often

    def __init__(self, out: _Output, total: int, done: int, failed: int, args: Any) -> None:
        self.out = out
        self.total = total
        self.done = done
        self.failed = failed
        self.started = time.monotonic()
        self.finished_now = 0
        self.paused = 0  # items not started: the day's Generate quota is used up
        self.resume_at: float | None = None  # POSIX time, when known
        self.generation: list[float] = []  # learned durations seen at start
        self.rate: float = args.rate
        self.concurrency: int = args.concurrency
        self._live = not out.json and bool(getattr(out.stderr, "isatty", lambda: False)())
        self._last_event = 0.0
        self._last_line = -math.inf  # off a terminal: a plain line every LINE_SECONDS

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

    def update(self, force: bool = False) -> None:
        eta = self.eta()
        if self._live:
            width = 24
            filled = int(width * (self.done + self.failed) / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.out.stderr.write(
                f"\r[{bar}] {self.done}/{self.total} done, {self.failed} failed, "
                f"ETA {_duration(eta)}\x1b[K"
            )
            self.out.stderr.flush()
        now = time.monotonic()
        if not self._live and not self.out.json and now - self._last_line >= self.LINE_SECONDS:
            # WHY: a batch run by cron, CI or `| tee` has no terminal for the bar; without
            # these lines it looked hung until the end.
            self._last_line = now
            self.out.stderr.write(
                f"batch: {self.done}/{self.total} done, {self.failed} failed, "
                f"ETA {_duration(eta)}\n"
            )
            self.out.stderr.flush()
        if self.out.json and (force or now - self._last_event >= 1.0):
            self._last_event = now
            self.out.event(
                event="progress",
                done=self.done,
                failed=self.failed,
                total=self.total,
                eta_seconds=None if eta is None else round(eta, 1),
            )

    def clear(self) -> None:
        if self._live:
            self.out.stderr.write("\r\x1b[K")
            self.out.stderr.flush()

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.update()


# -- the run ---------------------------------------------------------------------------------


class _DiskPause:
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


async def _batch_with(
    sdk: AsyncAIStudio, args: Any, out: _Output, items: list[_Item], directory: Path
) -> int:
    from .cli import extension

    journal = Journal(directory)
    try:
        if journal.bad_lines:
            out.info(f"{journal.path}: skipped {journal.bad_lines} unreadable line(s)")
        clean_leftovers(directory)
        ext = extension(requested_mime(args))
        plan = plan_items(journal, items, args, directory, ext)
        # A run that stopped a moment ago may still have reads counted in the
        # server's current quota window, which this process's budget cannot see.
        quiet = journal.last_time + 1.1 - time.time()
        if 0 < quiet <= 1.1:
            await asyncio.sleep(quiet)
        if plan.resent:
            out.info(
                f"{plan.resent} item(s) were being sent when the last run stopped; "
                "requesting again with the same idempotency keys"
            )
        return await _execute(sdk, args, out, items, directory, journal, plan)
    finally:
        journal.close()


class _Batch:
    """The callbacks of one run: journal each step, write each image, count."""

    def __init__(
        self, args: Any, out: _Output, directory: Path, journal: Journal, plan: Plan, total: int
    ) -> None:
        self.args, self.out, self.directory = args, out, directory
        self.journal, self.plan = journal, plan
        self.pause = _DiskPause(journal)
        self.progress = _Progress(out, total, plan.done + plan.adopted, plan.failed_before, args)

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
        if expected is not None and len(self.progress.generation) < 32:
            self.progress.generation.append(expected)

    async def finish(self, item: BatchItem[Any]) -> None:
        key = item.request.name or str(item.index)
        if item.error is None and item.result is not None:
            await self._save(key, item)
        elif isinstance(item.error, DiskFault):
            self.progress.paused += 1  # not sent: the rerun generates it
        elif isinstance(item.error, QuotaPausedError):
            # Not a failure: nothing was generated, and the rerun after the hint starts it.
            error = item.error
            self.progress.paused += 1
            if error.resume_at is not None:
                self.progress.resume_at = max(self.progress.resume_at or 0.0, error.resume_at)
            self.out.event(event="item", item=key, paused=True, resume_at=error.resume_at)
        else:
            self._failed(key, item)

    async def _save(self, key: str, item: BatchItem[Any]) -> None:
        from .cli import extension

        result = item.result
        assert result is not None
        mime_type = result.mime_type or requested_mime(self.args)
        name = f"{key}.{extension(mime_type)}"
        keep_old = key in self.plan.keep_old
        try:
            kept = await asyncio.to_thread(
                write_image, self.directory, name, result.image_bytes, keep_old=keep_old
            )
        except OSError as exc:
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
        self.progress.done += 1
        self.out.event(event="item", item=key, operation_id=item.operation_id, path=name)

    def _failed(self, key: str, item: BatchItem[Any]) -> None:
        from .cli import describe

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
        self.progress.failed += 1
        if not self.out.json:
            self.progress.clear()
            self.out.info(f"{key}: failed: {message}")
        self.out.event(
            event="item",
            item=key,
            operation_id=item.operation_id,
            error={"type": type(error).__name__, "code": code, "message": message},
        )


async def _execute(
    sdk: AsyncAIStudio,
    args: Any,
    out: _Output,
    items: list[_Item],
    directory: Path,
    journal: Journal,
    plan: Plan,
) -> int:
    run = _Batch(args, out, directory, journal, plan, len(items))
    progress = run.progress
    model = sdk.models.image_generation(args.model)
    ticker = asyncio.ensure_future(progress.tick())
    finished = 0
    try:
        progress.update(force=True)
        async for result in model.run_batch(
            run.pause.feed(plan.requests),
            concurrency=args.concurrency,
            rate_per_minute=args.rate,
            poll_timeout=args.timeout,
            on_start=run.on_start,
            on_started=run.on_started,
        ):
            finished += 1
            progress.finished_now += 1
            await run.finish(result)
            progress.update()
    finally:
        ticker.cancel()
        progress.clear()
    progress.paused += len(plan.requests) - finished  # never fed: the disk paused the batch
    return _summary(run, directory)


def _summary(run: _Batch, directory: Path) -> int:
    from .cli import EXIT_DISK, EXIT_OK, EXIT_OPERATION, EXIT_TRANSPORT

    out, progress, plan = run.out, run.progress, run.plan
    seconds = time.monotonic() - progress.started
    skipped = plan.done + plan.adopted
    out.line(
        f"batch: {progress.done}/{progress.total} written, {progress.failed} failed"
        + (
            f" ({plan.failed_before} earlier; rerun with --retry-failed)"
            if plan.failed_before
            else ""
        )
        + (f", {skipped} already done" if skipped else "")
        + (f" ({plan.adopted} found in {directory} without a record)" if plan.adopted else "")
        + f", {seconds:.1f} s; images in {directory}"
    )
    code = EXIT_OK if progress.failed == 0 else EXIT_OPERATION
    if run.pause.on:
        paid = len(run.pause.unwritten)
        out.line(
            f"batch paused: cannot write in {directory} ({run.pause.reason()}); "
            f"{paid} image(s) generated but not written, {progress.paused} item(s) not started. "
            "Free space or fix permissions, then rerun the same command: the images already "
            "generated are fetched again, not generated again"
        )
        code = EXIT_DISK
    elif progress.paused:
        when = "later"
        if progress.resume_at is not None:
            moment = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(progress.resume_at))
            when = f"after {moment}"
        out.line(
            f"batch paused: {progress.paused} item(s) not started, the folder's Generate "
            f"quota for the day is used up; rerun the same command {when} to resume"
        )
        code = EXIT_TRANSPORT if code == EXIT_OK else code
    out.event(
        event="summary",
        exit_code=code,
        paused=progress.paused,
        resume_at=progress.resume_at,
        unwritten=[{"item": k, "operation_id": op} for k, op in run.pause.unwritten],
        total=progress.total,
        done=progress.done,
        failed=progress.failed,
        skipped=skipped,
        seconds=round(seconds, 3),
        directory=str(directory),
    )
    return code


async def _batch(args: Any, out: _Output, env: Mapping[str, str]) -> int:
    from .cli import EXIT_USAGE, CliError, connect

    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1", EXIT_USAGE)
    if not args.rate > 0:
        raise CliError("--rate must be > 0", EXIT_USAGE)
    items = read_prompts(args.prompts)
    directory = Path(args.output_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {directory}: {exc}", EXIT_USAGE) from None
    note = "using an embedded emulator: the images are placeholders, not YandexART's"
    async with connect(args, env, out, note) as sdk:
        return await _batch_with(sdk, args, out, items, directory)


def run(args: Any, out: _Output, env: Mapping[str, str]) -> int:
    """Run ``yandex-art batch``; returns the exit code."""
    from .cli import EXIT_INTERRUPTED, PROG, _classify, _report, _Run

    try:
        return asyncio.run(_batch(args, out, env))
    except KeyboardInterrupt:
        print(
            f"\n{PROG}: interrupted; operations keep running on the server. Rerun the same "
            "command to resume (finished items are skipped, running ones re-attached).",
            file=out.stderr,
            flush=True,
        )
        out.event(event="interrupted", exit_code=EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _report(_classify(exc), out, _Run(), args)

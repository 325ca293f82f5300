"""``yandex-art batch``: one image per prompt of a file, resumable after any crash.

PROMPTS is a text file (one prompt per line; blank lines and lines starting
with ``#`` are skipped) or JSONL (``{"prompt": ..., "name": ..., "seed": ...,
"ratio": "W:H"}`` per line). Item ``k`` is saved as ``DIR/<name or line
number>.<extension of the MIME type>``, written to a hidden temporary file,
fsync'd and renamed, so a file with the final name is always whole.

The journal ``DIR/.yandex-art-batch.jsonl`` makes reruns safe. Per item it
records, in order: ``sending`` (flushed) just before Generate is requested,
``started`` with the operation id (flushed and fsync'd) as soon as Generate
answers and before anything else happens, then ``done`` (after the image is
renamed into place) or ``failed``. Rerunning the same command reads it and:
skips items done (whose file exists), attaches to started ones instead of
generating them again, leaves failed ones failed unless ``--retry-failed``,
and generates the rest. An item whose Generate was sent but whose answer
never arrived (the process was killed during that round trip) is journaled
as ``sending`` only, with the ``idempotency-key`` it was sent with: it is
requested again with the same key, so the service can recognise the repeat
(the emulator answers with the operation it already started).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import AsyncAIStudio
    from ._runtime.batch import BatchItem, BatchRequest
    from ._runtime.operation import AsyncOperation
    from .cli import _Output

__all__ = ["JOURNAL", "register", "run"]

JOURNAL = ".yandex-art-batch.jsonl"
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
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_USAGE) from None
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


# -- journal -------------------------------------------------------------------------------


@dataclass
class _State:
    state: str  # sending, started, done, failed
    operation_id: str | None = None
    path: str | None = None
    key: str | None = None  # the idempotency-key of the latest Generate sent


class Journal:
    """Append-only JSON lines; one process at a time (an advisory lock on the file)."""

    def __init__(self, directory: Path) -> None:
        from .cli import EXIT_USAGE, CliError

        self.path = directory / JOURNAL
        self.states: dict[str, _State] = {}
        self.last_time = 0.0  # wall-clock time of the latest record
        self._file: IO[str] = open(self.path, "a+", encoding="utf-8")
        try:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError:
            self._file.close()
            raise CliError(f"another batch is running in {directory}", EXIT_USAGE) from None
        self._file.seek(0)
        for line in self._file.read().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(record, dict) and isinstance(record.get("item"), str):
                self._fold(record)
        # A line cut short by a crash must not glue itself to the next record.
        if self._file.tell() and not self._ends_with_newline():
            self._file.write("\n")

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as raw:
            raw.seek(-1, os.SEEK_END)
            return raw.read(1) == b"\n"

    def _fold(self, record: dict[str, Any]) -> None:
        key, event = record["item"], record.get("event")
        if isinstance(record.get("t"), int | float):
            self.last_time = max(self.last_time, float(record["t"]))
        current = self.states.get(key)
        if event == "sending":
            sent_key = record.get("key")
            self.states[key] = _State(
                "sending", key=sent_key if isinstance(sent_key, str) else None
            )
        elif event == "started":
            self.states[key] = _State("started", record.get("operation_id"))
        elif event == "done":
            op = record.get("operation_id") or (current.operation_id if current else None)
            self.states[key] = _State("done", op, record.get("path"))
        elif event == "failed":
            op = record.get("operation_id") or (current.operation_id if current else None)
            self.states[key] = _State("failed", op)

    def write(self, *, sync: bool, **record: Any) -> None:
        record["t"] = round(time.time(), 3)
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())
        self._fold(record)

    def close(self) -> None:
        self._file.close()


def _write_image(directory: Path, name: str, data: bytes) -> Path:
    target = directory / name
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, target)
    return target


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


async def _batch_with(
    sdk: AsyncAIStudio, args: Any, out: _Output, items: list[_Item], directory: Path
) -> int:
    from ._runtime.batch import BatchRequest
    from ._runtime.errors import QuotaPausedError
    from .cli import EXIT_OK, EXIT_OPERATION, EXIT_TRANSPORT, describe, extension

    journal = Journal(directory)
    try:
        for leftover in directory.glob(".*.tmp"):  # from a run killed while writing
            with contextlib.suppress(OSError):
                leftover.unlink()
        from .cli import generation_options

        defaults = generation_options(args)
        requests: list[BatchRequest] = []
        done = failed_before = 0
        resent = 0
        for item in items:
            state = journal.states.get(item.key)
            if state and state.state == "done" and state.path and (directory / state.path).exists():
                done += 1
                continue
            if state and state.state == "failed" and not args.retry_failed:
                failed_before += 1
                continue
            options = dict(defaults)  # the command's flags; the item's own values win
            if item.seed is not None:
                options["seed"] = item.seed
            if item.ratio is not None:
                options["width_ratio"], options["height_ratio"] = item.ratio
            attach = None
            idempotency_key = str(uuid.uuid4())
            if state and state.state in ("started", "done") and state.operation_id:
                attach = state.operation_id
            elif state and state.state == "sending":
                resent += 1
                idempotency_key = state.key or idempotency_key
            requests.append(BatchRequest(item.prompt, options, item.key, attach, idempotency_key))
        # A run that stopped a moment ago may still have reads counted in the
        # server's current quota window, which this process's budget cannot see.
        quiet = journal.last_time + 1.1 - time.time()
        if 0 < quiet <= 1.1:
            await asyncio.sleep(quiet)
        total = len(items)
        progress = _Progress(out, total, done, failed_before, args)
        if resent:
            out.info(
                f"{resent} item(s) were being sent when the last run stopped; "
                "requesting again with the same idempotency keys"
            )
        model = sdk.models.image_generation(args.model)

        def on_start(index: int, request: BatchRequest) -> None:
            journal.write(
                sync=False, event="sending", item=request.name, key=request.idempotency_key
            )

        def on_started(index: int, request: BatchRequest, operation: AsyncOperation[Any]) -> None:
            if request.operation_id is None:
                journal.write(
                    sync=True, event="started", item=request.name, operation_id=operation.id
                )
            expected = operation.expected_remaining()
            if expected is not None and len(progress.generation) < 32:
                progress.generation.append(expected)

        async def finish(item: BatchItem[Any]) -> None:
            key = item.request.name or str(item.index)
            if item.error is None and item.result is not None:
                mime_type = item.result.mime_type or defaults.get("mime_type") or "image/jpeg"
                name = f"{key}.{extension(mime_type)}"
                try:
                    await asyncio.to_thread(_write_image, directory, name, item.result.image_bytes)
                except OSError as exc:
                    journal.write(
                        sync=True,
                        event="failed",
                        item=key,
                        operation_id=item.operation_id,
                        error={"message": f"cannot write {name}: {exc}"},
                    )
                    progress.failed += 1
                    return
                journal.write(
                    sync=True, event="done", item=key, operation_id=item.operation_id, path=name
                )
                progress.done += 1
                out.event(event="item", item=key, operation_id=item.operation_id, path=name)
                return
            error = item.error
            if isinstance(error, QuotaPausedError):
                # Not a failure: nothing was generated, and the rerun after the hint starts it.
                progress.paused += 1
                if error.resume_at is not None:
                    progress.resume_at = max(progress.resume_at or 0.0, error.resume_at)
                out.event(event="item", item=key, paused=True, resume_at=error.resume_at)
                return
            code = getattr(error, "code", None)
            message = getattr(error, "error_message", None) or describe(error or Exception())
            journal.write(
                sync=True,
                event="failed",
                item=key,
                operation_id=item.operation_id,
                error={"code": code, "message": message},
            )
            progress.failed += 1
            if not out.json:
                progress.clear()
                out.info(f"{key}: failed: {message}")
            out.event(
                event="item",
                item=key,
                operation_id=item.operation_id,
                error={"type": type(error).__name__, "code": code, "message": message},
            )

        ticker = asyncio.ensure_future(progress.tick())
        try:
            progress.update(force=True)
            async for result in model.run_batch(
                requests,
                concurrency=args.concurrency,
                rate_per_minute=args.rate,
                poll_timeout=args.timeout,
                on_start=on_start,
                on_started=on_started,
            ):
                progress.finished_now += 1
                await finish(result)
                progress.update()
        finally:
            ticker.cancel()
            progress.clear()
        seconds = time.monotonic() - progress.started
        skipped = done
        out.line(
            f"batch: {progress.done}/{total} written, {progress.failed} failed"
            + (f" ({failed_before} earlier; rerun with --retry-failed)" if failed_before else "")
            + (f", {skipped} already done" if skipped else "")
            + f", {seconds:.1f} s; images in {directory}"
        )
        code = EXIT_OK if progress.failed == 0 else EXIT_OPERATION
        if progress.paused:
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
            total=total,
            done=progress.done,
            failed=progress.failed,
            skipped=skipped,
            seconds=round(seconds, 3),
            directory=str(directory),
        )
        return code
    finally:
        journal.close()


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

"""``yandex-art batch``: one image per prompt of a file, resumable after any crash.

PROMPTS is a text file (one prompt per line; blank lines and lines starting
with ``#`` are skipped) or JSONL (``{"prompt": ..., "name": ..., "seed": ...,
"ratio": "W:H"}`` per line). Item ``k`` is saved as ``DIR/<name or line
number>.<extension of the MIME type>``, written to a hidden temporary file,
fsync'd and renamed, so a file with the final name is always whole.

The journal ``DIR/.yandex-art-batch.jsonl`` (batch_journal.py; batch_plan.py settles each
item against it, batch_run.py journals each step) makes reruns safe. Its first record names
the PROMPTS file; per item it records, in order: ``sending`` (flushed) just before
Generate is requested, ``started`` with the operation id (flushed and fsync'd)
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
the rerun after the fix fetches them again, generating nothing twice. A journal removed
or replaced while the batch runs (its directory deleted, say) is such a fault too; the
operation ids it could not keep are printed (stderr, and ``unjournaled`` in the
``--json`` summary), as the rerun cannot know them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch_journal import JOURNAL, Journal, clean_leftovers
from .batch_plan import Plan, plan_items, requested_mime
from .batch_prompts import Item, read_prompts
from .batch_run import BatchSteps, summary
from .connection import connect
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError, classify, report
from .flags import add_connection, add_generation_flags
from .output import PROG, Output, extension

if TYPE_CHECKING:
    from .._client import AsyncAIStudio

__all__ = ["JOURNAL", "register", "run"]


def register(commands: Any) -> None:
    """Add the ``batch`` subcommand (called by ``main.build_parser``)."""
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


# -- the run ---------------------------------------------------------------------------------


async def _batch_with(
    sdk: AsyncAIStudio, args: Any, out: Output, items: list[Item], directory: Path
) -> int:
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
        return await _execute(sdk, args, out, len(items), directory, journal, plan)
    finally:
        journal.close()


async def _execute(
    sdk: AsyncAIStudio,
    args: Any,
    out: Output,
    total: int,
    directory: Path,
    journal: Journal,
    plan: Plan,
) -> int:
    steps = BatchSteps(args, out, directory, journal, plan, total)
    model = sdk.models.image_generation(args.model)
    finished = 0
    with steps.progress.running():
        async for result in model.run_batch(
            steps.pause.feed(plan.requests),
            concurrency=args.concurrency,
            rate_per_minute=args.rate,
            poll_timeout=args.timeout,
            on_start=steps.on_start,
            on_started=steps.on_started,
        ):
            finished += 1
            steps.tally.finished_now += 1
            await steps.finish(result)
            steps.progress.update()
    steps.tally.paused += len(plan.requests) - finished  # never fed: the disk paused the batch
    return summary(steps, directory)


async def _batch(args: Any, out: Output, env: Mapping[str, str]) -> int:
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


def run(args: Any, out: Output, env: Mapping[str, str]) -> int:
    """Run ``yandex-art batch``; returns the exit code."""
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
        return report(classify(exc), out)

"""``yandex-art generate`` and ``yandex-art attach``: one operation, waited for and saved.

``generate`` starts a generation and prints its operation id before anything else can go
wrong; ``attach`` resumes one by that id. Both wait with the progress renderer and save
the image (generate_image.py: where it goes and under which name).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .connection import connect, connection_kwargs
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, CliError, classify
from .errors import report as report_error
from .flags import add_connection, add_generation_flags, generation_options
from .generate_image import check_output, image_size, output_mime_type, save
from .output import PROG, Output
from .progress import Cadence, Progress

if TYPE_CHECKING:
    from .._client import AsyncAIStudio
    from .._gen.image_generation import ImageGenerationModelResult
    from .._runtime.operation import AsyncOperation

__all__ = ["register", "run"]


def register(commands: Any) -> None:
    """Add the ``generate`` and ``attach`` subcommands (called by ``main.build_parser``)."""
    generate = commands.add_parser(
        "generate",
        help="generate an image from a prompt",
        description="Start a generation, print its operation id, wait and save the image.",
    )
    generate.add_argument("prompt", nargs="+", metavar="PROMPT", help="prompt words (joined)")
    add_generation_flags(generate)
    generate.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to save the image ('-': stdout); without a suffix the image's is added; "
        "a .png/.jpeg name sets --mime-type when not given; "
        "default: <operation id>.jpeg (.png for PNG) in the current directory",
    )
    generate.add_argument("--model", default="yandex-art", help="model name or URI (yandex-art)")
    generate.add_argument(
        "--emulator",
        action="store_true",
        help="run against an embedded local emulator (no credentials needed)",
    )
    generate.add_argument(
        "--auto-emulator",
        action="store_true",
        help="use the real service when credentials and a folder are configured, "
        "else the embedded emulator",
    )
    add_connection(generate)
    _register_attach(commands)


def _register_attach(commands: Any) -> None:
    attach = commands.add_parser(
        "attach",
        help="wait for an operation started earlier and save its image",
        description="Resume an interrupted generation by its operation id.",
    )
    attach.add_argument("operation_id", metavar="OPERATION_ID")
    attach.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to save the image ('-': stdout); without a suffix the image's is added; "
        "default: <operation id>.jpeg (.png for PNG)",
    )
    attach.add_argument("--model", default="yandex-art", help="model name or URI (yandex-art)")
    add_connection(attach)


@dataclass
class _Run:
    """What the command has done so far (for messages after an interruption)."""

    operation_id: str | None = None
    emulator: bool = False


# -- waiting ---------------------------------------------------------------------------------

# A spinner redrawn every 0.1 s on a terminal, an event a second with --json, and off a
# terminal the one "waiting" line: a single operation has no counts worth a line every tick.
_CADENCE = Cadence(tick_seconds=0.1, log_seconds=float("inf"), event_seconds=1.0)


class _Waiting:
    """The progress of one operation: elapsed time, and an ETA from the learned durations."""

    _FRAMES = "|/-\\"

    def __init__(self, operation: AsyncOperation[Any]) -> None:
        self.operation_id = operation.id
        self._expected = operation.expected_remaining
        self._started = time.monotonic()
        self._frame = 0

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def remaining(self) -> float | None:
        value = self._expected()
        return None if value is None else float(value)

    def terminal_line(self) -> str:
        left = self.remaining()
        eta = "" if left is None else f", ETA {left:.1f} s" if left > 0 else ", any moment"
        frame, self._frame = self._FRAMES[self._frame % 4], self._frame + 1
        return f"{frame} generating ({self.elapsed():.1f} s{eta}, {self.operation_id})"

    def log_line(self) -> str:
        return f"waiting for operation {self.operation_id} ..."

    def event(self) -> dict[str, Any]:
        left = self.remaining()
        return {
            "event": "progress",
            "operation_id": self.operation_id,
            "elapsed_seconds": round(self.elapsed(), 1),
            "remaining_seconds": None if left is None else round(left, 1),
        }


async def _finish(
    operation: AsyncOperation[ImageGenerationModelResult],
    args: argparse.Namespace,
    out: Output,
) -> None:
    waiting = _Waiting(operation)
    with Progress(out, waiting, _CADENCE).running():
        result = await operation.wait(poll_timeout=args.timeout)
    path = save(result, args.output, operation.id, out)
    size = image_size(result.image_bytes)
    seconds = round(waiting.elapsed(), 3)
    described = f"{size[0]}x{size[1]} " if size else ""
    out.line(
        f"saved {path} ({described}{result.mime_type or 'unknown type'}, "
        f"{len(result.image_bytes)} bytes, {seconds:g} s)"
    )
    out.event(
        event="succeeded",
        exit_code=EXIT_OK,
        operation_id=operation.id,
        path=path,
        mime_type=result.mime_type,
        bytes=len(result.image_bytes),
        width=size[0] if size else None,
        height=size[1] if size else None,
        model_version=result.model_version,
        seconds=seconds,
    )


# -- the operation id reaches the user ---------------------------------------------------------


def _resume(operation_id: str, args: argparse.Namespace) -> str:
    """The ``attach`` command that resumes the operation with this command's settings."""
    words = [PROG, "attach", operation_id]
    if args.output:
        words += ["-o", args.output]
    if args.endpoint:
        words += ["--endpoint", args.endpoint]
    if args.insecure:
        words.append("--insecure")
    if args.transport != "grpc":
        words += ["--transport", args.transport]
    if args.folder_id:
        words += ["--folder-id", args.folder_id]
    if args.model != "yandex-art":
        words += ["--model", args.model]
    if args.json:
        words.append("--json")
    return " ".join(shlex.quote(word) for word in words)


def _announce(operation_id: str, args: argparse.Namespace, out: Output, run: _Run) -> None:
    run.operation_id = operation_id
    out.line(f"operation {operation_id}")
    out.event(event="started", operation_id=operation_id)
    if not run.emulator and args.command == "generate":
        out.info(f"(if interrupted, resume with: {_resume(operation_id, args)})")


# -- the commands ------------------------------------------------------------------------------


async def _generate_with(
    sdk: AsyncAIStudio, args: argparse.Namespace, out: Output, run: _Run
) -> None:
    model = sdk.models.image_generation(args.model)
    options = generation_options(args)
    if options:
        model = model.configure(**options)
    operation = await model.run_deferred(" ".join(args.prompt))
    _announce(operation.id, args, out, run)
    await _finish(operation, args, out)


async def _generate(
    args: argparse.Namespace, out: Output, run: _Run, env: Mapping[str, str]
) -> None:
    check_output(args.output)
    output_mime_type(args)
    note = "using an embedded emulator: the image is a placeholder, not YandexART's"
    async with connect(args, env, out, note) as sdk:
        run.emulator = args.emulator
        await _generate_with(sdk, args, out, run)


async def _attach(args: argparse.Namespace, out: Output, run: _Run, env: Mapping[str, str]) -> None:
    from .._client import AsyncAIStudio

    check_output(args.output)
    if not args.operation_id.strip():
        raise CliError("OPERATION_ID must not be empty", EXIT_USAGE)
    async with AsyncAIStudio(**connection_kwargs(args, env)) as sdk:
        model = sdk.models.image_generation(args.model)
        operation = await model.attach_deferred(args.operation_id)
        # Read once before saying "started": an unknown id fails here (NOT_FOUND, exit 2)
        # instead of being announced; a finished one is not read again by the wait.
        await operation.get_status()
        _announce(operation.id, args, out, run)
        await _finish(operation, args, out)


def _report(error: CliError, out: Output, run: _Run, args: argparse.Namespace) -> int:
    """``report``, and after a timeout how to resume: the operation keeps running."""
    if error.code == EXIT_TIMEOUT and run.operation_id:
        if run.emulator:
            error.message += "; the embedded emulator stops with this command"
        else:
            error.details["resume"] = _resume(run.operation_id, args)
            error.message += (
                f"; it keeps running on the server, resume with: {error.details['resume']}"
            )
    return report_error(error, out, run.operation_id)


def run(args: argparse.Namespace, out: Output, env: Mapping[str, str]) -> int:
    """Run ``yandex-art generate`` or ``yandex-art attach``; returns the exit code."""
    state = _Run()
    command = _generate if args.command == "generate" else _attach
    try:
        asyncio.run(command(args, out, state, env))
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=out.stderr, flush=True)
        if state.operation_id and not state.emulator:
            out.info(
                f"operation {state.operation_id} keeps running on the server; resume with: "
                f"{_resume(state.operation_id, args)}"
            )
        out.event(event="interrupted", operation_id=state.operation_id, exit_code=EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _report(classify(exc), out, state, args)
    return EXIT_OK

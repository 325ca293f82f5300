"""The ``yandex-art`` command line: the parser of every command, and the dispatch to them.

Each command lives in its own module (generate.py for ``generate`` and ``attach``,
batch.py, emulator.py, cassette.py) and registers its own flags; this module only puts
the parsers together, turns usage errors into the documented report, and runs the
command asked for. Nothing imports it but the package's ``__init__``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, NoReturn

from . import batch, cassette, emulator, generate
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CliError, report
from .flags import dash_values, group_flags, wants_json
from .output import PROG, Output

__all__ = ["build_parser", "main"]


class _UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """Usage errors are raised, so that ``main`` reports them like any other error
    (on stderr as argparse does, and as a JSON line with ``--json``); the
    subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``yandex-art``."""
    from .. import __version__

    parser = _Parser(
        prog=PROG,
        description="Generate images with YandexART, or run a local emulator of the service.",
        epilog="Credentials come from YC_API_KEY, YC_IAM_TOKEN or YC_OAUTH_TOKEN; the folder "
        "from YC_FOLDER_ID. Exit codes: 0 ok, 1 unexpected failure, 2 usage/configuration, "
        "3 operation failed (batch: some items), 4 transport error, 5 timed out, "
        "6 batch paused by a disk fault (rerun to resume), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    generate.register(commands)  # and attach
    batch.register(commands)
    cassette.register(commands)
    emulator.register(commands)
    return parser


def _usage_error(error: _UsageError, argv: Sequence[str], stdout: IO[str], stderr: IO[str]) -> int:
    """argparse's report of a usage error, plus a JSON line when ``--json`` was asked for."""
    stderr.write(error.parser.format_usage())
    print(f"{error.parser.prog}: error: {error.message}", file=stderr, flush=True)
    if wants_json(argv):
        Output(True, stdout, stderr).event(
            event="error",
            operation_id=None,
            exit_code=EXIT_USAGE,
            error={"message": error.message, "kind": "usage"},
        )
    return EXIT_USAGE


def _dispatch(args: argparse.Namespace, out: Output, env: Mapping[str, str]) -> int:
    """Run the command ``args`` asks for; returns its exit code."""
    if getattr(args, "output", None) == "-":
        if out.json:
            raise CliError("-o - (image on stdout) cannot be combined with --json", EXIT_USAGE)
        out.image_on_stdout = True
    if args.command == "emulator":
        return emulator.run(args, out)
    if args.command == "cassette":
        return cassette.run(args, out)
    if args.command == "batch":
        return batch.run(args, out, env)
    return generate.run(args, out, env)


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; returns the exit code (``--help``/``--version`` exit with 0)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(dash_values(argv, group_flags()))
    except _UsageError as error:
        return _usage_error(error, argv, stdout, stderr)
    out = Output(json=bool(getattr(args, "json", False)), stdout=stdout, stderr=stderr)
    try:
        return _dispatch(args, out, os.environ if env is None else env)
    except CliError as error:
        return report(error, out)
    except KeyboardInterrupt:  # before or after a command's own handling
        print(f"\n{PROG}: interrupted", file=out.stderr, flush=True)
        out.event(event="interrupted", operation_id=None, exit_code=EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. `| head -1`): stop quietly
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_FAILURE

"""``yandex-art cassette record|replay|verify``: recordings of the service for contract tests.

``record`` and ``replay`` serve until SIGINT/SIGTERM and print one JSON line
with their addresses first, as ``yandex-art emulator`` does; ``verify``
reports where recordings go beyond today's specs (exit code 3 when anything
is found, so CI can gate on it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from .connection import emulator_module
from .errors import EXIT_OK, EXIT_OPERATION, EXIT_USAGE, CliError
from .flags import port
from .output import Output
from .serving import stop_on_signals

__all__ = ["register", "run"]


def _ports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.1)")
    parser.add_argument("--grpc-port", type=port, default=0, help="gRPC port (0: a free one)")
    parser.add_argument("--rest-port", type=port, default=0, help="REST port (0: a free one)")


def register(commands: Any) -> None:
    """Add the ``cassette`` command (called by ``main.build_parser``)."""
    cassette = commands.add_parser(
        "cassette",
        help="record the service's answers, replay them, check them against the specs",
        description="Contract testing with recordings of the real service (see docs/testing.md).",
    )
    actions = cassette.add_subparsers(dest="cassette_command", metavar="ACTION", required=True)
    record = actions.add_parser(
        "record",
        help="forward every call to the service and keep each interaction in FILE",
        description="A local gRPC and REST proxy for any client; the first stdout line is a "
        "JSON object with its addresses. Credentials are never written.",
    )
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the cassette")
    record.add_argument(
        "--upstream", metavar="HOST:PORT", help="gRPC address to forward to (the public ones)"
    )
    record.add_argument(
        "--upstream-rest", metavar="URL", help="REST base URL to forward to (the public ones)"
    )
    record.add_argument(
        "--shrink-images",
        action="store_true",
        help="keep each image as a small one of the same type and proportions",
    )
    _ports(record)
    replay = actions.add_parser(
        "replay",
        help="serve recorded answers over gRPC and REST",
        description="Serve the interactions of the cassettes (this SDK's or the official "
        "SDK's .gprc.json); the first stdout line is a JSON object with the addresses.",
    )
    replay.add_argument("cassettes", nargs="+", metavar="FILE")
    _ports(replay)
    verify = actions.add_parser(
        "verify",
        help="report what recordings hold that the specs lack",
        description="Decode every recorded message with today's specs; exit code 3 when "
        "something is found.",
    )
    verify.add_argument("cassettes", nargs="+", metavar="FILE")
    verify.add_argument("--json", action="store_true", help="one JSON line per finding")


def _backend(args: argparse.Namespace) -> Any:
    from ..cassette import Recorder, Replayer

    if args.cassette_command == "record":
        return Recorder(
            args.output,
            upstream=args.upstream,
            upstream_rest=args.upstream_rest,
            shrink_images=args.shrink_images,
        )
    return Replayer.from_files(args.cassettes)


async def _serve(args: argparse.Namespace, out: Output) -> None:
    from ..cassette import CassetteServer

    stop = stop_on_signals()
    server = CassetteServer(_backend(args), args.host, args.grpc_port, args.rest_port)
    await server.astart()
    try:
        extra = {"cassette": args.output} if args.cassette_command == "record" else {}
        print(json.dumps(server.announcement(**extra)), file=out.stdout, flush=True)
        verb = "recording to " + args.output if extra else "replaying"
        out.info(
            f"yandex-art cassette: {verb}; gRPC {server.grpc_address}, REST {server.rest_url}; "
            "stop with Ctrl-C"
        )
        await stop.wait()
    finally:
        await server.aclose()
    replayer = server.backend
    for problem in [*getattr(replayer, "misses", list)(), *getattr(replayer, "unused", list)()]:
        out.info(f"note: {problem}")


def _verify(args: argparse.Namespace, out: Output) -> int:
    from ..cassette import load, verify

    found = 0
    for path in args.cassettes:
        for finding in verify(load(path)):
            found += 1
            if args.json:
                data = {"cassette": path, **vars(finding)} | {"text": str(finding)}
                print(json.dumps(data), file=out.stdout, flush=True)
            else:
                print(f"{path}: {finding}", file=out.stdout, flush=True)
    checked = len(args.cassettes)
    if found:
        out.info(f"{found} finding(s) in {checked} cassette(s)")
    else:
        out.info(f"{checked} cassette(s) match the specs")
    return EXIT_OPERATION if found else EXIT_OK


def run(args: argparse.Namespace, out: Output) -> int:
    """Run ``yandex-art cassette ...`` (called by ``main.main``)."""
    emulator = emulator_module()  # aiohttp, grpclib and Pillow: the [emulator] extra
    from ..cassette import CassetteError

    try:
        if args.cassette_command == "verify":
            return _verify(args, out)
        if args.cassette_command == "record" and args.output == "-":
            raise CliError("-o: the cassette must be a file, not stdout", EXIT_USAGE)
        if args.host not in ("127.0.0.1", "::1", "localhost"):
            raise CliError("--host must be a loopback address", EXIT_USAGE)
        asyncio.run(_serve(args, out))
    except (CassetteError, emulator.EmulatorConfigError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CliError(f"cannot serve or write: {exc.strerror or exc}", EXIT_USAGE) from None
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK

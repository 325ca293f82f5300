"""``yandex-art emulator``: serve a local emulator of the service until SIGINT/SIGTERM.

The first stdout line is a JSON object with the addresses (scripts and tests read it);
every flag's default is ``EmulatorConfig``'s own.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
from typing import Any

from .connection import emulator_module
from .errors import EXIT_OK, EXIT_USAGE, CliError
from .flags import non_negative, port
from .output import PROG, Output
from .serving import stop_on_signals

__all__ = ["emulator_config", "register", "run"]


def register(commands: Any) -> None:
    """Add the ``emulator`` subcommand (called by ``main.build_parser``)."""
    # Every default is EmulatorConfig's own, read from it (the module loads no server).
    from ..emulator.config import EmulatorConfig

    default: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(EmulatorConfig)}
    emulator = commands.add_parser(
        "emulator",
        help="run a local emulator of the service",
        description="Serve the image generation API over gRPC and REST until SIGINT/SIGTERM. "
        "The first line on stdout is a JSON object with the addresses.",
    )
    _add_listening(emulator, default)
    _add_behaviour(emulator, default)
    _add_access(emulator, default)
    days = default["retention_seconds"] / 86400
    emulator.add_argument(
        "--retention-seconds",
        type=non_negative,
        default=default["retention_seconds"],
        help=f"how long finished operations are kept ({days:g} days)",
    )


def _add_listening(emulator: argparse.ArgumentParser, default: dict[str, Any]) -> None:
    host = default["host"]
    emulator.add_argument("--host", default=host, help=f"address to bind ({host})")
    emulator.add_argument(
        "--allow-remote",
        action="store_true",
        default=default["allow_remote"],
        help="allow binding a non-loopback address",
    )
    emulator.add_argument(
        "--grpc-port", type=port, default=default["grpc_port"], help="gRPC port (0: a free one)"
    )
    emulator.add_argument(
        "--rest-port", type=port, default=default["rest_port"], help="REST port (0: a free one)"
    )


def _add_behaviour(emulator: argparse.ArgumentParser, default: dict[str, Any]) -> None:
    emulator.add_argument(
        "--generation-seconds",
        type=non_negative,
        default=default["generation_seconds"],
        help=f"how long each generation takes ({default['generation_seconds']:g}; 0: instant)",
    )
    emulator.add_argument(
        "--jitter",
        type=non_negative,
        default=default["jitter"],
        help="relative spread of the duration (0..1)",
    )
    quota = default["read_quota"] or 0  # the flag's 0 is the config's None: no limit
    emulator.add_argument(
        "--read-quota",
        type=int,
        default=quota,
        metavar="R",
        help=f"operation reads allowed per second ({quota}; 0: unlimited)",
    )
    emulator.add_argument(
        "--state",
        metavar="FILE",
        default=default["state_file"],
        help="JSON file keeping operations",
    )


def _add_access(emulator: argparse.ArgumentParser, default: dict[str, Any]) -> None:
    emulator.add_argument(
        "--folder-id", default=default["folder_id"], help="accept only this folder in model URIs"
    )
    emulator.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        default=default["api_keys"],
        help="accept only these API keys (repeat)",
    )
    emulator.add_argument(
        "--iam-token",
        action="append",
        metavar="TOKEN",
        default=default["iam_tokens"],
        help="accept only these IAM tokens",
    )


def emulator_config(args: argparse.Namespace, EmulatorConfig: Any) -> Any:
    """The EmulatorConfig the ``emulator`` command's flags ask for."""
    return EmulatorConfig(
        host=args.host,
        grpc_port=args.grpc_port,
        rest_port=args.rest_port,
        allow_remote=args.allow_remote,
        folder_id=args.folder_id,
        api_keys=args.api_key,
        iam_tokens=args.iam_token,
        generation_seconds=args.generation_seconds,
        jitter=args.jitter,
        read_quota=args.read_quota or None,
        retention_seconds=args.retention_seconds,
        state_file=args.state,
    )


async def _serve(args: argparse.Namespace, out: Output) -> None:
    module = emulator_module()
    Emulator, EmulatorConfig = module.Emulator, module.EmulatorConfig

    config = emulator_config(args, EmulatorConfig)
    stop = stop_on_signals()
    async with Emulator(config) as emulator:
        # Keys given with --api-key are credentials: never echoed. Without them any
        # key is accepted and the printed one is a placeholder.
        key = emulator.api_key if not args.api_key and not args.iam_token else None
        print(
            json.dumps(
                {
                    "grpc": emulator.grpc_address,
                    "rest": emulator.rest_url,
                    "folder_id": emulator.folder_id,
                    "api_key": key,
                    "pid": os.getpid(),
                }
            ),
            file=out.stdout,
            flush=True,
        )
        key = key or "<API key>"
        out.info(
            f"YandexART emulator: gRPC {emulator.grpc_address}, REST {emulator.rest_url}; "
            "stop with Ctrl-C.\n"
            f"try: YC_API_KEY={key} YC_FOLDER_ID={emulator.folder_id} "
            f"{PROG} generate --endpoint {emulator.grpc_address} a red cat"
        )
        await stop.wait()
    out.info("emulator stopped")


def run(args: argparse.Namespace, out: Output) -> int:
    """Run ``yandex-art emulator``; returns the exit code (0 after SIGINT/SIGTERM)."""
    EmulatorConfigError = emulator_module().EmulatorConfigError
    if args.read_quota < 0:
        raise CliError("--read-quota must be >= 0", EXIT_USAGE)
    if args.jitter > 1:
        raise CliError("--jitter must be within 0..1", EXIT_USAGE)
    try:
        asyncio.run(_serve(args, out))
    except EmulatorConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK

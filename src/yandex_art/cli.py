"""The ``yandex-art`` command: generate images, attach to operations, run the emulator.

Exit codes: 0 success; 1 unexpected failure; 2 usage or configuration error
(also requests the service rejected as invalid, unauthenticated or unknown);
3 the operation failed or was cancelled; 4 transport error (unreachable,
unavailable, quota); 5 the wait timed out (the operation keeps running);
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import AsyncAIStudio
    from ._gen.image_generation import ImageGenerationModelResult
    from ._runtime.operation import AsyncOperation

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OPERATION",
    "EXIT_TIMEOUT",
    "EXIT_TRANSPORT",
    "EXIT_USAGE",
    "add_generation_flags",
    "build_parser",
    "generation_options",
    "main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_OPERATION = 3
EXIT_TRANSPORT = 4
EXIT_TIMEOUT = 5
EXIT_INTERRUPTED = 130

PROG = "yandex-art"
_EMULATOR_GENERATION_SECONDS = 0.3
_USAGE_CODES = frozenset(
    {
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "NOT_FOUND",
    }
)
_HINTS = {
    "UNAUTHENTICATED": "check the credential in YC_API_KEY, YC_IAM_TOKEN or YC_OAUTH_TOKEN",
    "PERMISSION_DENIED": "check the folder id and that the account may use YandexART in it",
    "NOT_FOUND": "check the operation id; results are kept for 3 days",
    "UNAVAILABLE": "check --endpoint and the network, then retry",
    "RESOURCE_EXHAUSTED": "a quota was exceeded; wait a little and retry",
}
_NO_CREDENTIALS = """\
no credentials found (tried YC_API_KEY, YC_IAM_TOKEN, YC_OAUTH_TOKEN, YC_TOKEN,
the cloud metadata service and the yc CLI). Set one of these environment variables:
  export YC_API_KEY=<API key>            # a service account's API key
  export YC_IAM_TOKEN=<IAM token>        # e.g. from `yc iam create-token`
  export YC_OAUTH_TOKEN=<OAuth token>    # exchanged for IAM tokens automatically
or run it on a Yandex Cloud VM / Function with a service account, or with `yc` logged in;
and the folder to bill:
  export YC_FOLDER_ID=<folder id>        # or pass --folder-id
To try the command offline, add --emulator (a local emulator draws placeholder images)."""
_NO_FOLDER = """\
no folder id: pass --folder-id or set it once with
  export YC_FOLDER_ID=<folder id>
(add --emulator to try the command offline)."""


class CliError(Exception):
    """A failure with an exit code and a message for the user."""

    def __init__(self, message: str, code: int, *, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = dict(details or {})


# -- argument parsing -------------------------------------------------------------------


# -- generation flags, derived from the specs' rules table --------------------------------

# What the table cannot say: short value forms users type, and the one-flag form of
# a sub-message (``--ratio 16:9`` for ``aspect_ratio``). Every option field of the
# specs gets its own flag (``--seed``, ``--width-ratio``, ``--mime-type``, ...) with
# no edit here.
_VALUE_ALIASES: dict[str, dict[str, str]] = {
    "mime_type": {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png"},
}
_GROUP_ALIASES: dict[str, str] = {"aspect_ratio": "--ratio"}


def generation_rules() -> Any:
    """The generated table of request fields (``yandex_art._gen.image_generation_rules``)."""
    from ._gen import image_generation_rules

    return image_generation_rules


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _value_type(rule: Any) -> Any:
    aliases = _VALUE_ALIASES.get(rule.name, {})

    def parse(text: str) -> Any:
        if rule.py_type == "int":
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if rule.py_type == "float":
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        return aliases.get(text.lower(), text)

    parse.__name__ = rule.name  # argparse names the type in its errors
    return parse


def _group_type(field: str, names: tuple[str, ...]) -> Any:
    example = {2: "16:9"}.get(len(names), ":".join("1" * len(names)))

    def parse(text: str) -> tuple[int, ...]:
        parts = text.split(":")
        try:
            if len(parts) != len(names):
                raise ValueError
            return tuple(int(part) for part in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {':'.join(n[0].upper() for n in names)} (e.g. {example})"
            ) from None

    parse.__name__ = field
    return parse


def _first_line(doc: str) -> str:
    """The first sentence of a field's comment, as flag help."""
    sentence = re.split(r"(?<=\.)\s", doc.strip(), maxsplit=1)[0]
    return sentence.replace("\n", " ").replace("%", "%%")


def add_generation_flags(parser: argparse.ArgumentParser, rules: Any = None) -> None:
    """One flag per generation option of the specs, plus the one-flag form of each sub-message."""
    rules = rules if rules is not None else generation_rules()
    group = parser.add_argument_group("generation options (from the specs)")
    by_name = {rule.name: rule for rule in rules.OPTION_RULES}
    for field, names in rules.OPTION_GROUPS.items():
        flags = [_flag(field)]
        if field in _GROUP_ALIASES:
            flags.insert(0, _GROUP_ALIASES[field])
        parts = ", ".join(f"{n}" for n in names)
        group.add_argument(
            *flags,
            dest=f"group__{field}",
            type=_group_type(field, names),
            metavar=":".join(n[0].upper() for n in names),
            help=f"{field} as one value ({parts}), e.g. 16:9",
        )
    for rule in by_name.values():
        kwargs: dict[str, Any] = {"dest": f"option__{rule.name}", "help": _first_line(rule.doc)}
        if rule.py_type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _value_type(rule)
            kwargs["metavar"] = rule.py_type.upper()
        group.add_argument(_flag(rule.name), **kwargs)


def generation_options(args: argparse.Namespace, rules: Any = None) -> dict[str, Any]:
    """The ``configure()`` keyword arguments the generation flags ask for."""
    rules = rules if rules is not None else generation_rules()
    options: dict[str, Any] = {}
    for field, names in rules.OPTION_GROUPS.items():
        values = getattr(args, f"group__{field}", None)
        if values is not None:
            options.update(zip(names, values, strict=True))
    for rule in rules.OPTION_RULES:
        value = getattr(args, f"option__{rule.name}", None)
        if value is not None:
            options[rule.name] = value
    return options


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not within 0..65535")
    return value


def _add_connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--folder-id", help="folder id (default: $YC_FOLDER_ID)")
    group.add_argument(
        "--endpoint",
        help="host:port of the service (default: the public endpoints); "
        "loopback endpoints are reached without TLS",
    )
    group.add_argument(
        "--insecure", action="store_true", help="connect without TLS (loopback endpoints only)"
    )
    group.add_argument(
        "--transport", choices=("grpc", "rest"), default="grpc", help="wire protocol (grpc)"
    )
    parser.add_argument(
        "--timeout",
        type=_non_negative,
        default=600.0,
        help="seconds to wait for the result (600); the operation keeps running after that",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON lines on stdout (for scripts)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``yandex-art``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate images with YandexART, or run a local emulator of the service.",
        epilog="Credentials come from YC_API_KEY, YC_IAM_TOKEN or YC_OAUTH_TOKEN; the folder "
        "from YC_FOLDER_ID. Exit codes: 0 ok, 2 usage/configuration, 3 operation failed, "
        "4 transport error, 5 timed out, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
        help="where to save the image ('-': stdout); "
        "default: <operation id>.jpeg in the current directory",
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
    _add_connection(generate)

    attach = commands.add_parser(
        "attach",
        help="wait for an operation started earlier and save its image",
        description="Resume an interrupted generation by its operation id.",
    )
    attach.add_argument("operation_id", metavar="OPERATION_ID")
    attach.add_argument("-o", "--output", metavar="FILE", help="where to save the image")
    attach.add_argument("--model", default="yandex-art", help="model name or URI (yandex-art)")
    _add_connection(attach)

    from . import cli_batch

    cli_batch.register(commands, _add_connection, add_generation_flags)

    emulator = commands.add_parser(
        "emulator",
        help="run a local emulator of the service",
        description="Serve the image generation API over gRPC and REST until SIGINT/SIGTERM. "
        "The first line on stdout is a JSON object with the addresses.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    emulator.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    emulator.add_argument("--grpc-port", type=_port, default=0, help="gRPC port (0: a free one)")
    emulator.add_argument("--rest-port", type=_port, default=0, help="REST port (0: a free one)")
    emulator.add_argument(
        "--generation-seconds",
        type=_non_negative,
        default=2.0,
        help="how long each generation takes (2; 0: instant)",
    )
    emulator.add_argument(
        "--jitter", type=_non_negative, default=0.0, help="relative spread of the duration (0..1)"
    )
    emulator.add_argument(
        "--read-quota",
        type=int,
        default=50,
        metavar="R",
        help="operation reads allowed per second (50; 0: unlimited)",
    )
    emulator.add_argument("--state", metavar="FILE", help="JSON file keeping operations")
    emulator.add_argument("--folder-id", help="accept only this folder in model URIs")
    emulator.add_argument(
        "--api-key", action="append", metavar="KEY", help="accept only these API keys (repeat)"
    )
    emulator.add_argument(
        "--iam-token", action="append", metavar="TOKEN", help="accept only these IAM tokens"
    )
    emulator.add_argument(
        "--retention-seconds",
        type=_non_negative,
        default=3 * 24 * 3600.0,
        help="how long finished operations are kept (3 days)",
    )
    return parser


# -- output ---------------------------------------------------------------------------


@dataclass
class _Output:
    json: bool
    stdout: IO[str]
    stderr: IO[str]
    image_on_stdout: bool = False

    def info(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)

    def line(self, text: str) -> None:
        """A human-readable line: stdout, or stderr with --json or when stdout holds the image."""
        target = self.stderr if self.json or self.image_on_stdout else self.stdout
        print(text, file=target, flush=True)

    def event(self, **data: Any) -> None:
        if self.json:
            print(json.dumps(data, ensure_ascii=False), file=self.stdout, flush=True)


class _Progress:
    """A live line on stderr while an operation runs (a single line when not a terminal)."""

    _FRAMES = "|/-\\"

    def __init__(
        self,
        stream: IO[str],
        operation_id: str,
        remaining: Any = None,
        out: _Output | None = None,
    ) -> None:
        self._stream = stream
        self._id = operation_id
        self._started = time.monotonic()
        self._live = bool(getattr(stream, "isatty", lambda: False)())
        self._task: asyncio.Task[None] | None = None
        # ETA from the learned durations (a callable giving seconds or None).
        self._remaining = remaining
        self._out = out if out is not None and out.json else None

    def remaining(self) -> float | None:
        value = self._remaining() if self._remaining is not None else None
        return None if value is None else float(value)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def __enter__(self) -> _Progress:
        if self._out is not None:
            self._task = asyncio.get_running_loop().create_task(self._events())
        elif self._live:
            self._task = asyncio.get_running_loop().create_task(self._spin())
        else:
            print(f"waiting for operation {self._id} ...", file=self._stream, flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            if self._out is None:
                self._stream.write("\r\x1b[K")
                self._stream.flush()

    async def _spin(self) -> None:
        frame = 0
        while True:
            left = self.remaining()
            eta = "" if left is None else f", ETA {left:.1f} s" if left > 0 else ", any moment"
            text = f"{self._FRAMES[frame % 4]} generating ({self.elapsed():.1f} s{eta}, {self._id})"
            self._stream.write("\r" + text + "\x1b[K")
            self._stream.flush()
            frame += 1
            await asyncio.sleep(0.1)

    async def _events(self) -> None:
        assert self._out is not None
        while True:
            left = self.remaining()
            self._out.event(
                event="progress",
                operation_id=self._id,
                elapsed_seconds=round(self.elapsed(), 1),
                remaining_seconds=None if left is None else round(left, 1),
            )
            await asyncio.sleep(1.0)


# -- generate and attach ------------------------------------------------------------------


@dataclass
class _Run:
    """What the command has done so far (for messages after an interruption)."""

    operation_id: str | None = None
    emulator: bool = False


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


def _check_output(path: str | None) -> None:
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise CliError(f"cannot write {path}: it is a directory", EXIT_USAGE)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: directory {parent} does not exist", EXIT_USAGE)
    if not os.access(parent, os.W_OK):
        raise CliError(f"cannot write {path}: directory {parent} is not writable", EXIT_USAGE)


def _connection_kwargs(
    args: argparse.Namespace, env: Mapping[str, str], auth: Any = None
) -> dict[str, Any]:
    """The client's arguments for the real service; ``auth`` when already resolved."""
    from ._runtime.client_core import parse_endpoint
    from ._runtime.errors import ConfigurationError

    folder = args.folder_id or env.get("YC_FOLDER_ID", "").strip()
    auth = auth if auth is not None else _credentials(env)
    if auth is None:
        raise CliError(_NO_CREDENTIALS, EXIT_USAGE, details={"kind": "no_credentials"})
    if not folder:
        raise CliError(_NO_FOLDER, EXIT_USAGE, details={"kind": "no_folder"})
    kwargs: dict[str, Any] = {
        "folder_id": folder,
        "auth": auth,
        "transport": args.transport,
        "env": env,
    }
    if args.endpoint:
        try:
            endpoint = parse_endpoint(args.endpoint)
        except ConfigurationError as exc:
            raise CliError(f"--endpoint: {exc}", EXIT_USAGE) from None
        kwargs["endpoint"] = args.endpoint
        if args.insecure or endpoint.is_loopback:
            kwargs["verify"] = False
    elif args.insecure:
        raise CliError("--insecure needs a loopback --endpoint", EXIT_USAGE)
    return kwargs


def _save(result: ImageGenerationModelResult, output: str | None, operation_id: str) -> str:
    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(result.image_bytes)
        sys.stdout.buffer.flush()
        return "-"
    if output is None:
        extension = "png" if result.mime_type == "image/png" else "jpeg"
        output = f"{operation_id}.{extension}"
    try:
        result.save(output)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILURE) from None
    return output


async def _finish(
    operation: AsyncOperation[ImageGenerationModelResult],
    args: argparse.Namespace,
    out: _Output,
) -> None:
    with _Progress(out.stderr, operation.id, operation.expected_remaining, out) as progress:
        result = await operation.wait(poll_timeout=args.timeout)
    path = _save(result, args.output, operation.id)
    size = _image_size(result.image_bytes)
    seconds = round(progress.elapsed(), 3)
    described = f"{size[0]}x{size[1]} " if size else ""
    out.line(
        f"saved {path} ({described}{result.mime_type or 'unknown type'}, "
        f"{len(result.image_bytes)} bytes, {seconds:g} s)"
    )
    out.event(
        event="succeeded",
        operation_id=operation.id,
        path=path,
        mime_type=result.mime_type,
        bytes=len(result.image_bytes),
        width=size[0] if size else None,
        height=size[1] if size else None,
        model_version=result.model_version,
        seconds=seconds,
    )


def _resume(operation_id: str, args: argparse.Namespace) -> str:
    command = f"{PROG} attach {operation_id}"
    if args.output:
        command += f" -o {shlex.quote(args.output)}"
    return command


def _announce(operation_id: str, args: argparse.Namespace, out: _Output, run: _Run) -> None:
    run.operation_id = operation_id
    out.line(f"operation {operation_id}")
    out.event(event="started", operation_id=operation_id)
    if not run.emulator and args.command == "generate":
        out.info(f"(if interrupted, resume with: {_resume(operation_id, args)})")


async def _generate_with(
    sdk: AsyncAIStudio, args: argparse.Namespace, out: _Output, run: _Run
) -> None:
    model = sdk.models.image_generation(args.model)
    options = generation_options(args)
    if options:
        model = model.configure(**options)
    operation = await model.run_deferred(" ".join(args.prompt))
    _announce(operation.id, args, out, run)
    await _finish(operation, args, out)


async def _generate(
    args: argparse.Namespace, out: _Output, run: _Run, env: Mapping[str, str]
) -> None:
    _check_output(args.output)
    note = "using an embedded emulator: the image is a placeholder, not YandexART's"
    async with connect(args, env, out, note) as sdk:
        run.emulator = args.emulator
        await _generate_with(sdk, args, out, run)


@contextlib.asynccontextmanager
async def connect(
    args: argparse.Namespace, env: Mapping[str, str], out: _Output, note: str
) -> AsyncIterator[AsyncAIStudio]:
    """The client a command runs with: the real service, or an embedded emulator
    (``--emulator``, or ``--auto-emulator`` without a folder and credentials).
    Credentials are resolved once (a metadata-service probe is not repeated)."""
    from ._client import AsyncAIStudio

    auth = None
    if args.auto_emulator and not args.emulator:
        auth = _cloud_credentials(args, env)
        args.emulator = auth is None
    if args.emulator:
        if args.endpoint or args.insecure:
            raise CliError("--emulator cannot be combined with --endpoint/--insecure", EXIT_USAGE)
        from .emulator import Emulator

        out.info(note)
        async with Emulator(generation_seconds=_EMULATOR_GENERATION_SECONDS) as emulator:
            async with emulator.async_sdk(args.transport) as sdk:
                yield sdk
        return
    async with AsyncAIStudio(**_connection_kwargs(args, env, auth)) as sdk:
        yield sdk


def _credentials(env: Mapping[str, str]) -> Any:
    """The SDK's credential sources in their order (env, metadata service, yc), or None."""
    from ._runtime.auth import coerce_auth
    from ._runtime.errors import ConfigurationError

    try:
        return coerce_auth(None, env)
    except ConfigurationError:
        return None


def _cloud_credentials(args: argparse.Namespace, env: Mapping[str, str]) -> Any:
    """The credentials for the real service, or None (then --auto-emulator emulates).

    Without a folder the real service cannot be used: no source is probed then.
    """
    folder = args.folder_id or env.get("YC_FOLDER_ID")
    return _credentials(env) if folder else None


async def _attach(
    args: argparse.Namespace, out: _Output, run: _Run, env: Mapping[str, str]
) -> None:
    from ._client import AsyncAIStudio

    _check_output(args.output)
    if not args.operation_id.strip():
        raise CliError("OPERATION_ID must not be empty", EXIT_USAGE)
    async with AsyncAIStudio(**_connection_kwargs(args, env)) as sdk:
        model = sdk.models.image_generation(args.model)
        operation = await model.attach_deferred(args.operation_id)
        _announce(operation.id, args, out, run)
        await _finish(operation, args, out)


def _classify(exc: BaseException) -> CliError:
    """An SDK error as a message and an exit code."""
    from ._runtime.errors import (
        ConfigurationError,
        InvalidArgumentError,
        OperationFailedError,
        OperationTimeoutError,
        TransportError,
        UnexpectedOperationResultError,
    )

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, ConfigurationError | InvalidArgumentError):
        return CliError(str(exc), EXIT_USAGE, details={"type": type(exc).__name__})
    if isinstance(exc, OperationTimeoutError):
        return CliError(
            f"{exc}",
            EXIT_TIMEOUT,
            details={"type": "OperationTimeoutError", "timeout": exc.timeout},
        )
    if isinstance(exc, OperationFailedError):
        return CliError(
            str(exc),
            EXIT_OPERATION,
            details={
                "type": type(exc).__name__,
                "code": exc.code,
                "message": exc.error_message,
                "cancelled": exc.cancelled,
            },
        )
    if isinstance(exc, UnexpectedOperationResultError):
        return CliError(str(exc), EXIT_OPERATION, details={"type": type(exc).__name__})
    if isinstance(exc, TransportError):
        code = EXIT_USAGE if exc.code in _USAGE_CODES else EXIT_TRANSPORT
        message = str(exc)
        if hint := _HINTS.get(exc.code):
            message += f"\nhint: {hint}"
        return CliError(
            message,
            code,
            details={"type": "TransportError", "code": exc.code, "message": exc.detail},
        )
    if isinstance(exc, TypeError | ValueError):
        return CliError(str(exc), EXIT_USAGE, details={"type": type(exc).__name__})
    return CliError(
        f"{type(exc).__name__}: {exc}", EXIT_FAILURE, details={"type": type(exc).__name__}
    )


def _report(
    error: CliError, out: _Output, run: _Run, args: argparse.Namespace | None = None
) -> int:
    print(f"{PROG}: error: {error.message}", file=out.stderr, flush=True)
    if error.code == EXIT_TIMEOUT and run.operation_id and not run.emulator and args:
        out.info(f"resume with: {_resume(run.operation_id, args)}")
    out.event(
        event="error",
        operation_id=run.operation_id,
        exit_code=error.code,
        error={"message": error.message, **error.details},
    )
    return error.code


def _run_client(args: argparse.Namespace, out: _Output, env: Mapping[str, str]) -> int:
    run = _Run()
    command = _generate if args.command == "generate" else _attach
    try:
        asyncio.run(command(args, out, run, env))
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=out.stderr, flush=True)
        if run.operation_id and not run.emulator:
            out.info(
                f"operation {run.operation_id} keeps running on the server; resume with: "
                f"{_resume(run.operation_id, args)}"
            )
        out.event(event="interrupted", operation_id=run.operation_id, exit_code=EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _report(_classify(exc), out, run, args)
    return EXIT_OK


# -- emulator ------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace, out: _Output) -> None:
    from .emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # no signal handlers (Windows, threads)
            pass
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


def _run_emulator(args: argparse.Namespace, out: _Output) -> int:
    from .emulator import EmulatorConfigError

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


# -- entry point ------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; returns the exit code (argparse errors exit with 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = _Output(
        json=bool(getattr(args, "json", False)),
        stdout=stdout or sys.stdout,
        stderr=stderr or sys.stderr,
    )
    try:
        if getattr(args, "output", None) == "-":
            if out.json:
                raise CliError("-o - (image on stdout) cannot be combined with --json", EXIT_USAGE)
            out.image_on_stdout = True
        if args.command == "emulator":
            return _run_emulator(args, out)
        if args.command == "batch":
            from . import cli_batch

            return cli_batch.run(args, out, os.environ if env is None else env)
        return _run_client(args, out, os.environ if env is None else env)
    except CliError as error:
        return _report(error, out, _Run())
    except BrokenPipeError:
        # the reader went away (e.g. `| head -1`): stop quietly
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_FAILURE

"""The ``yandex-art`` command: generate images, attach to operations, run the emulator.

Exit codes (the README's table lists the same): 0 success; 1 unexpected failure
(e.g. the image could not be written); 2 usage or configuration error (bad
flags, no credentials, a missing ``[emulator]`` extra, requests the service
rejected as invalid, unauthenticated or unknown); 3 the operation failed or
was cancelled (batch: some items failed); 4 transport error (unreachable,
unavailable, quota); 5 the wait timed out (the operation keeps running);
6 batch paused: an image could not be written (rerun after the fix); 130
interrupted. With ``--json`` every exit but 0 also prints one JSON line with
``exit_code`` on stdout, usage errors included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
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
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from ._client import AsyncAIStudio
    from ._gen.image_generation import ImageGenerationModelResult
    from ._runtime.operation import AsyncOperation

__all__ = [
    "EXIT_DISK",
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
EXIT_DISK = 6  # batch: paused, an image or the journal could not be written
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


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the options."""
    for token in argv:
        if token == "--":
            return False
        if len(token) >= 3 and "--json".startswith(token):
            return True
    return False


def _dash_values(argv: Sequence[str], flags: frozenset[str]) -> list[str]:
    """``--ratio -1:2`` as ``--ratio=-1:2``: argparse takes a value starting with a
    dash for an option and says "expected one argument"; joined, the value reaches
    its type check, whose message says what a ratio looks like."""
    fixed: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            fixed.append(token)
            fixed.extend(tokens)
            break
        value = next(tokens, None) if token in flags else None
        if value is not None and value.startswith("-") and value not in ("-", "--"):
            fixed.append(f"{token}={value}")
            continue
        fixed.append(token)
        if value is not None:
            fixed.append(value)
    return fixed


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
    """argparse's type for one value of ``rule``, read by the field contract's ``from_text``."""
    from ._runtime.fields import from_text

    aliases = _VALUE_ALIASES.get(rule.name, {})

    def parse(text: str) -> Any:
        try:
            return from_text(rule, aliases.get(text.lower(), text))
        except (ValueError, OSError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = rule.name  # argparse names the type in its errors
    return parse


_INT64_MAX = 2**63 - 1


def parse_group(text: str, names: tuple[str, ...]) -> tuple[int, ...] | None:
    """``"16:9"`` as ``(16, 9)``: whole numbers >= 0, one per field; None when malformed.

    0 is allowed: the service documents a zero or missing side of the aspect
    ratio as its default, 1 (the rules table's ``default``). Negative sides are
    refused: no ratio has them, and nothing documents what the service does.
    """
    parts = text.strip().split(":")
    if len(parts) != len(names) or not all(re.fullmatch(r"[0-9]{1,19}", p) for p in parts):
        return None
    values = tuple(int(part) for part in parts)
    return values if all(v <= _INT64_MAX for v in values) else None


def group_usage(names: tuple[str, ...]) -> str:
    """What a one-flag sub-message value looks like, for error messages."""
    shape = ":".join(n[0].upper() for n in names)
    example = {2: "16:9"}.get(len(names), ":".join("1" * len(names)))
    return f"expected {shape} with whole numbers >= 0 (0 means the default, 1), e.g. {example}"


def _group_type(field: str, names: tuple[str, ...]) -> Any:
    def parse(text: str) -> tuple[int, ...]:
        values = parse_group(text, names)
        if values is None:
            raise argparse.ArgumentTypeError(f"{group_usage(names)}; got {text!r}")
        return values

    parse.__name__ = field
    return parse


def _group_flags(rules: Any = None) -> frozenset[str]:
    rules = rules if rules is not None else generation_rules()
    flags = {_flag(field) for field in rules.OPTION_GROUPS}
    return frozenset(
        flags | {_GROUP_ALIASES[f] for f in rules.OPTION_GROUPS if f in _GROUP_ALIASES}
    )


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
        parts = " and ".join(_flag(n) for n in names)
        group.add_argument(
            *flags,
            dest=f"group__{field}",
            type=_group_type(field, names),
            metavar=":".join(n[0].upper() for n in names),
            help=f"{field.replace('_', ' ')} in one value, e.g. 16:9: sets {parts} "
            "(whole numbers >= 0; 0 takes the documented default)",
        )
    for rule in by_name.values():
        if rule.construct == "message":
            continue  # a dict value: from Python or a batch file, not a flag
        help_text = _first_line(rule.doc)
        if rule.deprecated:
            help_text = f"(deprecated) {help_text}"
        kwargs: dict[str, Any] = {"dest": f"option__{rule.name}", "help": help_text}
        if rule.label == "repeated":
            help_text += " (repeat the flag for each value)"
        elif rule.label == "map":
            help_text += " (KEY=VALUE; repeat the flag for each entry)"
        kwargs["help"] = help_text
        if rule.kind == "bool" and rule.label == "single":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _value_type(rule)
            kwargs["metavar"] = "KEY=VALUE" if rule.label == "map" else rule.py_type.upper()
            if rule.construct == "enum":
                kwargs["choices"] = rule.enum_names
                del kwargs["metavar"]
            if rule.label != "single":
                kwargs["action"] = "append"
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
        if value is None:
            continue
        if rule.deprecated:
            print(
                f"warning: {_flag(rule.name)} is deprecated in the API spec and may stop having "
                "an effect",
                file=sys.stderr,
            )
        options[rule.name] = dict(value) if rule.label == "map" else value
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

    parser = _Parser(
        prog=PROG,
        description="Generate images with YandexART, or run a local emulator of the service.",
        epilog="Credentials come from YC_API_KEY, YC_IAM_TOKEN or YC_OAUTH_TOKEN; the folder "
        "from YC_FOLDER_ID. Exit codes: 0 ok, 1 unexpected failure, 2 usage/configuration, "
        "3 operation failed (batch: some items), 4 transport error, 5 timed out, "
        "130 interrupted.",
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
    _add_connection(generate)

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
    _add_connection(attach)

    from . import cli_batch

    cli_batch.register(commands, _add_connection, add_generation_flags)
    from . import cli_cassette

    cli_cassette.register(commands, _port)

    # Every default is EmulatorConfig's own, read from it (the module loads no server).
    from .emulator.config import EmulatorConfig

    default: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(EmulatorConfig)}
    emulator = commands.add_parser(
        "emulator",
        help="run a local emulator of the service",
        description="Serve the image generation API over gRPC and REST until SIGINT/SIGTERM. "
        "The first line on stdout is a JSON object with the addresses.",
    )
    host = default["host"]
    emulator.add_argument("--host", default=host, help=f"address to bind ({host})")
    emulator.add_argument(
        "--allow-remote",
        action="store_true",
        default=default["allow_remote"],
        help="allow binding a non-loopback address",
    )
    emulator.add_argument(
        "--grpc-port", type=_port, default=default["grpc_port"], help="gRPC port (0: a free one)"
    )
    emulator.add_argument(
        "--rest-port", type=_port, default=default["rest_port"], help="REST port (0: a free one)"
    )
    emulator.add_argument(
        "--generation-seconds",
        type=_non_negative,
        default=default["generation_seconds"],
        help=f"how long each generation takes ({default['generation_seconds']:g}; 0: instant)",
    )
    emulator.add_argument(
        "--jitter",
        type=_non_negative,
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
    days = default["retention_seconds"] / 86400
    emulator.add_argument(
        "--retention-seconds",
        type=_non_negative,
        default=default["retention_seconds"],
        help=f"how long finished operations are kept ({days:g} days)",
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


_EXTENSIONS = {"image/jpeg": "jpeg", "image/png": "png"}


def extension(mime_type: str | None) -> str:
    """The file name extension of an image type (``img`` when unknown)."""
    return _EXTENSIONS.get(mime_type or "", "img")


def _emulator_module() -> Any:
    """``yandex_art.emulator``, or a configuration error naming the extra it needs."""
    import importlib

    try:
        from . import emulator

        for name in ("grpclib", "aiohttp", "PIL"):  # the [emulator] extra, loaded on first use
            importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("yandex_art"):
            raise
        raise CliError(
            f"the emulator needs the [emulator] extra (module {exc.name!r} is missing): "
            "pip install 'yandex-art-sdk[emulator]'",
            EXIT_USAGE,
            details={"kind": "missing_extra", "module": exc.name},
        ) from None
    return emulator


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            size: tuple[int, int] = image.size  # for 3.10, Pillow types the with-target as Any
            return size
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
        kwargs["address"] = args.endpoint  # one address for every service, no discovery
        if args.insecure and not endpoint.is_loopback:
            raise CliError(
                "--insecure is allowed only with a loopback --endpoint (127.0.0.1, ::1, "
                "localhost): elsewhere credentials would travel in plaintext",
                EXIT_USAGE,
            )
        if endpoint.is_loopback:
            kwargs["verify"] = False
    elif args.insecure:
        raise CliError("--insecure needs a loopback --endpoint", EXIT_USAGE)
    args.folder_id = folder  # the folder used, for the resume hint
    return kwargs


def _output_mime_type(args: argparse.Namespace) -> None:
    """A ``-o`` named ``.png``/``.jpeg`` asks for that type when ``--mime-type`` is not
    given, and contradicts a ``--mime-type`` asking for another (refused before sending)."""
    import mimetypes

    if not args.output or args.output == "-" or not hasattr(args, "option__mime_type"):
        return
    named = mimetypes.guess_type(Path(args.output).name)[0]
    if named not in _EXTENSIONS:
        return
    if args.option__mime_type is None:
        args.option__mime_type = named
    elif args.option__mime_type != named:
        raise CliError(
            f"-o {args.output} names an {named} file but --mime-type asks for "
            f"{args.option__mime_type}; choose a matching name or type",
            EXIT_USAGE,
        )


def _save(
    result: ImageGenerationModelResult, output: str | None, operation_id: str, out: _Output
) -> str:
    from ._runtime.errors import InvalidArgumentError

    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(result.image_bytes)
        sys.stdout.buffer.flush()
        return "-"
    target = output or f"{operation_id}.{extension(result.mime_type)}"
    try:
        try:
            return str(result.save(target))  # adds the image's suffix when there is none
        except InvalidArgumentError:
            # The image exists (and was paid for): keep the name asked for, and say so.
            out.info(
                f"warning: {target} names another type than the image's "
                f"({result.mime_type}); written anyway"
            )
            return str(result.save(target, force=True))
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}", EXIT_FAILURE) from None


async def _finish(
    operation: AsyncOperation[ImageGenerationModelResult],
    args: argparse.Namespace,
    out: _Output,
) -> None:
    with _Progress(out.stderr, operation.id, operation.expected_remaining, out) as progress:
        result = await operation.wait(poll_timeout=args.timeout)
    path = _save(result, args.output, operation.id, out)
    size = _image_size(result.image_bytes)
    seconds = round(progress.elapsed(), 3)
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
    _output_mime_type(args)
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
        Emulator = _emulator_module().Emulator

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
        # Read once before saying "started": an unknown id fails here (NOT_FOUND, exit 2)
        # instead of being announced; a finished one is not read again by the wait.
        await operation.get_status()
        _announce(operation.id, args, out, run)
        await _finish(operation, args, out)


def _cli_argument(name: str) -> str:
    """The flag or operand of an SDK parameter (``width_ratio`` -> ``--width-ratio``)."""
    if name.startswith("messages"):
        return "PROMPT"
    if name in ("model_name", "model_version", "model_uri"):
        return "--model"
    if name == "operation_id":
        return "OPERATION_ID"
    rules = generation_rules()
    return _flag(name) if any(rule.name == name for rule in rules.OPTION_RULES) else name


def describe(exc: BaseException) -> str:
    """An SDK error in the command line's words (flags, not Python parameters)."""
    from ._runtime.errors import InvalidArgumentError, OperationTimeoutError

    if isinstance(exc, OperationTimeoutError):
        return f"operation {exc.operation_id} did not finish within {exc.timeout:g} s"
    if isinstance(exc, InvalidArgumentError):
        return f"{_cli_argument(exc.argument)}: {exc.problem}"
    return str(exc)


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
        return CliError(describe(exc), EXIT_USAGE, details={"type": type(exc).__name__})
    if isinstance(exc, OperationTimeoutError):
        return CliError(
            describe(exc),
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
    if error.code == EXIT_TIMEOUT and run.operation_id and args is not None:
        if run.emulator:
            error.message += "; the embedded emulator stops with this command"
        else:
            error.details["resume"] = _resume(run.operation_id, args)
            error.message += (
                f"; it keeps running on the server, resume with: {error.details['resume']}"
            )
    print(f"{PROG}: error: {error.message}", file=out.stderr, flush=True)
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


async def _serve(args: argparse.Namespace, out: _Output) -> None:
    emulator_module = _emulator_module()
    Emulator, EmulatorConfig = emulator_module.Emulator, emulator_module.EmulatorConfig

    config = emulator_config(args, EmulatorConfig)
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
    EmulatorConfigError = _emulator_module().EmulatorConfigError
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


def _usage_error(error: _UsageError, argv: Sequence[str], stdout: IO[str], stderr: IO[str]) -> int:
    """argparse's report of a usage error, plus a JSON line when ``--json`` was asked for."""
    stderr.write(error.parser.format_usage())
    print(f"{error.parser.prog}: error: {error.message}", file=stderr, flush=True)
    if _wants_json(argv):
        _Output(True, stdout, stderr).event(
            event="error",
            operation_id=None,
            exit_code=EXIT_USAGE,
            error={"message": error.message, "kind": "usage"},
        )
    return EXIT_USAGE


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
        args = parser.parse_args(_dash_values(argv, _group_flags()))
    except _UsageError as error:
        return _usage_error(error, argv, stdout, stderr)
    out = _Output(json=bool(getattr(args, "json", False)), stdout=stdout, stderr=stderr)
    try:
        if getattr(args, "output", None) == "-":
            if out.json:
                raise CliError("-o - (image on stdout) cannot be combined with --json", EXIT_USAGE)
            out.image_on_stdout = True
        if args.command == "emulator":
            return _run_emulator(args, out)
        if args.command == "cassette":
            from . import cli_cassette

            return cli_cassette.run(args, out)
        if args.command == "batch":
            from . import cli_batch

            return cli_batch.run(args, out, os.environ if env is None else env)
        return _run_client(args, out, os.environ if env is None else env)
    except CliError as error:
        return _report(error, out, _Run())
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

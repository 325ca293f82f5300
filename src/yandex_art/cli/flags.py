"""The flags commands share: the generation options (derived from the specs' rules table),
the connection options, and the value types and argv fixes they need.

Everything here imports only the standard library at module level: building the parser
must stay cheap (``yandex-art --help`` loads no gRPC and no emulator).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "add_connection",
    "add_generation_flags",
    "dash_values",
    "flag",
    "generation_options",
    "generation_rules",
    "group_flags",
    "group_usage",
    "non_negative",
    "parse_group",
    "port",
    "wants_json",
]


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
    from .._gen import image_generation_rules

    return image_generation_rules


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _value_type(rule: Any) -> Any:
    """argparse's type for one value of ``rule``, read by the field contract's ``from_text``."""
    from .._runtime.fields import from_text

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


def group_flags(rules: Any = None) -> frozenset[str]:
    rules = rules if rules is not None else generation_rules()
    flags = {flag(field) for field in rules.OPTION_GROUPS}
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
        flags = [flag(field)]
        if field in _GROUP_ALIASES:
            flags.insert(0, _GROUP_ALIASES[field])
        parts = " and ".join(flag(n) for n in names)
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
        group.add_argument(flag(rule.name), **kwargs)


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
                f"warning: {flag(rule.name)} is deprecated in the API spec and may stop having "
                "an effect",
                file=sys.stderr,
            )
        options[rule.name] = dict(value) if rule.label == "map" else value
    return options


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not within 0..65535")
    return value


def add_connection(parser: argparse.ArgumentParser) -> None:
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
        type=non_negative,
        default=600.0,
        help="seconds to wait for the result (600); the operation keeps running after that",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON lines on stdout (for scripts)"
    )


# -- argv ----------------------------------------------------------------------------------


def wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the options."""
    for token in argv:
        if token == "--":
            return False
        if len(token) >= 3 and "--json".startswith(token):
            return True
    return False


def dash_values(argv: Sequence[str], flags: frozenset[str]) -> list[str]:
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

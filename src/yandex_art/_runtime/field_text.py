"""One value of a field as typed on a command line (the CLI's flags).

:func:`from_text` only reads the text into a Python value; the CLI then
checks it with :func:`~.field_check.check`, as any other value a caller
passes. A text that cannot be read raises ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from .field_json import parse_duration
from .field_rules import FLOATS, INT_RANGES, FieldRule, key_rule
from .timestamps import parse_iso_datetime

__all__ = ["from_text"]


def from_text(rule: FieldRule, text: str) -> Any:
    """One value of ``rule`` as typed on a command line (then check it).

    A map entry is ``key=value``; bytes are ``@path`` (the file's content) or
    base64; a Timestamp is ISO 8601 (UTC unless it says otherwise); a Duration
    a number of seconds or ``1.5s``.
    """
    if rule.label != "map":
        return _one_from_text(rule, text)
    key, sep, item = text.partition("=")
    if not sep:
        raise ValueError(f"expected key=value, got {text!r}")
    keys = key_rule(rule)
    return (key if keys.kind == "string" else _scalar_from_text(keys, key)), _one_from_text(
        rule, item
    )


def _one_from_text(rule: FieldRule, text: str) -> Any:
    if rule.construct == "enum":
        return text
    if rule.construct == "timestamp":
        moment = parse_iso_datetime(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
    if rule.construct == "duration":
        return parse_duration(text, rule.name) if text.endswith("s") else float(text)
    if rule.construct == "message":
        raise ValueError(f"{rule.name} is a message; set it from Python or a batch file")
    return _scalar_from_text(rule, text)


def _scalar_from_text(rule: FieldRule, text: str) -> Any:
    kind = rule.kind
    if kind in INT_RANGES:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if kind in FLOATS:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if kind == "bool":
        return _bool_from_text(text)
    if kind == "bytes":
        return _bytes_from_text(text)
    return text


def _bool_from_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{text!r} is not true or false")
    return lowered in ("true", "1", "yes")


def _bytes_from_text(text: str) -> bytes:
    if text.startswith("@"):
        with open(text[1:], "rb") as file:
            return file.read()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("bytes are @path (a file's content) or base64") from None

"""Received values in the proto3 JSON mapping (the emulator's REST face).

:func:`from_json` reads one field's value into its canonical shape and
raises :class:`~.field_wire.WireError` naming the field for anything the
mapping does not allow. Readers are lenient where the mapping says so:
64-bit integers and doubles as numbers or strings, enums by name or number,
both the JSON and the proto name of a field.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from .field_rules import FLOATS, INT_RANGES, FieldRule, key_rule
from .field_wire import WireError
from .timestamps import parse_iso_datetime

__all__ = [
    "describe_json",
    "from_json",
    "json_double",
    "json_integer",
    "json_scalar",
    "message_from_json",
    "parse_duration",
]

_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_DURATION = re.compile(r"(-?\d+)(?:\.(\d{1,9}))?s")


def describe_json(value: Any) -> str:
    """A JSON value in a few words, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}" if len(repr(value)) < 30 else "a number"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) < 30 else "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def from_json(rule: FieldRule, value: Any, where: str) -> Any:
    """The canonical value of ``rule`` from its proto3 JSON form (``null`` is "not set": None)."""
    if value is None:
        return None
    if rule.label == "repeated":
        if not isinstance(value, list):
            raise WireError(where, f"must be an array, got {describe_json(value)}")
        return [_one_from_json(rule, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if rule.label == "map":
        if not isinstance(value, dict):
            raise WireError(where, f"must be a JSON object, got {describe_json(value)}")
        keys = key_rule(rule)
        return {
            _map_key(keys, key, where): _one_from_json(rule, item, f"{where}.{key}")
            for key, item in value.items()
        }
    return _one_from_json(rule, value, where)


def _map_key(rule: FieldRule, key: str, where: str) -> Any:
    """A map key: JSON writes every key as a string, whatever its proto type."""
    if rule.kind == "bool":
        if key not in ("true", "false"):
            raise WireError(where, f"key {key!r} must be true or false")
        return key == "true"
    if rule.kind in INT_RANGES:
        return json_integer(key, f"{where} key", rule.kind)
    return key


def _one_from_json(rule: FieldRule, value: Any, where: str) -> Any:
    if rule.construct == "enum":
        if isinstance(value, str):
            if value not in rule.enum_names:
                raise WireError(where, f"{value!r} is not a value of the enum")
            return value
        return json_integer(value, where, "int32")  # proto3 enums are open
    if rule.construct == "timestamp":
        return _json_timestamp(value, where)
    if rule.construct == "duration":
        return parse_duration(value, where)
    if rule.construct == "message":
        return message_from_json(rule.fields, value, where)
    return json_scalar(rule.kind, value, where)


def message_from_json(rules: Iterable[FieldRule], value: Any, where: str) -> dict[str, Any]:
    """Canonical values by proto name of the fields in ``rules`` (unknown keys are ignored)."""
    if not isinstance(value, dict):
        raise WireError(where, f"must be a JSON object, got {describe_json(value)}")
    out: dict[str, Any] = {}
    for rule in rules:
        key = rule.json_path[-1]
        item = value.get(key, value.get(rule.path[-1]))  # parsers accept both names
        if item is not None:
            out[rule.path[-1]] = from_json(rule, item, f"{where}.{key}" if where else key)
    return out


def json_scalar(kind: str, value: Any, where: str) -> Any:
    """A scalar of proto type ``kind`` (``string``, ``bytes``, ``bool``, a number)."""
    if kind == "string":
        if not isinstance(value, str):
            raise WireError(where, f"must be a string, got {describe_json(value)}")
        return value
    if kind == "bytes":
        if not isinstance(value, str):
            raise WireError(where, f"must be a base64 string, got {describe_json(value)}")
        try:  # standard or URL-safe alphabet, padding optional: as the mapping allows
            return base64.b64decode(value.replace("-", "+").replace("_", "/") + "===")
        except (binascii.Error, ValueError):
            raise WireError(where, "is not valid base64") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise WireError(where, f"must be true or false, got {describe_json(value)}")
        return value
    if kind in FLOATS:
        return json_double(value, where)
    if kind in INT_RANGES:
        return json_integer(value, where, kind)
    raise WireError(where, f"has a type the emulator cannot read ({kind})")


def json_double(value: Any, where: str) -> float:
    """A proto3 JSON double: a number, or a string holding one ("1", "1.5e3", "NaN", "Infinity")."""
    if isinstance(value, str):
        if not (_NUMBER.fullmatch(value) or value in ("NaN", "Infinity", "-Infinity")):
            raise WireError(
                where, f"must be a number or a numeric string, got {describe_json(value)}"
            )
        number = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise WireError(where, "is out of the range of a double") from None
    else:
        raise WireError(where, f"must be a number, got {describe_json(value)}")
    if math.isinf(number) and value not in ("Infinity", "-Infinity"):
        raise WireError(where, "is out of the range of a double")
    return number


def json_integer(value: Any, where: str, kind: str) -> int:
    """A proto3 JSON integer: a number or a decimal string, integral and within ``kind``'s range."""
    number: int | None = None
    if isinstance(value, str):
        if _NUMBER.fullmatch(value):
            number = _integral(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value):
        number = _integral(repr(value))
    if number is None:
        raise WireError(
            where, f"must be an {kind} (an integer or a decimal string), got {describe_json(value)}"
        )
    low, high = INT_RANGES.get(kind, INT_RANGES["int64"])
    if not low <= number <= high:
        raise WireError(where, f"is out of the {kind} range")
    return number


def _integral(text: str) -> int | None:
    """The integer a decimal text holds ("1e3", "5.0"), or None when it holds a fraction."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if value != value.to_integral_value() or abs(value) > 2**64:
        return None
    return int(value)


def _json_timestamp(value: Any, where: str) -> datetime.datetime:
    if not isinstance(value, str):
        raise WireError(where, f"must be an RFC 3339 string, got {describe_json(value)}")
    try:
        moment = parse_iso_datetime(value)
    except ValueError:
        raise WireError(where, f"is not an RFC 3339 timestamp: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise WireError(where, "needs a time zone offset (Z or +hh:mm)")
    return moment


def parse_duration(value: Any, where: str) -> datetime.timedelta:
    """A Duration as the JSON mapping writes it: seconds with up to 9 decimals and an ``s``."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise WireError(where, f'must be a duration such as "1.5s", got {describe_json(value)}')
    seconds = int(match[1])
    nanos = int((match[2] or "0").ljust(9, "0"))
    sign = -1 if match[1].startswith("-") else 1
    return datetime.timedelta(seconds=seconds, microseconds=sign * nanos / 1000)

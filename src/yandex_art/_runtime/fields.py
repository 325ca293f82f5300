"""The field contract: one description of a request field, read by everything that handles one.

Codegen writes a table of :class:`FieldRule` objects from the specs (the
``*_rules.py`` modules of the generated package). This module is the one
place that interprets a rule:

- :func:`check` takes what a caller passed to ``configure()`` (or a method
  of a model), refuses a wrong type or value before anything is sent, and
  returns the value in one canonical Python shape;
- :func:`build` turns canonical values, keyed by proto field names, into a
  betterproto2 message;
- :func:`check_wire` checks a value read from a received message the way
  the service does (the emulator);
- :func:`from_json` reads a value from the proto3 JSON mapping (the
  emulator's REST face);
- :func:`from_text` reads one command-line value (the CLI).

The Python shapes follow what users of the official SDK expect: plain
scalars, enum values by name, ``datetime``/``timedelta`` for Timestamp and
Duration, sequences for repeated fields, mappings for maps, and dicts for
message values that cannot be flattened into keyword arguments.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from .errors import InvalidArgumentError
from .timestamps import parse_iso_datetime
from .undefined import Undefined
from .validation import check_bool, check_float, check_int, check_str

__all__ = [
    "Construct",
    "FieldRule",
    "Label",
    "RpcRule",
    "build",
    "check",
    "configured",
    "read",
    "request_values",
    "to_message",
    "check_oneofs",
    "check_wire",
    "from_json",
    "from_text",
    "warn_deprecated",
    "WireError",
]

Construct = Literal["scalar", "enum", "message", "wrapper", "timestamp", "duration"]
Label = Literal["single", "repeated", "map"]

INT_RANGES: dict[str, tuple[int, int]] = {
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_FLOATS = ("double", "float")


@dataclass(frozen=True)
class FieldRule:
    """One field of a request, as the specs state it."""

    name: str
    """Its Python name: the ``configure()`` parameter, dict key or CLI flag (dashes)."""
    path: tuple[str, ...]
    """Proto field names from the message that owns the table down to this field."""
    json_path: tuple[str, ...]
    """The same path in proto3 JSON (lowerCamelCase) names."""
    number: int
    """The field number on the wire."""
    kind: str
    """Proto type of one value: a scalar name (``int64``, ``string``, ...), ``enum`` or
    ``message``; for a wrapper, the scalar it wraps."""
    construct: Construct = "scalar"
    """How the value is written: a plain scalar, an enum, a message, a wrapper
    (``google.protobuf.Int64Value`` ...), a Timestamp or a Duration."""
    label: Label = "single"
    map_key: str | None = None
    """The proto type of a map's keys (``label == "map"``)."""
    enum_values: tuple[tuple[str, int], ...] = ()
    """Names and numbers of an enum, in declaration order."""
    oneof: str | None = None
    """The oneof group the field belongs to: at most one member is set."""
    presence: bool = False
    """The wire tells "not set" from a zero value (proto3 ``optional``, wrappers, messages)."""
    deprecated: bool = False
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: bool = False
    """A zero value is refused (``yandex.cloud.required``)."""
    default: Any = None
    """What a zero or missing value means, when the service documents it."""
    fields: tuple[FieldRule, ...] = ()
    """The fields of a message value (``construct == "message"``)."""
    message: str = ""
    """Full proto name of a message value's type."""
    doc: str = ""

    @property
    def py_type(self) -> str:
        """The Python type of one value: ``str``, ``int``, ``float``, ``bool``, ``bytes``,
        ``datetime``, ``timedelta`` or ``dict``; an enum value is its name, a ``str``."""
        if self.construct == "timestamp":
            return "datetime"
        if self.construct == "duration":
            return "timedelta"
        if self.construct == "message":
            return "dict"
        if self.construct == "enum":
            return "str"
        return _scalar_type(self.kind)

    @property
    def enum_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.enum_values)


def _key_rule(rule: FieldRule) -> FieldRule:
    """The rule of a map field's keys (a plain scalar of ``map_key``'s type)."""
    return FieldRule(name="key", path=(), json_path=(), number=1, kind=rule.map_key or "")


def _scalar_type(kind: str) -> str:
    if kind in INT_RANGES:
        return "int"
    if kind in _FLOATS:
        return "float"
    return {"string": "str", "bool": "bool", "bytes": "bytes"}.get(kind, kind)


# -- what a caller passes -----------------------------------------------------------------------


def check(rule: FieldRule, value: object, where: str | None = None) -> Any:
    """``value`` checked against ``rule`` and in its canonical shape.

    A wrong type raises ``TypeError``, a wrong value ``InvalidArgumentError``;
    both name ``where`` (the parameter name by default). Repeated fields come
    back as tuples, maps as dicts, enums as value names, messages as dicts.
    """
    where = where or rule.name
    if rule.label == "repeated":
        if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
            raise TypeError(f"{where} must be a sequence, not {type(value).__name__}")
        return tuple(_check_one(rule, item, f"{where}[{i}]") for i, item in enumerate(value))
    if rule.label == "map":
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be a mapping, not {type(value).__name__}")
        key_rule = _key_rule(rule)
        return {
            _check_one(key_rule, key, f"{where} key {key!r}"): _check_one(
                rule, item, f"{where}[{key!r}]"
            )
            for key, item in value.items()
        }
    return _check_one(rule, value, where)


def _check_one(rule: FieldRule, value: object, where: str) -> Any:
    if rule.construct == "enum":
        return _check_enum(rule, value, where)
    if rule.construct == "timestamp":
        if not isinstance(value, datetime.datetime):
            raise TypeError(f"{where} must be a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgumentError(where, "must be timezone-aware (e.g. tzinfo=UTC)")
        return value
    if rule.construct == "duration":
        if isinstance(value, datetime.timedelta):
            return value
        seconds = check_float(where, value)  # a number of seconds is a duration too
        return datetime.timedelta(seconds=seconds)
    if rule.construct == "message":
        return _check_message(rule, value, where)
    return _check_scalar(rule, value, where)


def _check_scalar(rule: FieldRule, value: object, where: str) -> Any:
    kind = rule.kind
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        minimum = low if rule.minimum is None else max(low, rule.minimum)
        maximum = high if rule.maximum is None else min(high, rule.maximum)
        return check_int(where, value, minimum=minimum, maximum=maximum)
    if kind in _FLOATS:
        return check_float(where, value)
    if kind == "bool":
        return check_bool(where, value)
    if kind == "bytes":
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{where} must be bytes, not {type(value).__name__}")
        data = bytes(value)
        _check_length(rule, len(data), where, unit="byte")
        return data
    if kind == "string":
        text = check_str(where, value, min_length=rule.min_length, max_length=rule.max_length)
        if rule.required and not text:
            raise InvalidArgumentError(where, "must not be empty")
        return text
    raise TypeError(f"{where}: the proto type {kind} is not supported")


def _check_length(rule: FieldRule, length: int, where: str, *, unit: str) -> None:
    if rule.max_length is not None and length > rule.max_length:
        raise InvalidArgumentError(
            where, f"must be at most {rule.max_length} {unit}s, got {length}"
        )
    if rule.min_length is not None and length < rule.min_length:
        raise InvalidArgumentError(
            where, f"must be at least {rule.min_length} {unit}s, got {length}"
        )


def _check_enum(rule: FieldRule, value: object, where: str) -> str:
    if isinstance(value, enum.Enum):  # a member of the generated enum class
        value = value.name
    if not isinstance(value, str):
        names = ", ".join(repr(n) for n in rule.enum_names)
        raise TypeError(f"{where} must be one of {names} (a str), not {type(value).__name__}")
    if value not in rule.enum_names:
        names = ", ".join(repr(n) for n in rule.enum_names)
        raise InvalidArgumentError(where, f"must be one of {names}, got {value!r}")
    return value


def _check_message(rule: FieldRule, value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a dict, not {type(value).__name__}")
    by_name = {sub.name: sub for sub in rule.fields}
    unknown = sorted(str(key) for key in value if key not in by_name)
    if unknown:
        raise InvalidArgumentError(where, f"unknown keys {unknown}; allowed: {sorted(by_name)}")
    checked = {
        name: check(by_name[name], item, f"{where}.{name}")
        for name, item in value.items()
        if item is not None
    }
    check_oneofs(rule.fields, checked, where)
    return checked


def check_oneofs(rules: Iterable[FieldRule], values: Mapping[str, Any], where: str = "") -> None:
    """Refuse two members of one oneof set at once, naming both."""
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.oneof is None or values.get(rule.name) is None:
            continue
        if (other := seen.get(rule.oneof)) is not None:
            at = f"{where}: " if where else ""
            raise InvalidArgumentError(
                rule.name,
                f"{at}{other} and {rule.name} are members of oneof {rule.oneof!r}; set only one",
            )
        seen[rule.oneof] = rule.name


def warn_deprecated(rule: FieldRule, *, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{rule.name} is deprecated in the API spec and may stop having an effect",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


# -- building a message ---------------------------------------------------------------------------


def build(message_type: type[Any], values: Mapping[str, Any]) -> Any:
    """A betterproto2 message of ``message_type`` from canonical values by proto field name.

    Nested dicts become sub-messages, enum names become the generated enum's
    members; the classes come from betterproto2's own field metadata, so
    nothing here depends on one API.
    """
    classes = message_type._betterproto.cls_by_field
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        target = classes[name]
        if isinstance(value, Mapping) and f"{name}.value" in classes:  # a map
            value_type = classes[f"{name}.value"]
            kwargs[name] = {key: _convert(value_type, item) for key, item in value.items()}
        elif isinstance(value, list | tuple):
            kwargs[name] = [_convert(target, item) for item in value]
        else:
            kwargs[name] = _convert(target, value)
    return message_type(**kwargs)


def _convert(target: type[Any], value: Any) -> Any:
    if isinstance(value, Mapping) and hasattr(target, "_betterproto"):
        return build(target, value)
    if isinstance(target, type) and issubclass(target, enum.Enum):
        return target[value] if isinstance(value, str) else target(value)
    return value


# -- what the service receives (the emulator) ---------------------------------------------------


class WireError(ValueError):
    """A received value the service refuses: ``where`` names the field, ``problem`` says why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def check_wire(rule: FieldRule, value: Any, where: str) -> None:
    """Check a value read from a received message as the service does.

    A zero value means "not set" (proto3) unless the field has presence;
    only what the specs document is refused. Unknown enum numbers pass:
    proto3 enums are open.
    """
    if rule.label == "repeated":
        for index, item in enumerate(value or ()):
            _check_wire_one(rule, item, f"{where}[{index}]")
        return
    if rule.label == "map":
        for key, item in (value or {}).items():
            _check_wire_one(rule, item, f"{where}[{key!r}]")
        return
    if value is None or (not rule.presence and _is_zero(value)):
        if rule.required:
            raise WireError(where, "must not be empty" if rule.kind == "string" else "is required")
        return
    _check_wire_one(rule, value, where)


def _is_zero(value: Any) -> bool:
    if isinstance(value, enum.Enum):
        return bool(value.value == 0)
    return value in ("", 0, b"", False) or (isinstance(value, float) and value == 0.0)


def _check_wire_one(rule: FieldRule, value: Any, where: str) -> None:
    if rule.construct == "message":
        for sub in rule.fields:
            check_wire(sub, getattr(value, sub.path[-1], None), f"{where}.{sub.path[-1]}")
        return
    if rule.kind == "string" and isinstance(value, str):
        if rule.max_length is not None and len(value) > rule.max_length:
            raise WireError(
                where, f"is {len(value)} characters long; at most {rule.max_length} are allowed"
            )
        if rule.min_length is not None and len(value) < rule.min_length:
            raise WireError(where, f"must be at least {rule.min_length} characters long")
    elif rule.kind in INT_RANGES and isinstance(value, int) and not isinstance(value, enum.Enum):
        if rule.minimum is not None and value < rule.minimum:
            raise WireError(where, f"must be at least {rule.minimum}, got {value}")
        if rule.maximum is not None and value > rule.maximum:
            raise WireError(where, f"must be at most {rule.maximum}, got {value}")


# -- proto3 JSON (the emulator's REST face) ----------------------------------------------------

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
    """The canonical value of ``rule`` from its proto3 JSON form (``null`` is "not set": None).

    Readers are lenient where the mapping says so: 64-bit integers and
    doubles as numbers or strings, enums by name or number.
    """
    if value is None:
        return None
    if rule.label == "repeated":
        if not isinstance(value, list):
            raise WireError(where, f"must be an array, got {describe_json(value)}")
        return [_one_from_json(rule, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if rule.label == "map":
        if not isinstance(value, dict):
            raise WireError(where, f"must be a JSON object, got {describe_json(value)}")
        key_rule = _key_rule(rule)
        return {
            _map_key(key_rule, key, where): _one_from_json(rule, item, f"{where}.{key}")
            for key, item in value.items()
        }
    return _one_from_json(rule, value, where)


def _map_key(rule: FieldRule, key: str, where: str) -> Any:
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
        return _json_duration(value, where)
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
    if kind == "string":
        if not isinstance(value, str):
            raise WireError(where, f"must be a string, got {describe_json(value)}")
        return value
    if kind == "bytes":
        if not isinstance(value, str):
            raise WireError(where, f"must be a base64 string, got {describe_json(value)}")
        try:
            return base64.b64decode(value.replace("-", "+").replace("_", "/") + "===")
        except (binascii.Error, ValueError):
            raise WireError(where, "is not valid base64") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise WireError(where, f"must be true or false, got {describe_json(value)}")
        return value
    if kind in _FLOATS:
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


def _json_duration(value: Any, where: str) -> datetime.timedelta:
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise WireError(where, f'must be a duration such as "1.5s", got {describe_json(value)}')
    seconds = int(match[1])
    nanos = int((match[2] or "0").ljust(9, "0"))
    sign = -1 if match[1].startswith("-") else 1
    return datetime.timedelta(seconds=seconds, microseconds=sign * nanos / 1000)


# -- one command-line value (the CLI) ----------------------------------------------------------


def from_text(rule: FieldRule, text: str) -> Any:
    """One value of ``rule`` as typed on a command line (then :func:`check` it).

    A map entry is ``key=value``; bytes are ``@path`` (the file's content) or
    base64; a Timestamp is ISO 8601; a Duration a number of seconds or ``1.5s``.
    """
    if rule.label == "map":
        key, sep, item = text.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {text!r}")
        key_rule = _key_rule(rule)
        return key if key_rule.kind == "string" else _scalar_from_text(
            key_rule, key
        ), _one_from_text(rule, item)
    return _one_from_text(rule, text)


def _one_from_text(rule: FieldRule, text: str) -> Any:
    if rule.construct == "enum":
        return text
    if rule.construct == "timestamp":
        moment = parse_iso_datetime(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
    if rule.construct == "duration":
        return _json_duration(text, rule.name) if text.endswith("s") else float(text)
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
    if kind in _FLOATS:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{text!r} is not true or false")
        return lowered in ("true", "1", "yes")
    if kind == "bytes":
        if text.startswith("@"):
            with open(text[1:], "rb") as file:
                return file.read()
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("bytes are @path (a file's content) or base64") from None
    return text


# -- configuration objects and results (the generated config and result classes) ---------------


@dataclass(frozen=True)
class RpcRule:
    """One rpc of a model's service, as a model method and as the emulator serves it."""

    name: str
    """The rpc's name in the specs (``Generate``)."""
    method: str
    """The model method that calls it (``run_deferred``, ``generate_sync``, ``edit_deferred``)."""
    grpc_path: str
    http_method: str | None
    http_path: str | None
    deferred: bool
    """It starts an operation; the operation ends with ``result_type``."""
    request_type: str
    result_type: str
    takes_messages: bool
    takes_options: bool
    uri_field: str | None
    params: tuple[FieldRule, ...] = ()
    """Request fields beside the model URI, the prompt messages and the options."""

    @property
    def result_type_url(self) -> str:
        return f"type.googleapis.com/{self.result_type}"


def configured(
    current: Any, changes: Mapping[str, Any], rules: Mapping[str, FieldRule], *, stacklevel: int
) -> dict[str, Any]:
    """The attributes of a configuration after ``changes`` (UNDEFINED: kept; None: cleared).

    Every value is checked by its rule; a deprecated field warns; two members
    of one oneof in one call are refused, and a member set clears the others
    (as setting a oneof member does in protobuf).
    """
    given = {name: value for name, value in changes.items() if not isinstance(value, Undefined)}
    check_oneofs(rules.values(), given)
    checked: dict[str, Any] = {}
    for name, value in given.items():
        rule = rules[name]
        if value is None:
            checked[name] = None
            continue
        if rule.deprecated:
            warn_deprecated(rule, stacklevel=stacklevel + 1)
        checked[name] = check(rule, value)
    for name, value in list(checked.items()):
        oneof = rules[name].oneof
        if oneof is None or value is None:
            continue
        for other in rules.values():
            if other.oneof == oneof and other.name != name:
                checked[other.name] = None
    return {name: checked.get(name, getattr(current, name)) for name in rules}


def request_values(
    rules: Iterable[FieldRule], given: Mapping[str, Any], *, stacklevel: int
) -> dict[str, Any]:
    """Checked keyword arguments of a model method, keyed by proto name for :func:`build`.

    None means "not sent"; a missing required field is refused; a deprecated
    field warns; two members of one oneof are refused.
    """
    rules = tuple(rules)
    check_oneofs(rules, given)
    values: dict[str, Any] = {}
    for rule in rules:
        value = given.get(rule.name)
        if value is None:
            if rule.required:
                raise InvalidArgumentError(rule.name, "is required")
            continue
        if rule.deprecated:
            warn_deprecated(rule, stacklevel=stacklevel + 1)
        values[rule.path[-1]] = _to_build(rule, check(rule, value))
    return values


def to_message(message_type: type[Any], values: Any, rules: Iterable[FieldRule]) -> Any:
    """The message of ``message_type`` holding the set attributes of ``values``; None if none is."""
    nested: dict[str, Any] = {}
    for rule in rules:
        value = getattr(values, rule.name)
        if value is None:
            continue
        target = nested
        for part in rule.path[:-1]:
            target = target.setdefault(part, {})
        target[rule.path[-1]] = _to_build(rule, value)
    return build(message_type, nested) if nested else None


def _to_build(rule: FieldRule, value: Any) -> Any:
    """A checked value as :func:`build` takes it (message dicts keyed by proto names)."""
    if rule.construct != "message":
        return value
    if rule.label == "repeated":
        return [_message_values(rule, item) for item in value]
    if rule.label == "map":
        return {key: _message_values(rule, item) for key, item in value.items()}
    return _message_values(rule, value)


def _message_values(rule: FieldRule, value: Mapping[str, Any]) -> dict[str, Any]:
    by_name = {sub.name: sub for sub in rule.fields}
    return {by_name[k].path[-1]: _to_build(by_name[k], v) for k, v in value.items()}


def read(rule: FieldRule, value: Any) -> Any:
    """A received value in the Python shape of the SDK's results.

    Enum values are names, or numbers the specs do not know yet (proto3 enums
    are open); messages are dicts; repeated fields tuples.
    """
    if rule.label == "repeated":
        return tuple(_read_one(rule, item) for item in value)
    if rule.label == "map":
        return {key: _read_one(rule, item) for key, item in value.items()}
    return _read_one(rule, value)


def _read_one(rule: FieldRule, value: Any) -> Any:
    if value is None:
        return None
    if rule.construct == "enum":
        number = int(value)
        names = {n: name for name, n in rule.enum_values}
        return names.get(number, number)
    if rule.construct == "message":
        return {sub.name: read(sub, getattr(value, sub.path[-1])) for sub in rule.fields}
    return value

"""What a caller passes: a value checked against its field's rule, before anything is sent.

:func:`check` is the one check of a value given to ``configure()``, to a
model method or in a batch file; :func:`configured` and
:func:`request_values` apply it to a whole call. A wrong type raises
``TypeError``, a wrong value :class:`~.errors.InvalidArgumentError`; both name
the parameter. The value comes back in one canonical Python shape: repeated
fields as tuples, maps as dicts, enums as value names, messages as dicts.
"""

from __future__ import annotations

import datetime
import enum
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidArgumentError
from .field_messages import to_build
from .field_rules import FLOATS, INT_RANGES, FieldRule, key_rule
from .undefined import Undefined
from .validation import check_bool, check_float, check_int, check_str

__all__ = ["check", "check_oneofs", "configured", "request_values", "warn_deprecated"]


def check(rule: FieldRule, value: object, where: str | None = None) -> Any:
    """``value`` checked against ``rule`` and in its canonical shape.

    A wrong type raises ``TypeError``, a wrong value ``InvalidArgumentError``;
    both name ``where`` (the parameter name by default).
    """
    where = where or rule.name
    if rule.label == "repeated":
        if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
            raise TypeError(f"{where} must be a sequence, not {type(value).__name__}")
        return tuple(_check_one(rule, item, f"{where}[{i}]") for i, item in enumerate(value))
    if rule.label == "map":
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be a mapping, not {type(value).__name__}")
        keys = key_rule(rule)
        return {
            _check_one(keys, key, f"{where} key {key!r}"): _check_one(
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
        # The spec's bounds, within the range of the proto type.
        low, high = INT_RANGES[kind]
        minimum = low if rule.minimum is None else max(low, rule.minimum)
        maximum = high if rule.maximum is None else min(high, rule.maximum)
        return check_int(where, value, minimum=minimum, maximum=maximum)
    if kind in FLOATS:
        return check_float(where, value)
    if kind == "bool":
        return check_bool(where, value)
    if kind == "bytes":
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{where} must be bytes, not {type(value).__name__}")
        data = bytes(value)
        _check_byte_length(rule, len(data), where)
        return data
    if kind == "string":
        text = check_str(where, value, min_length=rule.min_length, max_length=rule.max_length)
        if rule.required and not text:
            raise InvalidArgumentError(where, "must not be empty")
        return text
    raise TypeError(f"{where}: the proto type {kind} is not supported")


def _check_byte_length(rule: FieldRule, length: int, where: str) -> None:
    if rule.max_length is not None and length > rule.max_length:
        raise InvalidArgumentError(where, f"must be at most {rule.max_length} bytes, got {length}")
    if rule.min_length is not None and length < rule.min_length:
        raise InvalidArgumentError(where, f"must be at least {rule.min_length} bytes, got {length}")


def _check_enum(rule: FieldRule, value: object, where: str) -> str:
    if isinstance(value, enum.Enum):  # a member of the generated enum class
        value = value.name
    names = ", ".join(repr(n) for n in rule.enum_names)
    if not isinstance(value, str):
        raise TypeError(f"{where} must be one of {names} (a str), not {type(value).__name__}")
    if value not in rule.enum_names:
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


# -- a whole call: configure() and the keyword arguments of a model method ---------------------


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
        if value is not None and rule.deprecated:
            warn_deprecated(rule, stacklevel=stacklevel + 1)
        checked[name] = None if value is None else check(rule, value)
    for name in [name for name, value in checked.items() if value is not None]:
        _clear_other_members(name, rules, checked)
    return {name: checked.get(name, getattr(current, name)) for name in rules}


def _clear_other_members(name: str, rules: Mapping[str, FieldRule], values: dict[str, Any]) -> None:
    """Set to None the other members of ``name``'s oneof, if it belongs to one."""
    oneof = rules[name].oneof
    if oneof is None:
        return
    for other in rules.values():
        if other.oneof == oneof and other.name != name:
            values[other.name] = None


def request_values(
    rules: Iterable[FieldRule], given: Mapping[str, Any], *, stacklevel: int
) -> dict[str, Any]:
    """Checked keyword arguments of a model method, keyed by proto name for ``build()``.

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
        values[rule.path[-1]] = to_build(rule, check(rule, value))
    return values

"""Between canonical values and betterproto2 messages: building a request, reading a result.

Canonical values are the shapes :func:`~.field_check.check` returns (enum
names, dicts for messages, tuples for repeated fields). :func:`build` and
:func:`to_message` turn them into a message; :func:`read` turns a received
message's field back into them, for the SDK's results.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from .field_rules import FieldRule

__all__ = ["build", "read", "to_build", "to_message"]


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


def to_message(message_type: type[Any], values: Any, rules: Iterable[FieldRule]) -> Any:
    """The message of ``message_type`` holding the set attributes of ``values``; None if none is.

    A rule's ``path`` says where its value goes: a path of several names sets a
    field of a sub-message, which is made as needed.
    """
    nested: dict[str, Any] = {}
    for rule in rules:
        value = getattr(values, rule.name)
        if value is None:
            continue
        target = nested
        for part in rule.path[:-1]:
            target = target.setdefault(part, {})
        target[rule.path[-1]] = to_build(rule, value)
    return build(message_type, nested) if nested else None


def to_build(rule: FieldRule, value: Any) -> Any:
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
    return {by_name[k].path[-1]: to_build(by_name[k], v) for k, v in value.items()}


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

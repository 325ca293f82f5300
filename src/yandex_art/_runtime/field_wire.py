"""What the service receives: a value read from a request checked as the service checks it.

The emulator's one check of a received message, over both protocols: only
what the specs document is refused, in the service's proto3 reading (a zero
value means "not set" unless the field has presence; enums are open).
"""

from __future__ import annotations

import enum
from typing import Any

from .field_rules import INT_RANGES, FieldRule

__all__ = ["WireError", "check_wire", "is_zero"]


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
    if value is None or (not rule.presence and is_zero(value)):
        if rule.required:
            raise WireError(where, "must not be empty" if rule.kind == "string" else "is required")
        return
    _check_wire_one(rule, value, where)


def is_zero(value: Any) -> bool:
    """Whether a received value is its type's zero, which proto3 reads as "not set"."""
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

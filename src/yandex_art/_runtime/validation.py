"""Checks that generated code runs on values as the user configures them.

A value of the wrong Python type raises :class:`TypeError`; a value of the
right type but out of range raises :class:`~.errors.InvalidArgumentError`.
Both name the parameter.
"""

from __future__ import annotations

import math

from .errors import InvalidArgumentError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "check_bool",
    "check_float",
    "check_idempotency_key",
    "check_int",
    "check_path_segment",
    "check_str",
    "check_timeout",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""The range of protobuf's int64, shared by everything that checks one."""


def _type_error(name: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{name} must be {expected}, not {type(value).__name__}")


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an ``int`` after checking its type and inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an int", value)
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(name, f"must be <= {maximum}, got {value}")
    return int(value)


def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite ``float`` (ints are accepted) within inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a float or an int", value)
    try:
        number = float(value)
    except OverflowError:
        raise InvalidArgumentError(name, "must be a finite number, got an int too large") from None
    if not math.isfinite(number):
        raise InvalidArgumentError(name, f"must be a finite number, got {number!r}")
    if minimum is not None and number < minimum:
        raise InvalidArgumentError(name, f"must be >= {minimum:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise InvalidArgumentError(name, f"must be <= {maximum:g}, got {number:g}")
    return number


def check_str(
    name: str,
    value: object,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
) -> str:
    """Return ``value`` after checking it is a ``str`` whose length (in characters) fits."""
    if not isinstance(value, str):
        raise _type_error(name, "a str", value)
    _check_unicode(name, value)
    length = len(value)
    if min_length is not None and length < min_length:
        if length == 0:
            raise InvalidArgumentError(name, "must not be empty")
        raise InvalidArgumentError(
            name, f"must be at least {_characters(min_length)} long, got {length}"
        )
    if max_length is not None and length > max_length:
        raise InvalidArgumentError(
            name, f"must be at most {_characters(max_length)} long, got {length}"
        )
    return str(value)


def _check_unicode(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            name, f"is not valid Unicode (a lone surrogate at position {exc.start})"
        ) from None


def check_path_segment(name: str, value: object) -> str:
    """A value that becomes one segment of a URL path (an operation id): never '.' or '..'."""
    text = check_str(name, value, min_length=1)
    if not text.strip():
        raise InvalidArgumentError(name, "must not be blank")
    if text in (".", ".."):
        raise InvalidArgumentError(name, f"must not be {text!r}")
    return text


def check_idempotency_key(name: str, value: object) -> str:
    """A header value: 1 to 128 printable ASCII characters, no spaces."""
    text = check_str(name, value, min_length=1, max_length=128)
    if not all(33 <= ord(ch) < 127 for ch in text):
        raise InvalidArgumentError(name, "must be printable ASCII without spaces")
    return text


def check_timeout(name: str, value: object) -> float:
    """Seconds for a request: a positive, finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a number of seconds", value)
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidArgumentError(
            name, f"must be a positive, finite number of seconds, got {value!r}"
        )
    return seconds


def _characters(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` after checking it is a real ``bool`` (not ``0``/``1``)."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return value

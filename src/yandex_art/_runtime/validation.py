"""Checks of values as users pass them: a wrong type raises :class:`TypeError`, a value
out of range :class:`~.errors.InvalidArgumentError`; both name the parameter."""

from __future__ import annotations

import math

from .errors import InvalidArgumentError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _type_error(name: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{name} must be {expected}, not {type(value).__name__}")


def _number(name: str, value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, expected, value)
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range
        return math.inf if value > 0 else -math.inf


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int`` within inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an int", value)
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(name, f"must be <= {maximum}, got {value}")
    return int(value)


def check_float(
    name: str, value: object, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """``value`` as a finite ``float`` (ints accepted) within inclusive bounds."""
    number = _number(name, value, "a float or an int")
    if not math.isfinite(number):
        shown = "an int too large" if isinstance(value, int) else repr(number)
        raise InvalidArgumentError(name, f"must be a finite number, got {shown}")
    if minimum is not None and number < minimum:
        raise InvalidArgumentError(name, f"must be >= {minimum:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise InvalidArgumentError(name, f"must be <= {maximum:g}, got {number:g}")
    return number


def check_str(
    name: str, value: object, *, min_length: int | None = None, max_length: int | None = None
) -> str:
    """``value`` as valid Unicode text whose length in characters fits."""
    if not isinstance(value, str):
        raise _type_error(name, "a str", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            name, f"is not valid Unicode (a lone surrogate at position {exc.start})"
        ) from None
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


def _characters(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


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
    seconds = _number(name, value, "a number of seconds")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidArgumentError(
            name, f"must be a positive, finite number of seconds, got {value!r}"
        )
    return seconds


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a real ``bool`` (not ``0``/``1``)."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return value


def check_number(name: str, value: float, *, strict: bool = False) -> None:
    """A non-negative (``strict``: positive) number; a TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (value > 0 if strict else value >= 0):  # also rejects NaN
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value!r}")

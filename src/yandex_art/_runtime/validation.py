"""Checks of values as users pass them: a wrong type raises :class:`TypeError`, a value
out of range :class:`~.errors.InvalidArgumentError`; both name the parameter.

Every number the SDK takes is checked by one function, :func:`check_within`, against
a :class:`Bounds`: a field of a request (through the rules' check), a timeout, a
wait, a rate, a retry setting. So one bad value gets one answer wherever it is
passed: ``timeout=0`` is refused alike by the client, a model method and ``wait()``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .errors import InvalidArgumentError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _type_error(name: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{name} must be {expected}, not {type(value).__name__}")


# -- numbers ------------------------------------------------------------------------------------


class Bounds(NamedTuple):
    """What a number may be; NaN never is (it has no order, so no bound can hold).

    A named tuple: entry points that bound a field build one per check, so it is cheap.
    """

    integer: bool = False  # an int is required (a float is refused); else ints and floats
    minimum: float | None = None  # inclusive lower bound
    maximum: float | None = None  # inclusive upper bound
    positive: bool = False  # above 0: an exclusive lower bound of 0
    finite: bool = True  # infinity refused; where allowed, it means "no bound" or "no limit"


_REAL = (int, float)

SECONDS = Bounds(positive=True)
"""A request's timeout: a positive, finite number of seconds."""
NON_NEGATIVE = Bounds(minimum=0, finite=False)
"""A wait or an interval: 0 or more seconds, infinity meaning no bound."""
POSITIVE = Bounds(positive=True, finite=False)
"""A rate: above 0, infinity meaning no limit."""


def check_within(name: str, value: object, bounds: Bounds) -> float:
    """``value`` as a number within ``bounds`` (an ``int`` stays one), or the error naming ``name``.

    The one number check of the SDK: a bool, a str or None is a ``TypeError``; NaN, an
    infinity where ``bounds`` wants a finite number, or a number out of bounds is an
    :class:`~.errors.InvalidArgumentError` saying ``name: must be ..., got ...``.
    """
    if isinstance(value, bool) or not isinstance(value, int if bounds.integer else _REAL):
        raise _type_error(name, "an int" if bounds.integer else "a number", value)
    # An int is exact: no NaN, no infinity. Any other number is read as a float first.
    number = value if bounds.integer else _real(name, value, finite=bounds.finite)
    if bounds.positive and not number > 0:
        raise InvalidArgumentError(name, f"must be > 0, got {_shown(number)}")
    if bounds.minimum is not None and number < bounds.minimum:
        raise InvalidArgumentError(
            name, f"must be >= {_shown(bounds.minimum)}, got {_shown(number)}"
        )
    if bounds.maximum is not None and number > bounds.maximum:
        raise InvalidArgumentError(
            name, f"must be <= {_shown(bounds.maximum)}, got {_shown(number)}"
        )
    return number


def _real(name: str, value: int | float, *, finite: bool) -> float:
    """``value`` as a float; NaN refused, and infinity (a huge int's too) where ``finite``."""
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number):
        raise InvalidArgumentError(name, "must be a number, got nan")
    if finite and math.isinf(number):
        shown = "an int too large for a float" if isinstance(value, int) else repr(number)
        raise InvalidArgumentError(name, f"must be finite, got {shown}")
    return number


def _shown(number: float) -> str:
    """A number as a message shows it: exact, and a whole float without its ``.0``."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number) if isinstance(number, float) else str(number)


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int`` within inclusive bounds."""
    return int(check_within(name, value, Bounds(True, minimum, maximum)))


def check_float(
    name: str, value: object, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """``value`` as a finite ``float`` (ints accepted) within inclusive bounds."""
    return float(check_within(name, value, Bounds(False, minimum, maximum)))


def check_timeout(name: str, value: object) -> float:
    """Seconds for a request: a positive, finite number."""
    return float(check_within(name, value, SECONDS))


def check_number(name: str, value: object, *, strict: bool = False) -> float:
    """A non-negative (``strict``: positive) number; infinity passes (no bound, no limit)."""
    return float(check_within(name, value, POSITIVE if strict else NON_NEGATIVE))


# -- text and flags -----------------------------------------------------------------------------


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


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a real ``bool`` (not ``0``/``1``)."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return value

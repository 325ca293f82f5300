import math

import pytest

from yandex_art._runtime.errors import InvalidArgumentError
from yandex_art._runtime.validation import (
    INT64_MAX,
    INT64_MIN,
    check_bool,
    check_float,
    check_int,
    check_str,
)


def test_constants() -> None:
    assert (INT64_MIN, INT64_MAX) == (-9223372036854775808, 9223372036854775807)


def test_check_int_accepts_in_range() -> None:
    assert check_int("seed", 0, minimum=INT64_MIN, maximum=INT64_MAX) == 0
    assert check_int("seed", INT64_MAX, minimum=INT64_MIN, maximum=INT64_MAX) == INT64_MAX
    assert check_int("n", -5) == -5


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None])
def test_check_int_type_errors(value: object) -> None:
    with pytest.raises(TypeError) as info:
        check_int("seed", value)
    assert "seed" in str(info.value)
    assert "int" in str(info.value)


def test_check_int_range_errors() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_int("seed", INT64_MAX + 1, minimum=INT64_MIN, maximum=INT64_MAX)
    assert info.value.argument == "seed"
    assert str(INT64_MAX) in str(info.value)
    with pytest.raises(InvalidArgumentError, match=">= 1"):
        check_int("width_ratio", 0, minimum=1, maximum=None)


def test_check_float() -> None:
    assert check_float("w", 1) == 1.0
    assert type(check_float("w", 1)) is float
    assert check_float("w", -0.5, minimum=-1.0, maximum=1.0) == -0.5
    with pytest.raises(TypeError, match="w"):
        check_float("w", True)
    with pytest.raises(TypeError, match=r"^w must be a number, not str$"):
        check_float("w", "1.0")
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidArgumentError) as info:
            check_float("w", bad)
        assert info.value.argument == "w"
    with pytest.raises(InvalidArgumentError, match="<= 1"):
        check_float("w", 1.5, maximum=1.0)
    with pytest.raises(InvalidArgumentError, match=">= 0"):
        check_float("w", -0.1, minimum=0)


def test_check_str() -> None:
    assert check_str("text", "hi", min_length=1, max_length=500) == "hi"
    assert check_str("text", "я" * 500, max_length=500) == "я" * 500
    with pytest.raises(TypeError, match=r"text.*str"):
        check_str("text", b"hi")
    with pytest.raises(InvalidArgumentError) as info:
        check_str("text", "x" * 501, max_length=500)
    assert info.value.argument == "text"
    assert "500" in info.value.problem
    assert "501" in info.value.problem
    with pytest.raises(InvalidArgumentError, match="text: must not be empty"):
        check_str("text", "", min_length=1)
    with pytest.raises(InvalidArgumentError, match="at least 2 characters long, got 1"):
        check_str("text", "a", min_length=2)
    with pytest.raises(InvalidArgumentError, match="at most 1 character long, got 2"):
        check_str("text", "ab", max_length=1)


def test_check_bool() -> None:
    assert check_bool("flag", True) is True
    assert check_bool("flag", False) is False
    for bad in (0, 1, "true", None):
        with pytest.raises(TypeError, match=r"flag.*bool"):
            check_bool("flag", bad)

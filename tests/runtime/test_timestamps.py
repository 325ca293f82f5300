"""RFC 3339 timestamps read alike on Python 3.10 (whose fromisoformat refuses Z and nanoseconds)."""

from __future__ import annotations

import datetime

import pytest

from yandex_art._runtime.timestamps import parse_iso_datetime

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05.123456789Z", datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)),
        ("2026-01-02T03:04:05.1z", datetime.datetime(2026, 1, 2, 3, 4, 5, 100000, UTC)),
        ("2026-01-02T03:04:05Z", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            "2026-01-02T03:04:05.5+03:00",
            datetime.datetime(
                2026, 1, 2, 3, 4, 5, 500000, datetime.timezone(datetime.timedelta(hours=3))
            ),
        ),
        ("2026-01-02T03:04:05", datetime.datetime(2026, 1, 2, 3, 4, 5)),  # naive stays naive
    ],
)
def test_rfc3339_forms(text: str, expected: datetime.datetime) -> None:
    assert parse_iso_datetime(text) == expected
    assert parse_iso_datetime(text).tzinfo == expected.tzinfo


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_what_is_not_a_timestamp_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_datetime(text)

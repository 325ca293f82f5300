"""The field contract's one interpreter: every proto3 construct, as callers, the wire and JSON see it."""

from __future__ import annotations

import datetime
import enum
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

from yandex_art._runtime import fields
from yandex_art._runtime.errors import InvalidArgumentError
from yandex_art._runtime.fields import FieldRule
from yandex_art._runtime.undefined import UNDEFINED


def rule(name: str, kind: str, **kwargs: Any) -> FieldRule:
    return FieldRule(name=name, path=(name,), json_path=(name,), number=1, kind=kind, **kwargs)


STYLE = rule(
    "style", "enum", construct="enum", enum_values=(("STYLE_UNSPECIFIED", 0), ("PHOTO", 1))
)
REFS = rule("refs", "bytes", label="repeated")
LABELS = rule("labels", "string", label="map", map_key="string")
STEPS = rule("steps", "int64", construct="wrapper", presence=True, minimum=0, maximum=50)
AT = rule("at", "message", construct="timestamp", presence=True)
WITHIN = rule("within", "message", construct="duration", presence=True)
WIDTH = rule("width", "int64", oneof="size", presence=True)
PRESET = rule("preset", "string", oneof="size", presence=True)
OLD = rule("variants", "int64", deprecated=True)
SUB = rule(
    "layer",
    "message",
    construct="message",
    label="repeated",
    fields=(rule("name", "string"), rule("opacity", "double")),
)


class Style(enum.IntEnum):
    STYLE_UNSPECIFIED = 0
    PHOTO = 1


def test_each_construct_takes_its_python_shape() -> None:
    assert fields.check(STYLE, "PHOTO") == "PHOTO"
    assert fields.check(STYLE, Style.PHOTO) == "PHOTO"  # a generated enum member is fine too
    assert fields.check(REFS, [b"a", bytearray(b"b")]) == (b"a", b"b")
    assert fields.check(LABELS, {"team": "art"}) == {"team": "art"}
    assert fields.check(STEPS, 0) == 0  # a wrapper: 0 is a value
    moment = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
    assert fields.check(AT, moment) == moment
    assert fields.check(WITHIN, 1.5) == datetime.timedelta(seconds=1.5)
    assert fields.check(SUB, [{"name": "sky", "opacity": 1}]) == ({"name": "sky", "opacity": 1.0},)


@pytest.mark.parametrize(
    ("field", "value", "error", "words"),
    [
        (STYLE, "WATERCOLOR", InvalidArgumentError, "must be one of 'STYLE_UNSPECIFIED', 'PHOTO'"),
        (STYLE, 1, TypeError, "style must be one of"),
        (REFS, b"ab", TypeError, "refs must be a sequence"),  # not a sequence of ints
        (REFS, ["text"], TypeError, r"refs\[0\] must be bytes"),
        (LABELS, {"team": 5}, TypeError, r"labels\['team'\]"),
        (STEPS, 51, InvalidArgumentError, "must be <= 50"),
        (AT, datetime.datetime(2024, 1, 2), InvalidArgumentError, "timezone-aware"),
        (SUB, [{"nam": "sky"}], InvalidArgumentError, "unknown keys"),
    ],
)
def test_what_does_not_fit_is_refused_naming_the_field(
    field: FieldRule, value: object, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        fields.check(field, value)


def test_configured_refuses_two_oneof_members_and_a_later_member_replaces_the_first() -> None:
    rules = {r.name: r for r in (WIDTH, PRESET, OLD)}
    empty = SimpleNamespace(width=None, preset=None, variants=None)
    changes = {"width": 5, "preset": "square", "variants": UNDEFINED}
    with pytest.raises(InvalidArgumentError, match=r"width and preset .* oneof 'size'"):
        fields.configured(empty, changes, rules, stacklevel=1)
    first = SimpleNamespace(**fields.configured(empty, {"width": 5}, rules, stacklevel=1))
    assert first.width == 5
    second = fields.configured(first, {"preset": "square"}, rules, stacklevel=1)
    assert second == {"width": None, "preset": "square", "variants": None}


def test_a_deprecated_field_warns_only_when_given() -> None:
    rules = {OLD.name: OLD}
    empty = SimpleNamespace(variants=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fields.configured(empty, {"variants": UNDEFINED}, rules, stacklevel=1)
        fields.configured(empty, {"variants": None}, rules, stacklevel=1)
        assert not caught
        fields.configured(empty, {"variants": 2}, rules, stacklevel=1)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert "variants is deprecated" in str(caught[0].message)


def test_the_wire_checks_bounds_and_lets_unknown_enum_numbers_pass() -> None:
    text = rule("text", "string", max_length=3, required=True)
    fields.check_wire(text, "abc", "text")
    with pytest.raises(fields.WireError, match="text: is 4 characters long; at most 3"):
        fields.check_wire(text, "abcd", "text")
    with pytest.raises(fields.WireError, match="must not be empty"):
        fields.check_wire(text, "", "text")
    fields.check_wire(STYLE, 7, "style")  # proto3 enums are open
    with pytest.raises(fields.WireError, match=r"steps: must be at most 50"):
        fields.check_wire(STEPS, 51, "steps")


def test_json_reads_the_proto3_mapping() -> None:
    assert fields.from_json(STYLE, "PHOTO", "style") == "PHOTO"
    assert fields.from_json(STYLE, 7, "style") == 7
    assert fields.from_json(REFS, ["AAE="], "refs") == [b"\x00\x01"]
    assert fields.from_json(STEPS, "0", "steps") == 0
    assert fields.from_json(AT, "2024-01-02T00:00:00Z", "at") == datetime.datetime(
        2024, 1, 2, tzinfo=datetime.timezone.utc
    )
    assert fields.from_json(WITHIN, "1.500s", "within") == datetime.timedelta(seconds=1.5)
    assert fields.from_json(LABELS, {"a": "b"}, "labels") == {"a": "b"}
    with pytest.raises(fields.WireError, match="style: 'NOPE' is not a value"):
        fields.from_json(STYLE, "NOPE", "style")
    with pytest.raises(fields.WireError, match="within: must be a duration"):
        fields.from_json(WITHIN, 1.5, "within")


def test_text_reads_command_line_values() -> None:
    assert fields.from_text(LABELS, "team=art") == ("team", "art")
    assert fields.from_text(STEPS, "0") == 0
    assert fields.from_text(WITHIN, "1.5s") == datetime.timedelta(seconds=1.5)
    assert fields.from_text(REFS, "AAE=") == b"\x00\x01"
    with pytest.raises(ValueError, match="key=value"):
        fields.from_text(LABELS, "team")


def test_results_keep_enum_numbers_the_specs_do_not_know() -> None:
    assert fields.read(STYLE, Style.PHOTO) == "PHOTO"
    assert fields.read(STYLE, 9) == 9
    assert fields.read(REFS, [b"a"]) == (b"a",)

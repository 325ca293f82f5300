"""``cassette verify``: decode every recorded message with today's specs (the generated
messages) and report where the service's answers go beyond them.

Found: field numbers the specs lack (kept in the cassette's ``wire`` bytes),
JSON keys they lack, enum values they lack, ``Any`` values of types they lack,
answers whose type or JSON form contradicts them, and requests the emulator
would refuse (its validation is the specs' field contract). This is the
maintainer's early warning: the service changed before its protos were
published.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
from dataclasses import dataclass
from typing import Any

from grpclib.const import Status

from .._gen import image_generation_rules as RULES
from .._gen.proto.google.protobuf import Any as AnyMessage
from ..emulator.errors import EmulatorError
from ..emulator.rest import parse_request
from ..emulator.validation import validate_request
from .format import METHODS, Cassette, Recorded, message_type, type_name

__all__ = ["Finding", "verify"]

_WIRE_TYPES = {0: "varint", 1: "64-bit", 2: "length-delimited", 5: "32-bit"}
_INTEGERS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
             "sfixed32", "sfixed64"}  # fmt: skip
_FLOAT_WORDS = {"NaN", "Infinity", "-Infinity"}


@dataclass(frozen=True)
class Finding:
    """One place a recording goes beyond the specs."""

    interaction: int
    part: str  # "request" or "response"
    message: str  # full protobuf name of the message holding the field
    field: str  # path of the field within the recorded message
    problem: str

    def __str__(self) -> str:
        where = f"{self.message}.{self.field}" if self.field else self.message
        return f"interaction #{self.interaction} {self.part}: {where}: {self.problem}"


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data):
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
    raise ValueError("truncated varint")


def _field_numbers(data: bytes) -> list[tuple[int, str]]:
    """The (field number, wire type) of each field in raw protobuf bytes."""
    found, at = [], 0
    try:
        while at < len(data):
            tag, at = _varint(data, at)
            number, kind = tag >> 3, tag & 7
            found.append((number, _WIRE_TYPES.get(kind, f"wire type {kind}")))
            if kind == 0:
                _, at = _varint(data, at)
            elif kind == 1:
                at += 8
            elif kind == 2:
                length, at = _varint(data, at)
                at += length
            elif kind == 5:
                at += 4
            else:
                break
    except ValueError:
        found.append((0, "bytes that do not parse"))
    return found


class _Checker:
    def __init__(self, index: int, part: str, root: str) -> None:
        self.index, self.part, self.root = index, part, root
        self.found: list[Finding] = []

    def add(self, message: str, path: str, problem: str) -> None:
        self.found.append(Finding(self.index, self.part, message, path, problem))

    # -- the wire: field numbers the specs lack ------------------------------------------

    def wire(self, message: Any, path: str) -> None:
        name = type_name(type(message))
        for number, kind in _field_numbers(getattr(message, "_unknown_fields", b"") or b""):
            where = f"{path}.#{number}" if path else f"#{number}"
            self.add(name, where, f"field number {number} ({kind}) is not in the specs")
        if isinstance(message, AnyMessage):
            inner = message_type(message.type_url.rsplit("/", 1)[-1])
            if inner is None and message.type_url:
                self.add(name, path, f"type {message.type_url!r} is not in the specs")
            elif inner is not None and message.value:
                self.wire(inner.parse(message.value), path)
            return
        for item in dataclasses.fields(message):
            value = getattr(message, item.name)
            where = f"{path}.{_camel(item.name)}" if path else _camel(item.name)
            values = value if isinstance(value, list) else list(value.values()) if isinstance(
                value, dict) else [value]  # fmt: skip
            for one in values:
                if dataclasses.is_dataclass(one) and hasattr(type(one), "_betterproto"):
                    self.wire(one, where)

    # -- proto3 JSON: keys, types and enum values the specs lack --------------------------

    def json(self, cls: type[Any], value: Any, path: str) -> None:
        name = type_name(cls)
        if not isinstance(value, dict):
            self.add(name, path, f"must be a JSON object, got {type(value).__name__}")
            return
        if cls is AnyMessage:
            self._any(value, path)
            return
        meta = cls._betterproto
        by_json = {}
        for field_name, info in meta.meta_by_field_name.items():
            by_json[_camel(field_name)] = by_json[field_name] = (field_name, info)
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key not in by_json:
                self.add(name, where, "this JSON key is not a field in the specs")
                continue
            field_name, info = by_json[key]
            self._field(meta.cls_by_field[field_name], info, item, where, name)

    def _any(self, value: dict[str, Any], path: str) -> None:
        type_url = value.get("@type")
        inner = message_type(str(type_url).rsplit("/", 1)[-1]) if type_url else None
        if inner is None:
            self.add("google.protobuf.Any", path, f"type {type_url!r} is not in the specs")
            return
        self.json(inner, {k: v for k, v in value.items() if k != "@type"}, path)

    def _field(self, cls: Any, info: Any, value: Any, path: str, owner: str) -> None:
        if value is None:
            return
        if info.repeated or info.map_meta is not None:
            expected = dict if info.map_meta is not None else list
            if not isinstance(value, expected):
                self.add(owner, path, f"must be a JSON {expected.__name__}, got {value!r:.60}")
                return
            if info.map_meta is not None:
                return  # map values: no map field in these specs yet
            for index, item in enumerate(value):
                self._single(cls, info, item, f"{path}[{index}]", owner)
            return
        self._single(cls, info, value, path, owner)

    def _single(self, cls: Any, info: Any, value: Any, path: str, owner: str) -> None:
        kind = info.proto_type
        problem = None
        if cls in (datetime.datetime, datetime.timedelta):
            problem = None if isinstance(value, str) else "must be an RFC 3339 string"
        elif kind == "message":
            if info.unwrap is None:
                self.json(cls, value, path)
            return
        elif kind == "enum":
            known = set(cls.__members__) | {member.value for member in cls}
            if value not in known:
                self.add(owner, path, f"enum value {value!r} is not in the specs")
            return
        else:
            problem = _scalar_problem(kind, value)
        if problem:
            self.add(owner, path, f"{problem}, got {value!r:.60}")


def _scalar_problem(kind: str, value: Any) -> str | None:
    if kind == "string":
        return None if isinstance(value, str) else "must be a string"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "bytes":
        try:
            base64.b64decode(value, validate=False) if isinstance(value, str) else None
            return None if isinstance(value, str) else "must be base64 text"
        except (binascii.Error, ValueError):
            return "must be base64 text"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind in _INTEGERS:
        ok = (number and float(value).is_integer()) or (
            isinstance(value, str) and value.lstrip("-").isdigit()
        )
        return None if ok else f"must be an integer ({kind})"
    if kind in ("double", "float"):
        if number or value in _FLOAT_WORDS:
            return None
        try:
            float(value)
            return None if isinstance(value, str) else "must be a number"
        except (TypeError, ValueError):
            return "must be a number"
    return None


def _check_message(checker: _Checker, recorded: Recorded, expected: type[Any] | None) -> None:
    cls = message_type(recorded.type)
    if cls is None:
        checker.add(recorded.type, "", "this message type is not in the specs")
        return
    if expected is not None and cls is not expected:
        checker.add(recorded.type, "", f"the specs answer this method with {type_name(expected)}")
    if recorded.wire is not None:
        try:
            checker.wire(cls.parse(recorded.wire), "")
        except Exception as exc:
            checker.add(recorded.type, "", f"the recorded bytes do not parse ({exc})")
    checker.json(cls, recorded.message, "")


def _refusal(recorded: Recorded, method: str) -> str | None:
    """What the emulator says to a request of one of the image service's rpcs, or None."""
    rpc = next((r for r in RULES.RPCS if r.grpc_path == method), None)
    cls = message_type(recorded.type)
    if rpc is None or cls is None:
        return None
    try:  # read as the emulator reads a REST body, then checked as it checks every request
        message = parse_request(recorded.message, rpc=rpc, request_type=cls)
        validate_request(message, json_names=True, rpc=rpc)
    except EmulatorError as exc:
        return f"the emulator refuses this request ({Status(exc.status).name}: {exc.message})"
    return None


def verify(cassette: Cassette) -> list[Finding]:
    """Every place the cassette goes beyond today's specs (empty when it does not)."""
    found: list[Finding] = []
    for index, interaction in enumerate(cassette.interactions):
        types = METHODS.get(interaction.method)
        if types is None:
            found.append(Finding(index, "request", interaction.method, "", "no such method"))
            continue
        request = _Checker(index, "request", interaction.request.type)
        _check_message(request, interaction.request, types[0])
        refused = _refusal(interaction.request, interaction.method)
        if refused is not None:
            request.add(interaction.request.type, "", refused)
        found += request.found
        if interaction.response is not None:
            response = _Checker(index, "response", interaction.response.type)
            _check_message(response, interaction.response, types[1])
            found += response.found
    return found

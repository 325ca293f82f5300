"""The rules of the field contract: what the specs say about one field, and about one rpc.

Codegen writes a table of these (the ``*_rules.py`` modules of the generated
package); the other ``field_*`` modules interpret it. A rule is plain data:
nothing here checks or converts a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FLOATS", "INT_RANGES", "Construct", "FieldRule", "Label", "RpcRule", "key_rule"]

Construct = Literal["scalar", "enum", "message", "wrapper", "timestamp", "duration"]
Label = Literal["single", "repeated", "map"]

INT_RANGES: dict[str, tuple[int, int]] = {
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
"""The proto integer kinds and their inclusive ranges."""
FLOATS = ("double", "float")
"""The proto floating-point kinds."""


@dataclass(frozen=True)
class FieldRule:
    """One field of a request, as the specs state it."""

    name: str
    """Its Python name: the ``configure()`` parameter, dict key or CLI flag (dashes)."""
    path: tuple[str, ...]
    """Proto field names from the message that owns the table down to this field."""
    json_path: tuple[str, ...]
    """The same path in proto3 JSON (lowerCamelCase) names."""
    number: int
    """The field number on the wire."""
    kind: str
    """Proto type of one value: a scalar name (``int64``, ``string``, ...), ``enum`` or
    ``message``; for a wrapper, the scalar it wraps."""
    construct: Construct = "scalar"
    """How the value is written: a plain scalar, an enum, a message, a wrapper
    (``google.protobuf.Int64Value`` ...), a Timestamp or a Duration."""
    label: Label = "single"
    map_key: str | None = None
    """The proto type of a map's keys (``label == "map"``)."""
    enum_values: tuple[tuple[str, int], ...] = ()
    """Names and numbers of an enum, in declaration order."""
    oneof: str | None = None
    """The oneof group the field belongs to: at most one member is set."""
    presence: bool = False
    """The wire tells "not set" from a zero value (proto3 ``optional``, wrappers, messages)."""
    deprecated: bool = False
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: bool = False
    """A zero value is refused (``yandex.cloud.required``)."""
    default: Any = None
    """What a zero or missing value means, when the service documents it."""
    fields: tuple[FieldRule, ...] = ()
    """The fields of a message value (``construct == "message"``)."""
    message: str = ""
    """Full proto name of a message value's type."""
    doc: str = ""

    @property
    def py_type(self) -> str:
        """The Python type of one value: ``str``, ``int``, ``float``, ``bool``, ``bytes``,
        ``datetime``, ``timedelta`` or ``dict``; an enum value is its name, a ``str``."""
        if self.construct == "timestamp":
            return "datetime"
        if self.construct == "duration":
            return "timedelta"
        if self.construct == "message":
            return "dict"
        if self.construct == "enum":
            return "str"
        return _scalar_type(self.kind)

    @property
    def enum_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.enum_values)


def key_rule(rule: FieldRule) -> FieldRule:
    """The rule of a map field's keys (a plain scalar of ``map_key``'s type)."""
    return FieldRule(name="key", path=(), json_path=(), number=1, kind=rule.map_key or "")


def _scalar_type(kind: str) -> str:
    if kind in INT_RANGES:
        return "int"
    if kind in FLOATS:
        return "float"
    return {"string": "str", "bool": "bool", "bytes": "bytes"}.get(kind, kind)


@dataclass(frozen=True)
class RpcRule:
    """One rpc of a model's service, as a model method and as the emulator serves it."""

    name: str
    """The rpc's name in the specs (``Generate``)."""
    method: str
    """The model method that calls it (``run_deferred``, ``generate_sync``, ``edit_deferred``)."""
    grpc_path: str
    http_method: str | None
    http_path: str | None
    deferred: bool
    """It starts an operation; the operation ends with ``result_type``."""
    request_type: str
    result_type: str
    takes_messages: bool
    takes_options: bool
    uri_field: str | None
    params: tuple[FieldRule, ...] = ()
    """Request fields beside the model URI, the prompt messages and the options."""

    @property
    def result_type_url(self) -> str:
        return f"type.googleapis.com/{self.result_type}"

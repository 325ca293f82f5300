"""Messages between the wire and the cassette: proto3 JSON, wire bytes, headers kept.

Proto3 JSON cannot carry field numbers the specs do not know: when the JSON of
a decoded message does not encode back to the bytes received, the bytes are
kept too (``Recorded.wire``), so ``cassette verify`` can name those fields and
replay sends exactly what was recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .format import Recorded, message_type, type_name

__all__ = ["KEPT_HEADERS", "decode", "encode", "is_credential", "kept_headers", "to_json"]

KEPT_HEADERS = frozenset(
    {
        "x-client-request-id",
        "idempotency-key",
        "x-data-logging-enabled",
        "x-request-id",
        "x-server-trace-id",
    }
)
"""The headers a cassette keeps (request ids, idempotency key, data logging): an allow list,
so a credential under a name nobody thought of never lands in a file."""

_CREDENTIAL_MARKS = ("authorization", "api-key", "apikey", "token", "cookie", "secret", "password")


def is_credential(name: str) -> bool:
    """Whether a header name looks like it carries a credential (checked again, on top of the
    allow list, so that widening :data:`KEPT_HEADERS` can never let one through)."""
    lowered = name.lower()
    return any(mark in lowered for mark in _CREDENTIAL_MARKS)


def kept_headers(headers: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """The headers worth recording, lower-cased; never a credential."""
    kept = {}
    for name, value in headers:
        key = name.lower()
        if key in KEPT_HEADERS and not is_credential(key) and isinstance(value, str):
            kept[key] = value
    return dict(sorted(kept.items()))


def to_json(message: Any) -> Any:
    """The proto3 JSON of a generated message (int64 as strings, bytes as base64)."""
    return message.to_dict()


def decode(cls: type[Any], raw: bytes) -> Recorded:
    """A message received on the wire, as the cassette keeps it."""
    name = type_name(cls)
    try:
        message = cls.parse(raw)
    except Exception:  # not this type at all: keep the bytes, verify reports it
        return Recorded(type=name, message={}, wire=raw)
    try:
        data = to_json(message)
        same = bytes(cls.from_dict(data)) == raw
    except Exception:  # e.g. an Any of a type the specs lack: proto3 JSON cannot hold it
        data, same = {}, False
    return Recorded(type=name, message=data, wire=None if same else raw)


def encode(recorded: Recorded) -> bytes:
    """The wire bytes of a recorded message: the recorded bytes when kept, else its JSON
    encoded with today's specs."""
    if recorded.wire is not None:
        return recorded.wire
    cls = message_type(recorded.type)
    if cls is None:
        raise ValueError(f"the specs have no message {recorded.type}")
    return bytes(cls.from_dict(recorded.message))

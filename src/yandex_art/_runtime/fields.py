"""The field contract: one description of a request field, read by everything that handles one.

Codegen writes a table of :class:`FieldRule` objects from the specs (the
``*_rules.py`` modules of the generated package). The ``field_*`` modules are
the one interpreter of a rule, one concern each; this module is their one
door, the names the generated code, the emulator and the CLI import:

- ``field_rules``: :class:`FieldRule` and :class:`RpcRule`, the rules themselves;
- ``field_check``: :func:`check` takes what a caller passed to ``configure()``
  (or a method of a model), refuses a wrong type or value before anything is
  sent, and returns the value in one canonical Python shape;
  :func:`configured` and :func:`request_values` apply it to a whole call;
- ``field_messages``: :func:`build` and :func:`to_message` turn canonical
  values into a betterproto2 message, :func:`read` a received one back;
- ``field_wire``: :func:`check_wire` checks a value read from a received
  message the way the service does (the emulator), and :func:`is_zero`, the
  proto3 test of "not set" behind it;
- ``field_json``: :func:`from_json` reads a value from the proto3 JSON
  mapping (the emulator's REST face);
- ``field_text``: :func:`from_text` reads one command-line value (the CLI).

The Python shapes follow what users of the official SDK expect: plain
scalars, enum values by name, ``datetime``/``timedelta`` for Timestamp and
Duration, sequences for repeated fields, mappings for maps, and dicts for
message values that cannot be flattened into keyword arguments.
"""

from __future__ import annotations

from .field_check import check, check_oneofs, configured, request_values, warn_deprecated
from .field_json import (
    describe_json,
    from_json,
    json_double,
    json_integer,
    json_scalar,
    message_from_json,
)
from .field_messages import build, read, to_message
from .field_rules import Construct, FieldRule, Label, RpcRule
from .field_text import from_text
from .field_wire import WireError, check_wire, is_zero

__all__ = [
    "Construct",
    "FieldRule",
    "Label",
    "RpcRule",
    "WireError",
    "build",
    "check",
    "check_oneofs",
    "check_wire",
    "configured",
    "describe_json",
    "from_json",
    "from_text",
    "is_zero",
    "json_double",
    "json_integer",
    "json_scalar",
    "message_from_json",
    "read",
    "request_values",
    "to_message",
    "warn_deprecated",
]

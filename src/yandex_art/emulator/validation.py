"""A generation request checked as the service checks it, by the field contract of the specs.

:func:`validate_request` reads a received request (a betterproto2 message, from
either protocol) in named steps: the model URI, the prompt messages, the rpc's
own fields, the generation options with their documented defaults, and the
MIME type the emulator can draw. Errors are INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from .._gen import image_generation_rules as RULES
from .._runtime import fields
from .errors import invalid, short
from .images import SUPPORTED_MIME_TYPES

__all__ = ["DEFAULT_MIME_TYPE", "GenerationParams", "validate_request"]

DEFAULT_MIME_TYPE = "image/jpeg"


@dataclass(frozen=True)
class GenerationParams:
    """A checked generation request."""

    texts: tuple[str, ...]
    seed: int
    width_ratio: int
    height_ratio: int
    mime_type: str
    folder_id: str
    model: str
    version: str
    options: tuple[tuple[str, Any], ...] = ()
    """Every option of the rules table, after defaults (new spec fields included)."""


@dataclass(frozen=True)
class _ModelUri:
    """The parts of ``art://<folder_id>/<model>/<version>``."""

    folder_id: str
    model: str = ""
    version: str = ""


@dataclass(frozen=True)
class _Names:
    """How errors name fields: by proto names, or by JSON names for a REST request."""

    json_names: bool

    def field(self, names: tuple[str, str]) -> str:
        """One of a rules table's ``(proto name, JSON name)`` pairs."""
        return names[1] if self.json_names else names[0]

    def rule(self, rule: fields.FieldRule, prefix: str = "") -> str:
        """The path of ``rule``'s field, under ``prefix`` when it is not top-level."""
        path = ".".join(rule.json_path if self.json_names else rule.path)
        return f"{prefix}.{path}" if prefix else path


def validate_request(
    request: Any,
    *,
    json_names: bool = False,
    folder_id: str | None = None,
    rules: Any = RULES,
    rpc: fields.RpcRule | None = None,
) -> GenerationParams:
    """Check a request as the service does, by the field contract codegen derives from the specs.

    Only what the service documents is refused (the 500-character prompt, a
    model URI it can route); a field at its zero value takes its documented
    default (0 or a missing side of the aspect ratio means 1). Errors name the
    field, with proto or JSON names. ``rules`` is the generated table
    (``yandex_art._gen.image_generation_rules``); tests pass one made from
    modified specs. ``rpc`` is the rpc of that table the request came to
    (the main one by default); its own fields are checked by their rules too.
    """
    rpc = rpc if rpc is not None else rules.RPCS[0]
    names = _Names(json_names)
    uri = _model_uri(request, rpc, rules, names, folder_id)
    texts = _prompt_texts(request, rpc, rules, names)
    values = _rpc_values(request, rpc, names)
    values.update(_option_values(request, rpc, rules, names))  # an option wins a shared name
    mime_type = _mime_type(values, rules, names)
    return GenerationParams(
        texts=texts,
        seed=_int_or(values.get("seed"), 0),
        width_ratio=_int_or(values.get("width_ratio"), 1),
        height_ratio=_int_or(values.get("height_ratio"), 1),
        mime_type=mime_type,
        folder_id=uri.folder_id,
        model=uri.model,
        version=uri.version,
        options=tuple(sorted(values.items())),
    )


def _model_uri(
    request: Any, rpc: fields.RpcRule, rules: Any, names: _Names, folder_id: str | None
) -> _ModelUri:
    """The model URI, required by an rpc that takes one, in a folder this emulator serves."""
    if rpc.uri_field is None:
        return _ModelUri(folder_id or "")
    uri_name = names.field(rules.MODEL_URI)
    uri = _read(request, (rpc.uri_field,))
    if not uri:
        raise invalid(
            uri_name, f"is required, e.g. {rules.URI_SCHEME}://<folder_id>/yandex-art/latest"
        )
    scheme = re.escape(rules.URI_SCHEME)
    match = re.fullmatch(rf"{scheme}://([^/\s]+)/([^/\s]+)/([^/\s]+)", uri)
    if match is None:
        raise invalid(
            uri_name,
            f"must look like {rules.URI_SCHEME}://<folder_id>/<model>/<version>, got {short(uri)}",
        )
    folder, model, version = match.groups()
    if folder_id is not None and folder != folder_id:
        raise invalid(
            uri_name, f"folder {short(folder)} is not served here; use folder {folder_id!r}"
        )
    return _ModelUri(folder, model, version)


def _prompt_texts(request: Any, rpc: fields.RpcRule, rules: Any, names: _Names) -> tuple[str, ...]:
    """The text of each prompt message (at least one), every message field checked."""
    if not rpc.takes_messages:
        return ()
    messages_name = names.field(rules.MESSAGES)
    messages = _read(request, (rules.MESSAGES[0],)) or []
    if not messages:
        raise invalid(messages_name, "at least one message is required")
    text_rule = next(r for r in rules.MESSAGE_RULES if r.required and r.kind == "string")
    texts = []
    for index, message in enumerate(messages):
        for rule in rules.MESSAGE_RULES:
            where = names.rule(rule, f"{messages_name}[{index}]")
            _check(rule, _read(message, rule.path), where)
        texts.append(_read(message, text_rule.path))
    return tuple(texts)


def _rpc_values(request: Any, rpc: fields.RpcRule, names: _Names) -> dict[str, Any]:
    """The rpc's own fields (beside the URI, messages and options), checked, by rule name."""
    values: dict[str, Any] = {}
    for rule in rpc.params:
        value = _read(request, rule.path)
        _check(rule, value, names.rule(rule))
        values[rule.name] = _plain(value)
    return values


def _option_values(request: Any, rpc: fields.RpcRule, rules: Any, names: _Names) -> dict[str, Any]:
    """Every generation option, checked, a zero or missing one replaced by its default."""
    if not rpc.takes_options:
        return {}
    options_name = names.field(rules.OPTIONS)
    options = _read(request, (rules.OPTIONS[0],))
    values: dict[str, Any] = {}
    for rule in rules.OPTION_RULES:
        value = _read(options, rule.path)
        _check(rule, value, names.rule(rule, options_name))
        # WHY the field contract's zero test: in proto3 a zero value is "not set", and a
        # rule's default is what the service documents "not set" to mean (a 0 ratio is 1).
        if (value is None or fields.is_zero(value)) and rule.default is not None:
            value = rule.default
        values[rule.name] = _plain(value)
    return values


def _mime_type(values: dict[str, Any], rules: Any, names: _Names) -> str:
    """The MIME type asked for (JPEG when none), refused unless the emulator can draw it."""
    mime_type: str = values.get("mime_type") or DEFAULT_MIME_TYPE
    if mime_type not in SUPPORTED_MIME_TYPES:
        rule = next(r for r in rules.OPTION_RULES if r.name == "mime_type")
        raise invalid(
            names.rule(rule, names.field(rules.OPTIONS)),
            f"the emulator draws only {' or '.join(SUPPORTED_MIME_TYPES)}, not {short(mime_type)}",
        )
    return mime_type


def _read(message: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` (proto names), or None when a message on the way is not set."""
    value = message
    for part in path:
        if value is None:
            return None
        value = getattr(value, part)
    return value


def _check(rule: fields.FieldRule, value: Any, where: str) -> None:
    """Check one received value by its rule from the specs (the SDK's own field contract)."""
    try:
        fields.check_wire(rule, value, where)
    except fields.WireError as exc:
        raise invalid(exc.where, exc.problem) from None


def _plain(value: Any) -> Any:
    """A received value as plain, comparable data (enum members by name, lists as tuples)."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, list | tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _plain(item)) for key, item in value.items()))
    return value


def _int_or(value: Any, default: int) -> int:
    """An option the emulator draws with, when the specs still have it as an integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value else default

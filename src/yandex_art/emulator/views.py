"""What the wire shows of an operation and of its result, whichever protocol carries it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from .._gen import image_generation_rules as RULES
from .state import Record

__all__ = [
    "DESCRIPTION",
    "RESPONSE_TYPE_URL",
    "OperationView",
    "ResultView",
    "result_json",
    "result_values",
    "view_of",
]

RESPONSE_TYPE_URL = RULES.RESULT_TYPE_URL
DESCRIPTION = "Async image generation"


@dataclass(frozen=True)
class ResultView:
    """The ``response`` Any of a finished operation."""

    type_url: str
    image: bytes = b""
    model_version: str = ""


@dataclass(frozen=True)
class OperationView:
    """An operation as the wire shows it."""

    id: str
    description: str
    created_at: float
    created_by: str
    modified_at: float
    done: bool
    error: tuple[int, str] | None = None
    response: ResultView | None = None


def view_of(record: Record) -> OperationView:
    """The operation of ``record`` as the wire shows it now."""
    error: tuple[int, str] | None = None
    response: ResultView | None = None
    if record.done:
        if record.outcome == "error":
            error = (record.error_code, record.error_message)
        elif record.outcome == "image":
            response = ResultView(RESPONSE_TYPE_URL, record.image or b"", record.model_version)
        elif record.outcome == "wrong_type":
            response = ResultView(record.type_url)
    return OperationView(
        id=record.id,
        description=DESCRIPTION,
        created_at=record.created_at,
        created_by=record.created_by,
        modified_at=record.modified_at,
        done=record.done,
        error=error,
        response=response,
    )


def result_values(image: bytes, model_version: str) -> dict[str, Any]:
    """The result message's fields the emulator fills, by proto name: its bytes field (the
    image) and, when the specs have it, ``model_version``."""
    values: dict[str, Any] = {}
    for rule in RULES.RESULT_RULES:
        if rule.kind == "bytes" and rule.label == "single" and image:
            values[rule.path[-1]] = image
        elif rule.path[-1] == "model_version" and model_version:
            values[rule.path[-1]] = model_version
    return values


def result_json(image: bytes, model_version: str) -> dict[str, Any]:
    """The same fields in the proto3 JSON mapping (camelCase names, base64 bytes)."""
    names = {rule.path[-1]: rule.json_path[-1] for rule in RULES.RESULT_RULES}
    out: dict[str, Any] = {}
    for name, value in result_values(image, model_version).items():
        text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        out[names[name]] = text
    return out

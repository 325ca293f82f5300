"""What every REST transport shares: schema errors as SDK errors, and ``Any`` values
of unknown types kept by their type URL (no generated or pydantic import here)."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, Protocol, TypeVar

from .errors import InvalidArgumentError, TransportError

__all__ = ["AnyType", "invalid_answer", "invalid_request", "pop_unknown_any", "restore_any"]

A = TypeVar("A", covariant=True)


class SchemaError(Protocol):  # a pydantic ValidationError, as far as it is read here
    def errors(self) -> Any: ...


class AnyType(Protocol[A]):  # the generated google.protobuf.Any class
    def __call__(self, *, type_url: str) -> A: ...

    def from_dict(self, value: Mapping[str, Any]) -> A: ...


def _where(exc: SchemaError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    loc = ".".join(str(p) for p in first.get("loc", ()))
    return f"{loc}: {first.get('msg', str(exc))}" if loc else str(first.get("msg", exc))


def invalid_request(exc: SchemaError) -> InvalidArgumentError:
    """A request the REST schema rejects, reported before anything is sent."""
    where, _, problem = _where(exc).partition(": ")
    return InvalidArgumentError(f"request.{where}", problem or where)


def invalid_answer(exc: SchemaError, endpoint: str, method: str) -> TransportError:
    """An answer that does not match the OpenAPI document."""
    return TransportError(
        f"the answer does not match the API schema ({_where(exc)})",
        code="INVALID_ANSWER",
        endpoint=endpoint,
        method=method,
    )


def pop_unknown_any(
    node: dict[str, Any], key: str, repeated: bool, any_type: AnyType[A], known: Container[str]
) -> list[A]:
    """Takes out ``node[key]`` when it holds an Any of a type URL not ``known``: its values,
    known ones decoded, unknown ones kept by type URL (else ``[]``, ``node`` untouched)."""
    value = node.get(key)
    items = value if repeated and isinstance(value, list) else [value]
    if not any(isinstance(v, dict) and v.get("@type") not in known for v in items):
        return []
    del node[key]
    out = []
    for v in items:
        if not isinstance(v, dict):
            continue
        type_url = str(v.get("@type", ""))
        out.append(any_type.from_dict(v) if type_url in known else any_type(type_url=type_url))
    return out


def restore_any(message: Any, attrs: tuple[str, ...], values: list[Any]) -> None:
    """Puts values taken out by :func:`pop_unknown_any` back at ``attrs`` of the decoded message."""
    if not values:
        return
    target = message
    for attr in attrs[:-1]:
        target = getattr(target, attr)
        if target is None:
            return
    current = getattr(target, attrs[-1])
    setattr(target, attrs[-1], values if isinstance(current, list) else values[0])

"""Checks that the OpenAPI document and the protos describe the same API.

Every rpc with a ``google.api.http`` rule must have its OpenAPI operation
(same method and path), and the request body and answer schemas must have
the proto fields, in lowerCamelCase, with the same types and numbers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from . import schema, tools
from .tools import CodegenError

# JSON types a proto scalar may take in the proto3 JSON mapping.
_JSON_TYPES = {
    "string": {"string"},
    "bytes": {"string"},
    "bool": {"boolean"},
    "double": {"number", "string"},
    "float": {"number", "string"},
    "int32": {"integer"},
    "uint32": {"integer"},
    "int64": {"string", "integer"},
    "uint64": {"string", "integer"},
}


# Marks a disagreement in the annotations only (x-proto-*, operationId): no value travels
# differently because of it, so --no-strict may turn it into a warning.
ANNOTATION = " (annotation)"


class SpecMismatch(CodegenError, ValueError):
    """The two specs disagree; ``wire`` when a value would travel on one transport only."""

    def __init__(self, message: str, *, wire: bool = True) -> None:
        super().__init__(message)
        self.wire = wire


def _deref(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    if "allOf" in node and len(node["allOf"]) == 1:
        return _deref(doc, node["allOf"][0])
    return node


def _json_types(doc: dict[str, Any], prop: dict[str, Any]) -> set[str]:
    node = _deref(doc, prop)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return set().union(*(_json_types(doc, n) for n in node[key]))
    return {node["type"]} if "type" in node else set()


def _compare(
    api: schema.Api,
    doc: dict[str, Any],
    node: dict[str, Any],
    full_name: str,
    where: str,
    seen: set[str],
    errors: list[str],
) -> None:
    node = _deref(doc, node)
    if node.get("x-proto-message") != full_name:
        errors.append(
            f"{where}: schema is for {node.get('x-proto-message')!r}, proto has {full_name}"
        )
        return
    if full_name in seen or full_name.startswith("google.protobuf."):
        return  # well-known types have their own JSON forms
    seen.add(full_name)
    message = api.message(full_name)
    props: dict[str, Any] = node.get("properties", {})
    expected = {f.json_name: f for f in message.fields}
    for missing in sorted(set(expected) - set(props)):
        errors.append(
            f"{where}: field {full_name}.{expected[missing].name} has no property {missing!r}"
        )
    for extra in sorted(set(props) - set(expected)):
        errors.append(f"{where}: property {extra!r} is not a field of {full_name}")
    for name in sorted(set(expected) & set(props)):
        f, prop = expected[name], props[name]
        at = f"{where}.{name}"
        if prop.get("x-proto-number") not in (None, f.number):
            errors.append(
                f"{at}: number {prop.get('x-proto-number')} != proto {f.number}" + ANNOTATION
            )
        item = prop
        if f.map:  # a JSON object; its values are checked as the entry's value field
            node = _deref(doc, prop)
            if node.get("type") != "object" or not isinstance(
                node.get("additionalProperties"), dict
            ):
                errors.append(f"{at}: map field is not an object with additionalProperties")
                continue
            f = api.message(f.type_name).field("value")
            item = node["additionalProperties"]
            prop = {**item, "x-proto-type": prop.get("x-proto-type", f.kind)}
        elif f.repeated:
            if _deref(doc, prop).get("type") != "array":
                errors.append(f"{at}: repeated field is not an array")
                continue
            item = _deref(doc, prop)["items"]
        if f.is_message:
            declared = prop.get("x-proto-message") or _deref(doc, item).get("x-proto-message")
            if declared != f.type_name:
                errors.append(f"{at}: message type {declared!r} != proto {f.type_name}")
            elif not f.type_name.startswith("google.protobuf."):
                _compare(api, doc, item, f.type_name, at, seen, errors)
        else:
            if " body" in where:  # what a client sends; answers are read leniently
                _compare_bounds(doc, f, item, at, errors)
            if prop.get("x-proto-type") != f.kind:
                errors.append(
                    f"{at}: x-proto-type {prop.get('x-proto-type')!r} != proto {f.kind}"
                    + ANNOTATION
                )
            got = _json_types(doc, item)
            allowed = _JSON_TYPES.get(f.kind, got)
            # the natural JSON type is required; the string form is optional for floats
            natural = allowed - {"string"} if f.kind in ("double", "float") else allowed
            if not (natural <= got <= allowed):
                errors.append(
                    f"{at}: JSON types {sorted(got)} do not fit {sorted(allowed)} for {f.kind}"
                )


def _compare_bounds(
    doc: dict[str, Any], f: schema.Field, prop: dict[str, Any], at: str, errors: list[str]
) -> None:
    """A string's length limits must be the same on both transports: the SDK and the emulator
    read the protos, REST models read the OpenAPI document."""
    if f.kind != "string":
        return
    from .surface import _bounds  # the option mini language has one parser

    low, high = _bounds(f.options.get("yandex.cloud.length"))
    if f.options.get("yandex.cloud.required"):
        low = max(low or 0, 1)
    node = _deref(doc, prop)
    stated = (node.get("minLength"), node.get("maxLength"))
    if (low, high) != stated and not (low is None and stated[0] == 0):
        errors.append(
            f"{at}: length limits differ: protos {low!r}..{high!r}, OpenAPI "
            f"{stated[0]!r}..{stated[1]!r} (see specs/upstream-differences.yaml)"
        )


def check(api: schema.Api, openapi: Path) -> None:
    """Raises SpecMismatch listing every disagreement."""
    doc = tools.load_yaml(openapi.read_text())
    errors: list[str] = []
    seen_ops: set[tuple[str, str]] = set()
    for svc in api.services.values():
        for rpc in svc.rpcs:
            if rpc.http is None:
                continue
            where = f"{svc.name}.{rpc.name}"
            op = doc.get("paths", {}).get(rpc.http.path, {}).get(rpc.http.method.lower())
            if op is None:
                errors.append(f"{where}: no OpenAPI operation {rpc.http.method} {rpc.http.path}")
                continue
            seen_ops.add((rpc.http.method.lower(), rpc.http.path))
            if op.get("operationId") != f"{svc.name}_{rpc.name}":
                errors.append(f"{where}: operationId {op.get('operationId')!r}" + ANNOTATION)
            request = api.message(rpc.input_type)
            params = {
                (_deref(doc, p)["in"], _deref(doc, p)["name"]) for p in op.get("parameters", [])
            }
            for name in rpc.http.path_params:
                if ("path", name) not in params:
                    errors.append(f"{where}: path parameter {name!r} is not declared")
                request.field(name)
            if rpc.http.body == "*":
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
                if "schema" not in body:
                    errors.append(f"{where}: no JSON request body")
                else:
                    _compare(
                        api, doc, body["schema"], request.full_name, f"{where} body", set(), errors
                    )
            answer = op.get("responses", {}).get("200")
            if answer is None:
                errors.append(f"{where}: no 200 answer")
                continue
            content = _deref(doc, answer).get("content", {}).get("application/json", {})
            _compare(
                api,
                doc,
                content.get("schema", {}),
                rpc.output_type,
                f"{where} answer",
                set(),
                errors,
            )
            if rpc.operation_response and op.get("x-proto-operation-response") not in (
                None,
                rpc.operation_response,
            ):
                errors.append(f"{where}: operation response type differs" + ANNOTATION)
    for path, ops in doc.get("paths", {}).items():
        for method in ops:
            if (
                method in ("get", "post", "put", "patch", "delete")
                and (method, path) not in seen_ops
            ):
                errors.append(f"OpenAPI {method.upper()} {path} has no rpc in the protos")
    if errors:
        wire = any(not error.endswith(ANNOTATION) for error in errors)
        raise SpecMismatch("specs disagree:\n  " + "\n  ".join(errors), wire=wire)


def _default_value(kind: str, value: Any, where: str) -> Any:
    """An OpenAPI ``default`` as the Python value of a proto scalar."""
    if kind in schema.INT_RANGES:
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecMismatch(f"{where}: default {value!r} is not an integer")
        lo, hi = schema.INT_RANGES[kind]
        if not lo <= value <= hi:
            raise SpecMismatch(f"{where}: default {value!r} is out of the {kind} range")
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecMismatch(f"{where}: default {value!r} is not a number")
        return float(value)
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    raise SpecMismatch(f"{where}: a default of {value!r} does not fit a {kind} field")


def with_defaults(api: schema.Api, openapi: Path) -> schema.Api:
    """The API with each field's documented default, read from the OpenAPI ``default`` keyword.

    The protos have no standard place for a default (proto3 fields default to
    zero); the OpenAPI schema does, so a default the service documents (1 for
    each side of the aspect ratio) is stated there, next to its source.
    """
    doc = tools.load_yaml(openapi.read_text())
    found: dict[tuple[str, str], Any] = {}
    for name, node in doc.get("components", {}).get("schemas", {}).items():
        message = node.get("x-proto-message")
        for prop, spec in (node.get("properties") or {}).items():
            if message and isinstance(spec, dict) and "default" in spec:
                found[(message, prop)] = (spec["default"], f"OpenAPI {name}.{prop}")
    messages = dict(api.messages)
    for (full_name, prop), (value, where) in sorted(found.items()):
        if full_name not in messages:
            raise SpecMismatch(f"{where}: {full_name} is not a message of the protos")
        message = messages[full_name]
        fields = []
        matched = False
        for f in message.fields:
            if f.json_name == prop:
                matched = True
                f = dataclasses.replace(f, default=_default_value(f.kind, value, where))
            fields.append(f)
        if not matched:
            raise SpecMismatch(f"{where}: {full_name} has no field {prop!r}")
        messages[full_name] = dataclasses.replace(message, fields=tuple(fields))
    return dataclasses.replace(api, messages=messages)

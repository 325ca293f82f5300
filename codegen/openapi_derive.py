"""The OpenAPI changes that follow from a change of the protos (proto3 JSON mapping).

:func:`update` compares the descriptor sets before and after a change of
specs/ and edits the OpenAPI document accordingly:

- each schema bound to a proto message (``x-proto-message``) gets a property
  for a new field, loses the property of a removed field, and has a changed
  field's property derived again (its ``description`` and ``example(s)`` kept);
  a property whose field did not change is left exactly as written;
- a message that a new field refers to gets a new schema; the schema of a
  message the protos no longer have is removed;
- a new ``google.api.http`` rule gets a new operation (``operationId``
  ``<Service>_<Rpc>``), a removed one loses its operation, a moved one moves.

The JSON forms: property names in lowerCamelCase (the field's ``json_name``);
64-bit integers as integer or decimal string; floats as number or string;
``bytes`` as base64 strings; enums as their value names; repeated fields as
arrays; maps as objects; ``Timestamp`` as an RFC 3339 string, ``Duration`` as
``"1.5s"``, wrappers as their wrapped value, ``Any`` as an object with ``@type``.
The document is written only when something changed, as YAML with its keys
in their existing order (new keys last), so the output is deterministic.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pb2

from . import protodiff, schema, tools

FDP = descriptor_pb2.FieldDescriptorProto

# proto type -> the kind name codegen's schema uses (x-proto-type)
KINDS = {
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_FLOAT: "float",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_UINT32: "uint32",
    FDP.TYPE_SINT64: "int64",
    FDP.TYPE_SINT32: "int32",
    FDP.TYPE_FIXED64: "uint64",
    FDP.TYPE_FIXED32: "uint32",
    FDP.TYPE_SFIXED64: "int64",
    FDP.TYPE_SFIXED32: "int32",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_ENUM: "enum",
}
_INT64 = {
    "anyOf": [
        {"type": "integer", "format": "int64"},
        {
            "type": "string",
            "format": "int64",
            "description": 'Decimal digits with an optional leading minus, e.g. "1863".',
        },
    ]
}
_FLOAT = {"anyOf": [{"type": "number", "format": "double"}, {"type": "string"}]}
SCALAR_JSON: dict[str, dict[str, Any]] = {
    "double": _FLOAT,
    "float": _FLOAT,
    "int64": _INT64,
    "uint64": _INT64,
    "int32": {"type": "integer", "format": "int32"},
    "uint32": {"type": "integer", "format": "int32"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "bytes": {"type": "string", "format": "byte"},
}
WRAPPERS = schema.WRAPPERS
WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Value": {},
    "google.protobuf.Empty": {"type": "object"},
}
_HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# keys of a property written by hand that survive when the field is derived again
_KEPT = ("description", "example", "examples")
# ... and those that survive when its JSON type stays the same
_KEPT_SAME_TYPE = ("minLength", "maxLength", "pattern", "minItems", "maxItems", "default")


@dataclass(frozen=True)
class _Message:
    proto: descriptor_pb2.DescriptorProto
    comment: str
    field_comments: dict[str, str]


class _Protos:
    """Messages, enums and http rules of a descriptor set, by full name."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, _Message] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.rpcs: list[tuple[str, str, Any, str]] = []  # service full name, rpc, proto, comment
        reader = protodiff.OptionReader(fds)
        self.reader = reader
        self.http: dict[tuple[str, str], dict[str, str]] = {}
        self.op_response: dict[tuple[str, str], str] = {}
        for f in fds.file:
            comments = {
                tuple(loc.path): loc.leading_comments.strip()
                for loc in f.source_code_info.location
                if loc.leading_comments.strip()
            }
            for el in protodiff.elements(f):
                if el.kind == "message":
                    fields = {
                        fld.name: comments.get((*el.path, 2, i), "")
                        for i, fld in enumerate(el.proto.field)
                    }
                    self.messages[el.full_name] = _Message(
                        el.proto, comments.get(el.path, ""), fields
                    )
                elif el.kind == "enum":
                    self.enums[el.full_name] = el.proto
                elif el.kind == "method":
                    service = el.full_name.rsplit(".", 1)[0]
                    self.rpcs.append((service, el.proto.name, el.proto, comments.get(el.path, "")))
                    options = reader.read_messages(el.proto.options)
                    rule = options.get("[google.api.http]")
                    if rule is not None:
                        self.http[(service, el.proto.name)] = _rule(rule)
                    op = options.get("[yandex.cloud.api.operation]")
                    if op is not None and op.response:
                        response = op.response
                        if "." not in response:
                            response = f"{f.package}.{response}"
                        self.op_response[(service, el.proto.name)] = response


def _rule(rule: Any) -> dict[str, str]:
    for method in _HTTP_METHODS:
        if getattr(rule, method):
            return {"method": method, "path": getattr(rule, method), "body": rule.body}
    return {"method": rule.custom.kind.lower(), "path": rule.custom.path, "body": rule.body}


def _shape(p: _Protos, full_name: str, name: str) -> tuple[Any, ...] | None:
    msg = p.messages.get(full_name)
    if msg is None:
        return None
    for f in msg.proto.field:
        if f.name == name:
            # an enum's JSON form lists its values, a map's its key and value types
            enum = p.enums.get(f.type_name.lstrip("."))
            values = tuple(v.name for v in enum.value) if enum is not None else ()
            entry = p.messages.get(f.type_name.lstrip("."))
            map_of = (
                tuple((x.type, x.type_name) for x in entry.proto.field)
                if entry is not None and entry.proto.options.map_entry
                else ()
            )
            oneof = f.oneof_index if f.HasField("oneof_index") else None
            return (
                f.number,
                f.type,
                f.type_name,
                f.label,
                f.json_name,
                f.proto3_optional,
                oneof,
                f.options.deprecated,
                values,
                map_of,
            )
    return None


class _Deriver:
    def __init__(self, doc: dict[str, Any], after: _Protos, changes: list[str]) -> None:
        self.doc = doc
        self.after = after
        self.changes = changes
        self.schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})

    def schema_name(self, full_name: str) -> str:
        """The schema bound to ``full_name``, created (with its fields) when missing."""
        for existing, bound in self.schemas.items():
            if bound.get("x-proto-message") == full_name and "x-proto-any-type" not in bound:
                return str(existing)
        parts = full_name.split(".")
        name = parts[-1]
        if name in self.schemas:
            name = "".join(p[:1].upper() + p[1:] for p in parts[-2:])
        node: dict[str, Any] = {"type": "object"}
        msg = self.after.messages.get(full_name)
        if msg is not None and msg.comment:
            node["description"] = msg.comment + "\n" if "\n" in msg.comment else msg.comment
        node["x-proto-message"] = full_name
        if full_name == "google.protobuf.Any":
            node["required"] = ["@type"]
            node["properties"] = {
                "@type": {
                    "type": "string",
                    "description": "Type URL, `type.googleapis.com/<full message name>`.",
                    "x-proto-type": "string",
                }
            }
            node["additionalProperties"] = True
            self.schemas[name] = node
            self.changes.append(f"+ schema {name} ({full_name})")
            return name
        node["properties"] = {}
        self.schemas[name] = node  # before the fields: a message may refer to itself
        self.changes.append(f"+ schema {name} ({full_name})")
        if msg is not None:
            for f in msg.proto.field:
                node["properties"][f.json_name] = self.prop(full_name, f)
        return name

    def value(self, f: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        """The JSON form of one value of ``f`` (an item, for repeated fields)."""
        if f.type == FDP.TYPE_ENUM:
            enum = self.after.enums.get(f.type_name.lstrip("."))
            names = [v.name for v in enum.value] if enum is not None else []
            return {"type": "string", "enum": names}
        if f.type in (FDP.TYPE_MESSAGE, FDP.TYPE_GROUP):
            full = f.type_name.lstrip(".")
            if full in WRAPPERS:
                return copy.deepcopy(SCALAR_JSON[WRAPPERS[full]])
            if full in WELL_KNOWN:
                return copy.deepcopy(WELL_KNOWN[full])
            return {"$ref": f"#/components/schemas/{self.schema_name(full)}"}
        return copy.deepcopy(SCALAR_JSON[KINDS[f.type]])

    def prop(self, owner: str, f: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        """The property of field ``f`` of message ``owner``."""
        msg = self.after.messages[owner]
        out: dict[str, Any] = {}
        entry = self.after.messages.get(f.type_name.lstrip("."))
        is_map = entry is not None and entry.proto.options.map_entry
        if is_map and entry is not None:
            key, val = entry.proto.field[0], entry.proto.field[1]
            out["type"] = "object"
            out["additionalProperties"] = self.value(val)
            out["x-proto-map"] = {
                "key": KINDS.get(key.type, "message"),
                "value": val.type_name.lstrip(".") or KINDS[val.type],
            }
        elif f.label == FDP.LABEL_REPEATED:
            out["type"] = "array"
            out["items"] = self.value(f)
            out["x-proto-repeated"] = True
        else:
            form = self.value(f)
            if "$ref" in form:
                out["allOf"] = [form]
            else:
                out.update(form)
        comment = msg.field_comments.get(f.name, "")
        if comment:
            out["description"] = comment + "\n" if "\n" in comment else comment
        if not is_map:
            if f.type in (FDP.TYPE_MESSAGE, FDP.TYPE_GROUP):
                out["x-proto-message"] = f.type_name.lstrip(".")
            else:
                out["x-proto-type"] = KINDS[f.type]
                if f.type == FDP.TYPE_ENUM:
                    out["x-proto-enum"] = f.type_name.lstrip(".")
        if f.HasField("oneof_index") and not f.proto3_optional:
            out["x-proto-oneof"] = msg.proto.oneof_decl[f.oneof_index].name
        if f.proto3_optional:
            out["x-proto-optional"] = True
        if f.options.deprecated:
            out["deprecated"] = True
        out.update(self.bounds(f, out))
        out["x-proto-number"] = f.number
        return out

    def bounds(
        self, f: descriptor_pb2.FieldDescriptorProto, prop: dict[str, Any]
    ) -> dict[str, int]:
        """JSON Schema keywords for the field's validation options (``yandex.cloud.*``)."""
        options = self.after.reader.read(f.options)
        out: dict[str, int] = {}
        if prop.get("type") == "string" and "format" not in prop:
            if options.get("[yandex.cloud.required]") == "true":
                out["minLength"] = 1
            lo, hi = _range(options.get("[yandex.cloud.length]"))
            if lo is not None:
                out["minLength"] = lo
            if hi is not None:
                out["maxLength"] = hi
        if prop.get("type") == "array":
            lo, hi = _range(options.get("[yandex.cloud.size]"))
            if lo is not None:
                out["minItems"] = lo
            if hi is not None:
                out["maxItems"] = hi
        return out


def _range(option: str | None) -> tuple[int | None, int | None]:
    """``"<=500"``, ``">=1"``, ``"1-100"``, ``"<10"``, ``"3"`` as (lowest, highest)."""
    if option is None:
        return None, None
    text = option.strip('"').replace(" ", "")
    match = re.fullmatch(r"(<=|>=|<|>)?(\d+)(?:-(\d+))?", text)
    if match is None:
        return None, None
    op, first, second = match[1], int(match[2]), match[3]
    if second is not None and op is None:
        return first, int(second)
    return {
        "<=": (None, first),
        "<": (None, first - 1),
        ">=": (first, None),
        ">": (first + 1, None),
        None: (first, first),
    }[op]


def sync(doc: dict[str, Any], before: _Protos, after: _Protos) -> list[str]:
    """Edits ``doc`` to follow the change from ``before`` to ``after``; returns the changes."""
    changes: list[str] = []
    d = _Deriver(doc, after, changes)
    for name in list(d.schemas):
        node = d.schemas[name]
        full = node.get("x-proto-message")
        if not full or full.startswith("google."):
            continue
        if full not in after.messages:
            if full in before.messages:
                del d.schemas[name]
                changes.append(f"- schema {name} ({full})")
            continue
        props: dict[str, Any] = node.setdefault("properties", {})
        fields = {f.json_name: f for f in after.messages[full].proto.field}
        for json_name in list(props):
            if json_name not in fields and isinstance(props[json_name], dict):
                if "x-proto-number" in props[json_name] or full in before.messages:
                    del props[json_name]
                    changes.append(f"- {name}.{json_name}")
        for json_name, f in fields.items():
            if json_name not in props:
                props[json_name] = d.prop(full, f)
                changes.append(f"+ {name}.{json_name} (field {f.name} = {f.number})")
                continue
            was, now = _shape(before, full, f.name), _shape(after, full, f.name)
            if was == now:
                continue
            old = props[json_name]
            new = d.prop(full, f)
            for key in _KEPT:
                if key in old:
                    new[key] = old[key]
            if _json_form(old) == _json_form(new):
                for key in _KEPT_SAME_TYPE:
                    if key in old and key not in new:
                        new[key] = old[key]
            if new != old:
                props[json_name] = new
                changes.append(f"~ {name}.{json_name} (field {f.name} = {f.number})")
    _sync_paths(d, before, after)
    return changes


def _json_form(prop: dict[str, Any]) -> Any:
    """What decides the JSON shape of a property: type, format, items, the anyOf forms."""
    return [prop.get(k) for k in ("type", "format", "items", "anyOf", "allOf", "enum")]


def _sync_paths(d: _Deriver, before: _Protos, after: _Protos) -> None:
    paths: dict[str, Any] = d.doc.setdefault("paths", {})
    wanted = {
        f"{svc.rsplit('.', 1)[-1]}_{rpc}": (svc, rpc, rule)
        for (svc, rpc), rule in after.http.items()
    }
    known = {
        f"{svc.rsplit('.', 1)[-1]}_{rpc}" for (svc, rpc) in before.http
    }  # rpcs the document follows
    found: dict[str, tuple[str, str]] = {}
    for path, ops in list(paths.items()):
        for method in [m for m in ops if m in _HTTP_METHODS]:
            op_id = ops[method].get("operationId")
            if op_id in wanted:
                svc, rpc, rule = wanted[op_id]
                if (rule["method"], rule["path"]) != (method, path):
                    moved = ops.pop(method)
                    paths.setdefault(rule["path"], {})[rule["method"]] = moved
                    d.changes.append(
                        f"~ {op_id}: {method.upper()} {path} -> "
                        f"{rule['method'].upper()} {rule['path']}"
                    )
                found[op_id] = (rule["method"], rule["path"])
            elif op_id in known or op_id is None:
                del ops[method]
                d.changes.append(f"- {method.upper()} {path} ({op_id})")
    for op_id, (svc, rpc, rule) in sorted(wanted.items()):
        if op_id in found:
            continue
        paths.setdefault(rule["path"], {})[rule["method"]] = _operation(d, svc, rpc, rule)
        d.changes.append(f"+ {rule['method'].upper()} {rule['path']} ({op_id})")
    for path in [p for p, ops in paths.items() if not ops]:
        del paths[path]


def _operation(d: _Deriver, svc: str, rpc: str, rule: dict[str, str]) -> dict[str, Any]:
    (proto, comment) = next((p, c) for s, r, p, c in d.after.rpcs if (s, r) == (svc, rpc))
    short = svc.rsplit(".", 1)[-1]
    tags = d.doc.setdefault("tags", [])
    if not any(t.get("name") == short for t in tags):
        tags.append({"name": short, "x-proto-service": svc})
    op: dict[str, Any] = {"operationId": f"{short}_{rpc}", "tags": [short]}
    op["summary"] = comment.splitlines()[0] if comment else f"{short}.{rpc}"
    if comment and "\n" in comment:
        op["description"] = comment + "\n"
    op["x-proto-rpc"] = f"/{svc}/{rpc}"
    response = d.after.op_response.get((svc, rpc))
    if response:
        op["x-proto-operation-response"] = response
    request_name = proto.input_type.lstrip(".")
    request = d.after.messages[request_name].proto
    path_params = re.findall(r"\{([^}=]+)", rule["path"])
    params: list[dict[str, Any]] = []
    for f in request.field:
        if f.name in path_params:
            schema = d.value(f)
            schema["x-proto-type"] = KINDS.get(f.type, "message")
            params.append({"name": f.name, "in": "path", "required": True, "schema": schema})
        elif not rule["body"] and f.type not in (FDP.TYPE_MESSAGE, FDP.TYPE_GROUP):
            schema = d.prop(request_name, f)
            params.append({"name": f.json_name, "in": "query", "schema": schema})
    if params:
        op["parameters"] = params
    if rule["body"]:
        if rule["body"] == "*":
            body = {"$ref": f"#/components/schemas/{d.schema_name(request_name)}"}
        else:
            field = next(f for f in request.field if f.name == rule["body"])
            body = d.value(field)
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    output = proto.output_type.lstrip(".")
    answer = {"$ref": f"#/components/schemas/{d.schema_name(output)}"}
    responses: dict[str, Any] = {
        "200": {"description": "Success.", "content": {"application/json": {"schema": answer}}}
    }
    if "Error" in d.doc.get("components", {}).get("responses", {}):
        responses["default"] = {"$ref": "#/components/responses/Error"}
    op["responses"] = responses
    return op


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # untyped without types-PyYAML
    """Block style with indented sequences, literal multi-line strings, short scalar lists
    in flow style: the layout the document is written in by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = bool(value) and all(isinstance(v, str) and v[:1].isalpha() for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def dump(doc: dict[str, Any]) -> str:
    text: str = yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return text


def update(
    document: Path,
    before: descriptor_pb2.FileDescriptorSet,
    after: descriptor_pb2.FileDescriptorSet,
) -> list[str]:
    """Brings ``document`` in line with the protos' change; writes it only if it changed."""
    doc = tools.load_yaml(document.read_text())
    changes = sync(doc, _Protos(before), _Protos(after))
    if changes:
        document.write_text(dump(doc))
    return changes

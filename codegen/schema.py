"""A small typed model of the API, loaded from a protoc descriptor set.

The templates are driven by this model only, so everything they render comes
from the specs: messages and fields, comments, and the custom options
(``google.api.http``, ``yandex.cloud.api.operation``, ``yandex.cloud.*``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

_SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE: "message",
    descriptor_pb2.FieldDescriptorProto.TYPE_ENUM: "enum",
}

# Python types and integer ranges of the proto scalar types.
PY_TYPES = {
    "double": "float",
    "float": "float",
    "int64": "int",
    "uint64": "int",
    "int32": "int",
    "uint32": "int",
    "bool": "bool",
    "string": "str",
    "bytes": "bytes",
}
# Well-known wrapper messages and the scalar each one wraps (its JSON form is the scalar's).
WRAPPERS = {
    "google.protobuf.DoubleValue": "double",
    "google.protobuf.FloatValue": "float",
    "google.protobuf.Int64Value": "int64",
    "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32",
    "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}
INT_RANGES = {
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


@dataclass(frozen=True)
class HttpRule:
    method: str  # GET, POST, ...
    path: str
    body: str

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([a-z_][a-z0-9_]*)}", self.path)


@dataclass(frozen=True)
class Field:
    name: str
    number: int
    kind: str  # a scalar name from _SCALARS, "message" or "enum"
    type_name: str  # full name (no leading dot) of a message or enum type; "" for scalars
    repeated: bool
    json_name: str
    comment: str
    options: dict[str, Any]
    oneof: str | None
    map: bool = False  # a ``map<K, V>`` (a repeated field of a generated entry message)
    proto3_optional: bool = False  # ``optional``: the wire tells "not set" from zero
    default: Any = None
    """The documented default of a field left at its zero value (from the OpenAPI ``default``)."""

    @property
    def py_type(self) -> str:
        return PY_TYPES.get(self.kind, "")

    @property
    def is_message(self) -> bool:
        return self.kind == "message"

    @property
    def deprecated(self) -> bool:
        return bool(self.options.get("deprecated"))


@dataclass(frozen=True)
class Message:
    full_name: str
    name: str
    package: str
    file: str
    comment: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.full_name} has no field {name!r}")


@dataclass(frozen=True)
class Enum:
    full_name: str
    name: str
    package: str
    comment: str
    values: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Rpc:
    name: str
    input_type: str
    output_type: str
    comment: str
    http: HttpRule | None
    operation_response: str | None  # full name of the message a finished operation holds
    options: dict[str, Any]
    streaming: bool = False  # client or server streaming


@dataclass(frozen=True)
class Service:
    full_name: str
    name: str
    package: str
    file: str
    comment: str
    rpcs: tuple[Rpc, ...]


@dataclass
class Api:
    messages: dict[str, Message] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    enums: dict[str, Enum] = field(default_factory=dict)

    def message(self, full_name: str) -> Message:
        return self.messages[full_name.lstrip(".")]

    def enum(self, full_name: str) -> Enum:
        return self.enums[full_name.lstrip(".")]


def _comment(
    locations: dict[tuple[int, ...], descriptor_pb2.SourceCodeInfo.Location], path: tuple[int, ...]
) -> str:
    loc = locations.get(path)
    if loc is None:
        return ""
    lines = [line.strip() for line in loc.leading_comments.strip("\n").splitlines()]
    return "\n".join(lines).strip()


class _OptionReader:
    """Decodes options with every extension defined in the descriptor set."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self._pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            self._pool.Add(f)
        self._classes: dict[str, Any] = {}

    def read(self, options: Any) -> dict[str, Any]:
        if not options.ByteSize():
            return {}
        name = options.DESCRIPTOR.full_name
        cls = self._classes.get(name)
        if cls is None:
            cls = message_factory.GetMessageClass(self._pool.FindMessageTypeByName(name))
            self._classes[name] = cls
        parsed = cls.FromString(options.SerializeToString())
        out: dict[str, Any] = {}
        for fd, value in parsed.ListFields():
            key = fd.full_name if fd.is_extension else fd.name
            if fd.message_type is not None and fd.is_repeated:
                out[key] = [
                    json_format.MessageToDict(v, preserving_proto_field_name=True) for v in value
                ]
            elif fd.message_type is not None:
                out[key] = json_format.MessageToDict(value, preserving_proto_field_name=True)
            elif fd.is_repeated:
                out[key] = list(value)
            else:
                out[key] = value
        return out


def _http_rule(options: dict[str, Any]) -> HttpRule | None:
    rule = options.get("google.api.http")
    if not rule:
        return None
    for verb in ("get", "post", "put", "patch", "delete"):
        if verb in rule:
            return HttpRule(method=verb.upper(), path=rule[verb], body=rule.get("body", ""))
    raise ValueError(f"unsupported google.api.http rule {rule!r}")


def load(fds: descriptor_pb2.FileDescriptorSet, targets: list[str]) -> Api:
    """Builds the model of the files named in ``targets`` (their imports are read too)."""
    reader = _OptionReader(fds)
    api = Api(files=list(targets))
    for fdp in fds.file:
        locations = {tuple(loc.path): loc for loc in fdp.source_code_info.location}
        prefix = f"{fdp.package}." if fdp.package else ""

        def add_messages(
            msgs: Any,
            path: tuple[int, ...],
            scope: str,
            fdp: descriptor_pb2.FileDescriptorProto = fdp,
            locations: dict[Any, Any] = locations,
        ) -> None:
            for i, m in enumerate(msgs):
                mpath = (*path, i)
                full = f"{scope}{m.name}"
                fields = []
                entries = {f".{full}.{n.name}" for n in m.nested_type if n.options.map_entry}
                for j, f in enumerate(m.field):
                    oneof = None
                    if f.HasField("oneof_index") and not f.proto3_optional:
                        oneof = m.oneof_decl[f.oneof_index].name
                    fields.append(
                        Field(
                            name=f.name,
                            number=f.number,
                            kind=_SCALARS[f.type],
                            type_name=f.type_name.lstrip("."),
                            repeated=f.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
                            json_name=f.json_name,
                            comment=_comment(locations, (*mpath, 2, j)),
                            options=reader.read(f.options),
                            oneof=oneof,
                            map=f.type_name in entries,
                            proto3_optional=f.proto3_optional,
                        )
                    )
                api.messages[full] = Message(
                    full_name=full,
                    name=m.name,
                    package=fdp.package,
                    file=fdp.name,
                    comment=_comment(locations, mpath),
                    fields=tuple(fields),
                )
                add_messages(m.nested_type, (*mpath, 3), f"{full}.")
                add_enums(m.enum_type, (*mpath, 4), f"{full}.")

        def add_enums(
            enums: Any,
            path: tuple[int, ...],
            scope: str,
            fdp: descriptor_pb2.FileDescriptorProto = fdp,
            locations: dict[Any, Any] = locations,
        ) -> None:
            for i, e in enumerate(enums):
                api.enums[f"{scope}{e.name}"] = Enum(
                    full_name=f"{scope}{e.name}",
                    name=e.name,
                    package=fdp.package,
                    comment=_comment(locations, (*path, i)),
                    values=tuple((v.name, v.number) for v in e.value),
                )

        add_messages(fdp.message_type, (4,), prefix)
        add_enums(fdp.enum_type, (5,), prefix)
        for si, s in enumerate(fdp.service):
            rpcs = []
            for mi, m in enumerate(s.method):
                opts = reader.read(m.options)
                op = opts.get("yandex.cloud.api.operation", {})
                response = op.get("response") or None
                if response and "." not in response:
                    response = f"{fdp.package}.{response}"
                rpcs.append(
                    Rpc(
                        name=m.name,
                        input_type=m.input_type.lstrip("."),
                        output_type=m.output_type.lstrip("."),
                        comment=_comment(locations, (6, si, 2, mi)),
                        http=_http_rule(opts),
                        operation_response=response,
                        options=opts,
                        streaming=m.client_streaming or m.server_streaming,
                    )
                )
            full = f"{prefix}{s.name}"
            api.services[full] = Service(
                full_name=full,
                name=s.name,
                package=fdp.package,
                file=fdp.name,
                comment=_comment(locations, (6, si)),
                rpcs=tuple(rpcs),
            )
    return api

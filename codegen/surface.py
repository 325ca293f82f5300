"""Turns the API model into the view the image-generation templates render.

Only naming that the users' existing surface fixes (class names, the URI
scheme, service ids) is stated here; every field, type, bound, comment and
path comes from the specs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import schema

PACKAGE = "yandex.cloud.ai.foundation_models.v1.image_generation"
URI_SCHEME = "art"
OPERATION_SERVICE = "yandex.cloud.operation.OperationService"


def _bounds(expr: str | None) -> tuple[int | None, int | None]:
    """Parses the validation-option mini language: ">0", "<=500", "1-256"."""
    if not expr:
        return (None, None)
    expr = expr.strip()
    if m := re.fullmatch(r"(-?\d+)-(-?\d+)", expr):
        return (int(m[1]), int(m[2]))
    if m := re.fullmatch(r"(>=|>|<=|<)\s*(-?\d+)", expr):
        op, n = m[1], int(m[2])
        return {">": (n + 1, None), ">=": (n, None), "<": (None, n - 1), "<=": (None, n)}[op]
    raise ValueError(f"unsupported validation expression {expr!r}")


def _merge(
    a: tuple[int | None, int | None], b: tuple[int | None, int | None]
) -> tuple[int | None, int | None]:
    lo = max((x for x in (a[0], b[0]) if x is not None), default=None)
    hi = min((x for x in (a[1], b[1]) if x is not None), default=None)
    return (lo, hi)


def service_id(package: str) -> str:
    """``yandex.cloud.ai.foundation_models.v1.x`` -> ``ai-foundation-models``."""
    parts = package.split(".")
    if parts[:2] == ["yandex", "cloud"]:
        parts = parts[2:]
    kept = []
    for p in parts:
        if re.fullmatch(r"v\d+\w*", p):
            break
        kept.append(p)
    return "-".join(kept).replace("_", "-")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Value:
    """One user-facing value: a config parameter or a message attribute."""

    name: str
    py_type: str
    kind: str
    path: tuple[str, ...]  # field names from the owning message down to the scalar
    doc: str
    json_path: tuple[str, ...] = ()  # the same path in lowerCamelCase JSON names
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: bool = False
    default: Any = None  # the documented default of a zero value, if any

    @property
    def check(self) -> str:
        """The runtime validator call for ``value`` (the variable in the template)."""
        if self.py_type == "int":
            bounds = f"minimum={self.minimum!r}, maximum={self.maximum!r}"
            return f"check_int({self.name!r}, value, {bounds})"
        if self.py_type == "float":
            return f"check_float({self.name!r}, value)"
        if self.py_type == "str":
            return (
                f"check_str({self.name!r}, value, min_length={self.min_length!r}, "
                f"max_length={self.max_length!r})"
            )
        if self.py_type == "bool":
            return f"check_bool({self.name!r}, value)"
        raise ValueError(f"no validator for {self.py_type}")


def _unsupported(f: schema.Field) -> str | None:
    """What makes ``f`` something configure() cannot take, or None."""
    if f.map:
        return "a map field"
    if f.repeated:
        return "a repeated field"
    if f.oneof:
        return f"a member of oneof {f.oneof!r}"
    if f.kind in ("message", "enum", "bytes"):
        return f"a field of type {f.kind}" + (f" {f.type_name}" if f.type_name else "")
    return None


def _value(
    owner: schema.Message, f: schema.Field, path: tuple[str, ...], json_path: tuple[str, ...]
) -> Value:
    construct = _unsupported(f)
    if construct:
        raise ValueError(
            f"{owner.full_name}.{f.name} is {construct}, which cannot become a configure() "
            "parameter yet: codegen/surface.py maps scalar fields and one level of sub-message. "
            "Teach the surface and the templates this kind of field before the spec ships it."
        )
    lo, hi = schema.INT_RANGES.get(f.kind, (None, None))
    if f.py_type == "int":
        lo, hi = _merge((lo, hi), _bounds(f.options.get("yandex.cloud.value")))
    min_len, max_len = _bounds(f.options.get("yandex.cloud.length"))
    required = bool(f.options.get("yandex.cloud.required"))
    if required and f.py_type == "str":
        min_len = max(min_len or 0, 1)
    return Value(
        name=f.name,
        py_type=f.py_type,
        kind=f.kind,
        path=path,
        doc=_doc(f),
        minimum=lo,
        maximum=hi,
        min_length=min_len,
        max_length=max_len,
        required=required,
        json_path=json_path,
        default=f.default,
    )


def _doc(f: schema.Field) -> str:
    if not f.options.get("deprecated"):
        return f.comment
    return f"{f.comment}\n\nDeprecated in the API spec: it may stop having an effect.".strip()


def _class_name(message: schema.Message) -> str:
    """The betterproto2 class of a message: nested names joined (``OuterInner``)."""
    return message.full_name.removeprefix(f"{message.package}.").replace(".", "")


@dataclass(frozen=True)
class Group:
    """A sub-message flattened into the config (``aspect_ratio``)."""

    field: str
    message: str  # proto class name
    values: tuple[Value, ...]


@dataclass
class ImageGenerationView:
    service: schema.Service
    rpc: schema.Rpc
    request: schema.Message
    uri_field: schema.Field
    messages_field: schema.Field
    options_field: schema.Field
    options_message: schema.Message
    message: schema.Message
    response: schema.Message
    config: list[Value] = field(default_factory=list)
    direct: list[Value] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    message_values: list[Value] = field(default_factory=list)
    text: Value | None = None
    uri_scheme: str = URI_SCHEME
    service_id: str = ""

    @property
    def type_url(self) -> str:
        return f"type.googleapis.com/{self.response.full_name}"

    @property
    def image_attr(self) -> str:
        attrs = [f["attr"] for f in self.result_fields if f["py_type"] == "bytes"]
        if len(attrs) != 1:
            raise ValueError(f"{self.response.full_name}: expected exactly one bytes field")
        return str(attrs[0])

    @property
    def result_fields(self) -> list[dict[str, Any]]:
        out = []
        for f in self.response.fields:
            attr = f"{f.name}_bytes" if f.kind == "bytes" else f.name
            out.append({"attr": attr, "field": f.name, "py_type": f.py_type, "doc": f.comment})
        return out


def image_generation(api: schema.Api) -> ImageGenerationView:
    """Finds the image-generation rpc (the one whose operation response is declared)."""
    candidates = [
        (svc, rpc)
        for svc in api.services.values()
        if svc.package == PACKAGE
        for rpc in svc.rpcs
        if rpc.operation_response
    ]
    if len(candidates) != 1:
        raise ValueError(f"expected one operation rpc in {PACKAGE}, found {len(candidates)}")
    svc, rpc = candidates[0]
    request = api.message(rpc.input_type)
    string_fields = [f for f in request.fields if f.kind == "string" and not f.repeated]
    repeated = [f for f in request.fields if f.repeated and f.is_message]
    singular = [f for f in request.fields if f.is_message and not f.repeated]
    if len(string_fields) != 1 or len(repeated) != 1 or len(singular) != 1:
        raise ValueError(
            f"{request.full_name}: expected one uri, one repeated message and one options field"
        )
    options_message = api.message(singular[0].type_name)
    view = ImageGenerationView(
        service=svc,
        rpc=rpc,
        request=request,
        uri_field=string_fields[0],
        messages_field=repeated[0],
        options_field=singular[0],
        options_message=options_message,
        message=api.message(repeated[0].type_name),
        response=api.message(rpc.operation_response or ""),
        service_id=service_id(svc.package),
    )
    for f in options_message.fields:
        if f.is_message and not f.repeated and not f.oneof:
            sub = api.message(f.type_name)
            values = tuple(
                _value(sub, sf, (f.name, sf.name), (f.json_name, sf.json_name)) for sf in sub.fields
            )
            view.groups.append(Group(field=f.name, message=_class_name(sub), values=values))
            view.config.extend(values)
        else:
            v = _value(options_message, f, (f.name,), (f.json_name,))
            view.direct.append(v)
            view.config.append(v)
    names = [v.name for v in view.config]
    if len(set(names)) != len(names):
        raise ValueError(f"flattening {options_message.full_name} gives duplicate names: {names}")
    view.message_values = [
        _value(view.message, f, (f.name,), (f.json_name,)) for f in view.message.fields
    ]
    texts = [v for v in view.message_values if v.py_type == "str" and v.required]
    if len(texts) != 1:
        raise ValueError(f"{view.message.full_name}: expected exactly one required string field")
    view.text = texts[0]
    return view


ANY = "google.protobuf.Any"


@dataclass(frozen=True)
class AnyPath:
    """Where a ``google.protobuf.Any`` sits in an answer: ``response`` or ``error.details[]``."""

    json: tuple[str, ...]  # JSON names from the top
    attrs: tuple[str, ...]  # Python attribute names from the top
    repeated: bool  # the last step is a repeated field


def any_paths(api: schema.Api, message: schema.Message) -> list[AnyPath]:
    """Any-typed fields of a message and of its direct sub-messages."""
    out = []
    for f in message.fields:
        if f.type_name == ANY:
            out.append(AnyPath((f.json_name,), (f.name,), f.repeated))
        elif f.is_message and not f.repeated and not f.type_name.startswith("google.protobuf."):
            for g in api.message(f.type_name).fields:
                if g.type_name == ANY:
                    out.append(AnyPath((f.json_name, g.json_name), (f.name, g.name), g.repeated))
    return out


@dataclass
class RpcView:
    rpc: schema.Rpc
    method_name: str  # python name of the stub method
    path: str  # gRPC path
    request: schema.Message
    http: schema.HttpRule | None
    query: list[schema.Field]
    any_paths: list[AnyPath] = field(default_factory=list)

    @property
    def idempotent(self) -> bool:
        return self.http is not None and self.http.method == "GET"


@dataclass
class ServiceView:
    service: schema.Service
    module: str
    service_id: str
    rpcs: list[RpcView]
    imports: dict[str, list[str]]  # proto module (relative to proto/) -> names


def services(api: schema.Api, names: list[str]) -> list[ServiceView]:
    out = []
    for name in names:
        svc = api.services[name]
        imports: dict[str, set[str]] = {}
        rpcs = []
        for rpc in svc.rpcs:
            req = api.message(rpc.input_type)
            for full in (rpc.input_type, rpc.output_type):
                msg = api.message(full)
                imports.setdefault(msg.package, set()).add(msg.name)

            path_params = set(rpc.http.path_params) if rpc.http else set()
            query = []
            if rpc.http and rpc.http.body == "":
                query = [f for f in req.fields if f.name not in path_params]
            rpcs.append(
                RpcView(
                    rpc=rpc,
                    method_name=snake(rpc.name),
                    path=f"/{svc.full_name}/{rpc.name}",
                    request=req,
                    http=rpc.http,
                    query=query,
                    any_paths=any_paths(api, api.message(rpc.output_type)),
                )
            )
        out.append(
            ServiceView(
                service=svc,
                module=snake(svc.name),
                service_id=service_id(svc.package),
                rpcs=rpcs,
                imports={k: sorted(v) for k, v in sorted(imports.items())},
            )
        )
    return out

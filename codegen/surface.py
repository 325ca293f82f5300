"""Turns the API model into the view the image-generation templates render.

Only naming that the users' existing surface fixes (class names, the URI
scheme, service ids) is stated here; every field, type, bound, comment and
path comes from the specs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from . import schema

OPERATION_SERVICE = "yandex.cloud.operation.OperationService"


def _bounds(expr: Any) -> tuple[int | None, int | None]:
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


WRAPPERS = schema.WRAPPERS
TIME_TYPES = {"google.protobuf.Timestamp": "timestamp", "google.protobuf.Duration": "duration"}


class Unsupported(ValueError):
    """A construct the generator cannot serve: refused before anything is written."""


@dataclass(frozen=True)
class Value:
    """One field as the surface shows it: a rule of the field contract plus its Python types.

    The rule part is rendered into ``yandex_art._runtime.fields.FieldRule`` objects
    (the generated rules table); ``annotation`` types a parameter, ``stored`` the
    attribute that keeps the checked value.
    """

    name: str
    path: tuple[str, ...]  # proto field names from the owning message down to this field
    json_path: tuple[str, ...]  # the same path in lowerCamelCase JSON names
    number: int
    kind: str  # scalar kind, "enum" or "message"; a wrapper's wrapped scalar kind
    construct: str  # scalar | enum | message | wrapper | timestamp | duration
    label: str  # single | repeated | map
    annotation: str  # the Python type a caller passes
    stored: str  # the Python type of the checked value
    doc: str
    map_key: str | None = None
    enum_values: tuple[tuple[str, int], ...] = ()
    oneof: str | None = None
    presence: bool = False
    deprecated: bool = False
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: bool = False
    default: Any = None  # the documented default of a zero value, if any
    fields: tuple[Value, ...] = ()
    message: str = ""
    result_type: str = ""  # the type of the attribute a result shows it as

    @property
    def py_type(self) -> str:
        """The Python type of a plain scalar (what the CLI and the emulator once read)."""
        return schema.PY_TYPES.get(self.kind, "") if self.construct == "scalar" else ""


@dataclass(frozen=True)
class TypedDictView:
    """A message passed as a dict (a repeated, mapped or oneof message value)."""

    name: str
    message: schema.Message
    values: tuple[Value, ...]


class _Builder:
    """Derives :class:`Value` objects from fields, collecting the dict types they need."""

    def __init__(self, api: schema.Api) -> None:
        self.api = api
        self.typed_dicts: dict[str, TypedDictView] = {}
        self._building: set[str] = set()

    def value(
        self,
        owner: schema.Message,
        f: schema.Field,
        path: tuple[str, ...],
        json_path: tuple[str, ...],
        name: str | None = None,
    ) -> Value:
        where = f"{owner.full_name}.{f.name}"
        label = "map" if f.map else "repeated" if f.repeated else "single"
        value_field, map_key = f, None
        if f.map:
            entry = self.api.message(f.type_name)
            key_field, value_field = entry.field("key"), entry.field("value")
            map_key = key_field.kind
            if map_key not in schema.PY_TYPES or map_key in ("double", "float", "bytes"):
                raise Unsupported(
                    f"{where} is a map with {map_key} keys, which proto3 does not allow"
                )
        construct, kind, one, message, fields = self._one(where, value_field)
        if label == "repeated":
            annotation, stored = f"Sequence[{one}]", f"tuple[{one}, ...]"
        elif label == "map":
            key_type = schema.PY_TYPES[map_key or "string"]
            annotation, stored = f"Mapping[{key_type}, {one}]", f"dict[{key_type}, {one}]"
        else:
            annotation = stored = one
        # Only the bounds the specs state: the type's own range is the runtime's to apply.
        lo, hi = (None, None)
        if kind in schema.INT_RANGES:
            lo, hi = _bounds(f.options.get("yandex.cloud.value"))
        min_len, max_len = _bounds(f.options.get("yandex.cloud.length"))
        required = bool(f.options.get("yandex.cloud.required"))
        if required and kind == "string" and construct == "scalar":
            min_len = max(min_len or 0, 1)
        # The wire tells "not set" from zero for optional fields, oneof members, wrappers and
        # messages; for the others a zero value is "not set".
        presence = label == "single" and (
            f.proto3_optional or f.oneof is not None or construct not in ("scalar", "enum")
        )
        return Value(
            name=name or f.name,
            path=path,
            json_path=json_path,
            number=f.number,
            kind=kind,
            construct=construct,
            label=label,
            annotation=annotation,
            stored=stored,
            doc=_doc(f),
            map_key=map_key,
            enum_values=self.api.enum(f.type_name).values if construct == "enum" else (),
            oneof=f.oneof,
            presence=presence,
            deprecated=f.deprecated,
            minimum=lo,
            maximum=hi,
            min_length=min_len,
            max_length=max_len,
            required=required,
            default=f.default,
            fields=fields,
            message=message,
        )

    def _one(self, where: str, f: schema.Field) -> tuple[str, str, str, str, tuple[Value, ...]]:
        """(construct, kind, Python type, message name, message fields) of one value of ``f``."""
        if f.kind == "enum":
            names = ", ".join(repr(name) for name, _ in self.api.enum(f.type_name).values)
            return "enum", "enum", f"Literal[{names}]", "", ()
        if f.kind != "message":
            if f.kind not in schema.PY_TYPES:
                raise Unsupported(f"{where} has the proto type {f.kind}, which is not supported")
            return "scalar", f.kind, schema.PY_TYPES[f.kind], "", ()
        if f.type_name in WRAPPERS:
            kind = WRAPPERS[f.type_name]
            return "wrapper", kind, schema.PY_TYPES[kind], f.type_name, ()
        if f.type_name in TIME_TYPES:
            construct = TIME_TYPES[f.type_name]
            py = "datetime.datetime" if construct == "timestamp" else "datetime.timedelta"
            return construct, "message", py, f.type_name, ()
        if f.type_name.startswith("google.protobuf."):
            raise Unsupported(
                f"{where} is a {f.type_name}, a well-known type the generator does not map "
                "to a Python value (it maps wrappers, Timestamp and Duration)"
            )
        return (
            "message",
            "message",
            self.typed_dict(where, f.type_name),
            f.type_name,
            self._fields(f.type_name),
        )

    def _fields(self, type_name: str) -> tuple[Value, ...]:
        return self.typed_dicts[_dict_name(self.api.message(type_name))].values

    def typed_dict(self, where: str, type_name: str) -> str:
        message = self.api.message(type_name)
        name = _dict_name(message)
        if name in self.typed_dicts:
            return name
        if type_name in self._building:
            raise Unsupported(
                f"{where} is a recursive message ({type_name}), which is not supported"
            )
        self._building.add(type_name)
        values = tuple(
            self.value(message, sub, (sub.name,), (sub.json_name,)) for sub in message.fields
        )
        self._building.discard(type_name)
        self.typed_dicts[name] = TypedDictView(name=name, message=message, values=values)
        return name


def _dict_name(message: schema.Message) -> str:
    return _class_name(message) + "Dict"


def _doc(f: schema.Field) -> str:
    if not f.deprecated:
        return f.comment
    return f"{f.comment}\n\nDeprecated in the API spec: it may stop having an effect.".strip()


def _class_name(message: schema.Message) -> str:
    """The betterproto2 class of a message: nested names joined (``OuterInner``)."""
    return message.full_name.removeprefix(f"{message.package}.").replace(".", "")


def _flattens(f: schema.Field) -> bool:
    """A singular sub-message outside any oneof: its fields become parameters of their own."""
    return (
        f.is_message
        and not f.repeated
        and not f.oneof
        and f.type_name not in WRAPPERS
        and f.type_name not in TIME_TYPES
        and not f.type_name.startswith("google.protobuf.")
    )


@dataclass(frozen=True)
class Group:
    """A sub-message flattened into the config (``aspect_ratio``)."""

    field: str
    path: tuple[str, ...]
    values: tuple[Value, ...]


def flatten(builder: _Builder, message: schema.Message) -> tuple[list[Value], list[Group]]:
    """The parameters of ``message``: its fields, singular sub-messages flattened at any depth.

    A parameter is named after its field; when two flattened fields share a
    name, both are named by their whole path (``quality_steps``).
    """
    leaves: list[tuple[schema.Message, schema.Field, tuple[str, ...], tuple[str, ...]]] = []
    groups: list[tuple[str, tuple[str, ...], list[int]]] = []

    def walk(
        owner: schema.Message, path: tuple[str, ...], json: tuple[str, ...], seen: tuple[str, ...]
    ) -> list[int]:
        taken: list[int] = []
        for f in owner.fields:
            if _flattens(f):
                if f.type_name in seen:
                    raise Unsupported(
                        f"{owner.full_name}.{f.name} is a recursive message ({f.type_name}), "
                        "which is not supported"
                    )
                members = walk(
                    builder.api.message(f.type_name),
                    (*path, f.name),
                    (*json, f.json_name),
                    (*seen, f.type_name),
                )
                groups.append((f.name, (*path, f.name), members))
                taken.extend(members)
            else:
                leaves.append((owner, f, (*path, f.name), (*json, f.json_name)))
                taken.append(len(leaves) - 1)
        return taken

    walk(message, (), (), (message.full_name,))
    names = [path[-1] for _, _, path, _ in leaves]
    values = []
    for (owner, f, path, json), name in zip(leaves, names, strict=True):
        unique = name if names.count(name) == 1 else "_".join(path)
        values.append(builder.value(owner, f, path, json, name=unique))
    taken_names = [v.name for v in values]
    if len(set(taken_names)) != len(taken_names):
        raise Unsupported(f"flattening {message.full_name} gives duplicate names: {taken_names}")
    return values, [
        Group(field=name, path=path, values=tuple(values[i] for i in members))
        for name, path, members in sorted(groups, key=lambda g: min(g[2], default=0))
    ]


@dataclass(frozen=True)
class Method:
    """A model method made from an rpc of the service other than the main one."""

    rpc: schema.Rpc
    name: str  # the Python method name: snake case, ``_deferred`` for an operation rpc
    request: schema.Message
    result: schema.Message  # the message the call (or its operation) ends with
    deferred: bool  # an operation rpc
    same_result: bool  # ends with the main rpc's result type: returns the model result
    takes_messages: bool  # the request has the prompt messages field
    takes_options: bool  # the request has the options field (sent from the configuration)
    uri_field: str | None  # the request's model URI field, filled from the model
    params: tuple[Value, ...]  # its other fields, as keyword parameters

    @property
    def type_url(self) -> str:
        return f"type.googleapis.com/{self.result.full_name}"


@dataclass
class ModelView:
    """A service with a model behind it: its main operation rpc and what a model does with it."""

    service: schema.Service
    rpc: schema.Rpc
    request: schema.Message
    uri_field: schema.Field
    messages_field: schema.Field
    options_field: schema.Field
    options_message: schema.Message
    message: schema.Message
    response: schema.Message
    prefix: str  # class-name prefix: ``ImageGeneration``
    module: str  # module and factory name: ``image_generation``
    message_prefix: str  # prompt message class prefix: ``Image``
    uri_scheme: str
    service_id: str
    config: list[Value] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    message_values: list[Value] = field(default_factory=list)
    result_values: list[Value] = field(default_factory=list)
    methods: list[Method] = field(default_factory=list)
    typed_dicts: list[TypedDictView] = field(default_factory=list)
    text: Value | None = None

    @property
    def type_url(self) -> str:
        return f"type.googleapis.com/{self.response.full_name}"

    @property
    def image_attr(self) -> str:
        attrs = [v.name for v in self.result_values if v.kind == "bytes" and v.label == "single"]
        if len(attrs) != 1:
            raise Unsupported(f"{self.response.full_name}: expected exactly one bytes field")
        return str(attrs[0])

    @property
    def sources(self) -> list[str]:
        files = {self.service.file, self.request.file, self.message.file, self.response.file}
        files |= {self.options_message.file}
        files |= {m.request.file for m in self.methods} | {m.result.file for m in self.methods}
        return sorted(files)


# Names the users' existing surface fixes for known services (the official SDK's).
KNOWN_PREFIXES = {
    "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationAsyncService": (
        "ImageGeneration",
        "Image",
        "art",
    ),
}


def _prefix(service: schema.Service) -> str:
    for suffix in ("AsyncService", "Service"):
        if service.name.endswith(suffix) and service.name != suffix:
            return service.name.removesuffix(suffix)
    return service.name


def _uri_scheme(service: schema.Service, uri_field: schema.Field) -> str:
    found = re.search(r"\b([a-z][a-z0-9+.-]*)://", uri_field.comment)
    if found:
        return found[1]
    raise Unsupported(
        f"{service.full_name}: cannot tell the model URI scheme; state it in the comment of "
        f"{uri_field.name}, e.g. 'URI of the model, such as art://<folder_id>/<model>/latest'"
    )


def _request_parts(
    api: schema.Api, request: schema.Message
) -> tuple[schema.Field | None, schema.Field | None, schema.Field | None]:
    """(model URI, prompt messages, options) fields of a request, each None when absent."""
    strings = [f for f in request.fields if f.kind == "string" and not f.repeated]
    uri = next(
        (f for f in strings if f.name == "model_uri"), strings[0] if len(strings) == 1 else None
    )
    repeated = [f for f in request.fields if f.repeated and f.is_message and not f.map]
    messages = repeated[0] if len(repeated) == 1 else None
    options = [
        f
        for f in request.fields
        if f.is_message
        and not f.repeated
        and not f.oneof
        and _flattens(f)
        and f.name.endswith("options")
    ]
    return uri, messages, options[0] if len(options) == 1 else None


def _text_field(message: schema.Message) -> schema.Field:
    """The prompt text: the required string, else the field named ``text``, else the only string."""
    strings = [f for f in message.fields if f.kind == "string" and not f.repeated]
    for rule in (
        lambda f: bool(f.options.get("yandex.cloud.required")),
        lambda f: f.name == "text",
        lambda f: len(strings) == 1,
    ):
        found = [f for f in strings if rule(f)]
        if len(found) == 1:
            return found[0]
    raise Unsupported(f"{message.full_name}: cannot tell which string field is the prompt text")


def model_services(api: schema.Api) -> list[ModelView]:
    """Every service with a model behind it, in name order."""
    views = []
    for svc in sorted(api.services.values(), key=lambda s: s.full_name):
        if svc.full_name == OPERATION_SERVICE or svc.package.startswith("yandex.cloud.endpoint"):
            continue
        for rpc in svc.rpcs:
            if rpc.streaming:
                raise Unsupported(
                    f"{svc.full_name}.{rpc.name} is a streaming rpc, "
                    "which the generator does not serve"
                )
        main = [r for r in svc.rpcs if r.operation_response and r.name == "Generate"]
        main = main or [r for r in svc.rpcs if r.operation_response]
        if not main:
            continue
        views.append(_model_view(api, svc, main[0]))
    if not views:
        raise Unsupported("no service of the specs has an operation rpc to build a model on")
    return views


def _model_view(api: schema.Api, svc: schema.Service, rpc: schema.Rpc) -> ModelView:
    request = api.message(rpc.input_type)
    uri, messages, options = _request_parts(api, request)
    if uri is None or messages is None or options is None:
        raise Unsupported(
            f"{request.full_name}: expected a model URI string, one repeated message "
            "and one options field (a message field named *options)"
        )
    prefix, message_prefix, scheme = KNOWN_PREFIXES.get(svc.full_name, ("", "", ""))
    prefix = prefix or _prefix(svc)
    builder = _Builder(api)
    view = ModelView(
        service=svc,
        rpc=rpc,
        request=request,
        uri_field=uri,
        messages_field=messages,
        options_field=options,
        options_message=api.message(options.type_name),
        message=api.message(messages.type_name),
        response=api.message(rpc.operation_response or ""),
        prefix=prefix,
        module=snake(prefix),
        message_prefix=message_prefix or prefix,
        uri_scheme=scheme or _uri_scheme(svc, uri),
        service_id=service_id(svc.package),
    )
    view.config, view.groups = flatten(builder, view.options_message)
    text = _text_field(view.message)
    view.message_values = []
    for f in view.message.fields:
        value = builder.value(view.message, f, (f.name,), (f.json_name,))
        if f is text:
            value = dataclasses.replace(
                value, required=True, min_length=max(value.min_length or 0, 1)
            )
            view.text = value
        view.message_values.append(value)
    view.result_values = [_result_value(builder, view.response, f) for f in view.response.fields]
    taken = {"run_deferred", "configure", "attach_deferred", "run_batch", "uri", "config"}
    for other in svc.rpcs:
        if other is rpc:
            continue
        method = _method(api, builder, view, other)
        if method.name in taken:
            raise Unsupported(
                f"{svc.full_name}.{other.name} would become the method {method.name}(), "
                "which the model already has"
            )
        taken.add(method.name)
        view.methods.append(method)
    view.typed_dicts = sorted(builder.typed_dicts.values(), key=lambda t: t.name)
    return view


def _result_value(builder: _Builder, response: schema.Message, f: schema.Field) -> Value:
    """A field of the result: enums may hold numbers the specs do not know yet (open enums),
    and a field with presence may be missing."""
    value = builder.value(response, f, (f.name,), (f.json_name,))
    name = f"{f.name}_bytes" if f.kind == "bytes" and not f.repeated else f.name
    one = value.stored
    if value.label == "single":
        if value.construct == "enum":
            one = f"{one} | int"
        elif value.presence:
            one = f"{one} | None"
    elif value.construct == "enum":
        inner = one.split("[", 1)[1].rsplit(",", 1)[0] if value.label == "repeated" else ""
        one = f"tuple[{inner} | int, ...]" if inner else one
    return dataclasses.replace(value, name=name, result_type=one)


def _method(api: schema.Api, builder: _Builder, view: ModelView, rpc: schema.Rpc) -> Method:
    request = api.message(rpc.input_type)
    deferred = rpc.operation_response is not None
    if not deferred and rpc.output_type == "yandex.cloud.operation.Operation":
        raise Unsupported(
            f"{view.service.full_name}.{rpc.name} returns an Operation without declaring its "
            "response type (option (yandex.cloud.api.operation))"
        )
    result = api.message(rpc.operation_response or rpc.output_type)
    uri, messages, options = _request_parts(api, request)
    takes_messages = messages is not None and messages.type_name == view.messages_field.type_name
    takes_options = options is not None and options.type_name == view.options_field.type_name
    skip = {
        f.name
        for f in (uri, messages if takes_messages else None, options if takes_options else None)
        if f
    }
    params = tuple(
        builder.value(request, f, (f.name,), (f.json_name,))
        for f in request.fields
        if f.name not in skip
    )
    for p in params:
        if p.name in ("messages", "timeout", "idempotency_key"):
            raise Unsupported(
                f"{request.full_name}.{p.name} clashes with a parameter of every method"
            )
    return Method(
        rpc=rpc,
        name=snake(rpc.name) + ("_deferred" if deferred else ""),
        request=request,
        result=result,
        deferred=deferred,
        same_result=result.full_name == view.response.full_name,
        takes_messages=takes_messages,
        takes_options=takes_options,
        uri_field=uri.name if uri is not None else None,
        params=params,
    )


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

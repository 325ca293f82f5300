"""The semantic difference between two sets of proto files.

Both sides are compiled descriptors (``FileDescriptorSet``), so comments,
layout and the order of declarations do not count; what counts is what a
client or a server sees: packages, messages, fields (number, type, label,
oneof, proto3 ``optional``, json name, default), enums and their values,
extensions, services, rpcs and every option, custom options (``google.api.http``,
``yandex.cloud.api.operation``, the validation options) decoded by name.

One implementation serves ``python -m codegen upstream`` (specs/ against a
checkout of the public API repository) and the contract test (specs/ against
the descriptors of the pinned ``yandexcloud`` package).

Each difference has a ``where`` key in a fixed format, which
``specs/upstream-differences.yaml`` uses to list the wanted ones::

    <file> package | syntax | option <name>
    <package>.<Message>                      message only on one side
    <package>.<Message>.<field>              field only on one side
    <package>.<Message>.<field> <property>   number, type, type_name, label, ...
    <element full name> option <name>        <name> is [ext.full.name] for a custom option
    <package>.<Service>.<Rpc> <property>     input_type, output_type, streaming
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_encoding,
    text_format,
)

from .tools import CodegenError

FDP = descriptor_pb2.FieldDescriptorProto

# Which field of each descriptor holds its options, and the number of that field
# (for source-code-info paths).
OPTIONS_FIELD = {
    "file": 8,
    "message": 7,
    "field": 8,
    "oneof": 2,
    "enum": 3,
    "enum_value": 3,
    "service": 3,
    "method": 4,
}


@dataclass(frozen=True)
class Difference:
    """One semantic difference: ``where`` (see the module doc) and both sides' values.

    ``None`` on a side means the element or option is absent there.
    """

    where: str
    ours: str | None
    upstream: str | None
    file: str = ""

    def __str__(self) -> str:
        if self.ours is None:
            return f"{self.where}: only upstream: {self.upstream}"
        if self.upstream is None:
            return f"{self.where}: only ours: {self.ours}"
        return f"{self.where}: ours {self.ours}, upstream {self.upstream}"


# -- compiling ------------------------------------------------------------------------------


def compile_files(roots: Iterable[Path], files: Iterable[str]) -> descriptor_pb2.FileDescriptorSet:
    """protoc's descriptor set (imports and source info included) of ``files`` under ``roots``."""
    names = sorted(files)
    with tempfile.TemporaryDirectory(prefix="yandex-art-protodiff-") as tmp:
        out = Path(tmp) / "set.binpb"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                *(f"-I{r}" for r in roots),
                f"--descriptor_set_out={out}",
                "--include_imports",
                "--include_source_info",
                *names,
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CodegenError(f"protoc failed on {names}:\n{done.stderr}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def from_pool(names: Iterable[str], pool: Any = None) -> descriptor_pb2.FileDescriptorSet:
    """A descriptor set of ``names`` and their imports, read from a loaded descriptor pool.

    The default pool holds what imported ``*_pb2`` modules registered (the
    ``yandexcloud`` package's descriptors, for instance).
    """
    pool = pool or descriptor_pool.Default()
    out = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        found = pool.FindFileByName(name)
        for dep in found.dependencies:
            add(dep.name)
        proto = out.file.add()
        found.CopyToProto(proto)

    for name in names:
        add(name)
    return out


# -- options --------------------------------------------------------------------------------


class OptionReader:
    """Decodes options (custom ones by name) with the extensions declared in a descriptor set."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self._pool = descriptor_pool.DescriptorPool()
        for proto in fds.file:
            self._pool.Add(proto)
        self._classes: dict[str, Any] = {}

    def _parse(self, options: Any) -> Any:
        full_name = options.DESCRIPTOR.full_name
        cls = self._classes.get(full_name)
        if cls is None:
            cls = message_factory.GetMessageClass(self._pool.FindMessageTypeByName(full_name))
            self._classes[full_name] = cls
        return cls.FromString(options.SerializeToString())

    def read_messages(self, options: Any) -> dict[str, Any]:
        """``{name: decoded value}``; custom options are named ``[full.name]``."""
        return {
            (f"[{field.full_name}]" if field.is_extension else field.name): value
            for field, value in self._parse(options).ListFields()
        }

    def read(self, options: Any) -> dict[str, str]:
        """``{name: value in .proto syntax}``; custom options are named ``[full.name]``."""
        out: dict[str, str] = {}
        for field, value in self._parse(options).ListFields():
            key = f"[{field.full_name}]" if field.is_extension else field.name
            if field.is_repeated:
                out[key] = "[" + ", ".join(proto_value(field, v) for v in value) + "]"
            else:
                out[key] = proto_value(field, value)
        return out


def proto_value(field: Any, value: Any) -> str:
    """``value`` as it is written in a .proto option (``"text"``, ``true``, ``{ a: 1 }``)."""
    if field.message_type is not None:
        inner = text_format.MessageToString(value, as_one_line=True).strip()
        return "{ " + inner + " }" if inner else "{}"
    if field.enum_type is not None:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + str(text_encoding.CEscape(value, as_utf8=True)) + '"'
    if isinstance(value, bytes):
        return '"' + str(text_encoding.CEscape(value, as_utf8=False)) + '"'
    return repr(value)


# -- elements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    """A named element of a file: its kind, full name, descriptor and source-info path."""

    kind: str  # one of OPTIONS_FIELD's keys
    full_name: str
    proto: Any
    path: tuple[int, ...]
    owner: Any = None  # the message of a field or oneof, the enum of a value


def elements(file: descriptor_pb2.FileDescriptorProto) -> Iterator[Element]:
    """Every element of ``file``, parents before children."""
    pkg = file.package
    yield Element("file", file.name, file, ())

    def message(msg: Any, scope: str, path: tuple[int, ...]) -> Iterator[Element]:
        name = f"{scope}.{msg.name}" if scope else msg.name
        yield Element("message", name, msg, path)
        for i, f in enumerate(msg.field):
            yield Element("field", f"{name}.{f.name}", f, (*path, 2, i), msg)
        for i, o in enumerate(msg.oneof_decl):
            yield Element("oneof", f"{name}.{o.name}", o, (*path, 8, i), msg)
        for i, e in enumerate(msg.enum_type):
            yield from enum(e, name, (*path, 4, i))
        for i, n in enumerate(msg.nested_type):
            yield from message(n, name, (*path, 3, i))

    def enum(e: Any, scope: str, path: tuple[int, ...]) -> Iterator[Element]:
        name = f"{scope}.{e.name}" if scope else e.name
        yield Element("enum", name, e, path)
        # enum values are scoped like their enum's siblings in proto, but named
        # under the enum here so that two enums' values never collide in a report
        for i, v in enumerate(e.value):
            yield Element("enum_value", f"{name}.{v.name}", v, (*path, 2, i), e)

    for i, m in enumerate(file.message_type):
        yield from message(m, pkg, (4, i))
    for i, e in enumerate(file.enum_type):
        yield from enum(e, pkg, (5, i))
    for i, s in enumerate(file.service):
        name = f"{pkg}.{s.name}" if pkg else s.name
        yield Element("service", name, s, (6, i))
        for j, m in enumerate(s.method):
            yield Element("method", f"{name}.{m.name}", m, (6, i, 2, j), s)


def _field_shape(el: Element) -> dict[str, str]:
    f = el.proto
    oneof = el.owner.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else ""
    return {
        "number": str(f.number),
        "type": FDP.Type.Name(f.type),
        "type_name": f.type_name,
        "label": FDP.Label.Name(f.label),
        "oneof": oneof,
        "proto3_optional": str(f.proto3_optional).lower(),
        "json_name": f.json_name,
        "default_value": f.default_value,
        "extendee": f.extendee,
    }


def _method_shape(el: Element) -> dict[str, str]:
    m = el.proto
    return {
        "input_type": m.input_type,
        "output_type": m.output_type,
        "client_streaming": str(m.client_streaming).lower(),
        "server_streaming": str(m.server_streaming).lower(),
    }


def describe(el: Element) -> str:
    """A one-line description of an element, for 'only on one side' reports."""
    if el.kind == "field":
        s = _field_shape(el)
        kind = s["type_name"] or s["type"].removeprefix("TYPE_").lower()
        label = s["label"].removeprefix("LABEL_").lower()
        extra = f", oneof {s['oneof']}" if s["oneof"] else ""
        extra += ", proto3 optional" if el.proto.proto3_optional else ""
        return f"field {el.proto.name} = {el.proto.number} ({label} {kind}{extra})"
    if el.kind == "method":
        s = _method_shape(el)
        return f"rpc {el.proto.name}({s['input_type']}) returns ({s['output_type']})"
    if el.kind == "enum_value":
        return f"enum value {el.proto.name} = {el.proto.number}"
    if el.kind == "message":
        fields = ", ".join(f"{f.name} = {f.number}" for f in el.proto.field)
        return f"message {el.proto.name} {{{fields}}}"
    if el.kind == "enum":
        values = ", ".join(f"{v.name} = {v.number}" for v in el.proto.value)
        return f"enum {el.proto.name} {{{values}}}"
    return f"{el.kind} {el.full_name}"


def _shape(el: Element) -> dict[str, str]:
    if el.kind == "field":
        return _field_shape(el)
    if el.kind == "method":
        return _method_shape(el)
    if el.kind == "enum_value":
        return {"number": str(el.proto.number)}
    if el.kind == "file":
        return {"package": el.proto.package, "syntax": el.proto.syntax or "proto2"}
    return {}


# -- comparing ------------------------------------------------------------------------------


def compare_files(
    ours: descriptor_pb2.FileDescriptorProto,
    theirs: descriptor_pb2.FileDescriptorProto,
    our_options: OptionReader,
    their_options: OptionReader,
) -> list[Difference]:
    """Every difference between two versions of one file, sorted by ``where``."""
    a = {(e.kind, e.full_name): e for e in elements(ours)}
    b = {(e.kind, e.full_name): e for e in elements(theirs)}
    found: dict[str, Difference] = {}

    def add(where: str, mine: str | None, other: str | None) -> None:
        found[where] = Difference(where, mine, other, ours.name)

    for key in sorted(set(a) | set(b), key=lambda k: (k[1], k[0])):
        kind, name = key
        if key not in b:
            add(name, describe(a[key]), None)
            continue
        if key not in a:
            add(name, None, describe(b[key]))
            continue
        sa, sb = _shape(a[key]), _shape(b[key])
        if kind == "field" and (not sa["json_name"] or not sb["json_name"]):
            # protoc fills json_name, a pool's CopyToProto may not: compare when both have it
            sa["json_name"] = sb["json_name"] = ""
        for prop in sa:
            if sa[prop] != sb[prop]:
                add(f"{name} {prop}", sa[prop], sb[prop])
        oa = our_options.read(a[key].proto.options)
        ob = their_options.read(b[key].proto.options)
        for opt in sorted(set(oa) | set(ob)):
            if oa.get(opt) != ob.get(opt):
                add(f"{name} option {opt}", oa.get(opt), ob.get(opt))
    # extensions declared at file level (custom options themselves)
    ea = {f"{ours.package}.{e.name}": e for e in ours.extension}
    eb = {f"{theirs.package}.{e.name}": e for e in theirs.extension}
    for name in sorted(set(ea) | set(eb)):
        da = _ext(ea[name]) if name in ea else None
        db = _ext(eb[name]) if name in eb else None
        if da != db:
            add(f"{name} extension", da, db)
    return [found[k] for k in sorted(found)]


def _ext(e: descriptor_pb2.FieldDescriptorProto) -> str:
    kind = e.type_name or FDP.Type.Name(e.type).removeprefix("TYPE_").lower()
    return f"extend {e.extendee} {{ {kind} {e.name} = {e.number}; }}"


def compare(
    ours: descriptor_pb2.FileDescriptorSet,
    theirs: descriptor_pb2.FileDescriptorSet,
    files: Iterable[str],
) -> list[Difference]:
    """The differences of ``files`` (names as imported) between two descriptor sets.

    A file missing on one side is one difference ``<file>: only ours/upstream``.
    """
    a = {f.name: f for f in ours.file}
    b = {f.name: f for f in theirs.file}
    read_a, read_b = OptionReader(ours), OptionReader(theirs)
    out: list[Difference] = []
    for name in sorted(files):
        if name not in b:
            out.append(Difference(name, "file", None, name))
        elif name not in a:
            out.append(Difference(name, None, "file", name))
        else:
            out.extend(compare_files(a[name], b[name], read_a, read_b))
    return out


def defined_in(fds: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """``{full name: file name}`` for every element of every file, plus the extensions."""
    out: dict[str, str] = {}
    for f in fds.file:
        for el in elements(f):
            if el.kind != "file":
                out[el.full_name] = f.name
        for e in f.extension:
            out[f"{f.package}.{e.name}"] = f.name
    return out

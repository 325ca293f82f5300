"""specs/*.proto against the descriptors of the pinned official ``yandexcloud`` package.

Every file, message, field (number, type, label, oneof, json name), enum,
service, method and option of our specs is compared with upstream. A
difference fails the test unless ``specs/upstream-differences.yaml`` lists it
with its reason; an entry that no longer matches a difference fails too, so
the list never goes stale.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, text_format

from codegen import tools

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
ALLOW_LIST = SPECS / "upstream-differences.yaml"
# Modules that register the custom options, so options print with their names.
OPTION_MODULES = (
    "google.api.annotations_pb2",
    "yandex.cloud.api.operation_pb2",
    "yandex.cloud.validation_pb2",
)


def _ours() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    protos = sorted(p.relative_to(SPECS).as_posix() for p in SPECS.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "specs.binpb"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                *(f"-I{r}" for r in tools.include_roots(SPECS)),
                f"--descriptor_set_out={target}",
                *protos,
            ],
            check=True,
            cwd=tmp,
        )
        fds = descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes())
    return {f.name: f for f in fds.file}


def _upstream(name: str) -> descriptor_pb2.FileDescriptorProto:
    importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2")
    proto = descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName(name).CopyToProto(proto)
    return proto


def _options(options: Any) -> dict[str, str]:
    """Options as {name: value text}, custom options decoded by the registered extensions."""
    for module in OPTION_MODULES:
        importlib.import_module(module)
    parsed = type(options).FromString(options.SerializeToString())
    out: dict[str, str] = {}
    for field, value in parsed.ListFields():
        key = f"[{field.full_name}]" if field.is_extension else field.name
        if field.message_type is not None:
            out[key] = text_format.MessageToString(value, as_one_line=True).strip()
        else:
            out[key] = repr(value)
    return out


def _compare_options(where: str, ours: Any, theirs: Any, diffs: dict[str, str]) -> None:
    a, b = _options(ours), _options(theirs)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            diffs[f"{where} option {key}"] = f"ours {a.get(key)}, upstream {b.get(key)}"


def _field_shape(field: descriptor_pb2.FieldDescriptorProto, owner: Any) -> dict[str, Any]:
    oneof = None
    if field.HasField("oneof_index"):
        oneof = owner.oneof_decl[field.oneof_index].name
    return {
        "number": field.number,
        "type": descriptor_pb2.FieldDescriptorProto.Type.Name(field.type),
        "type_name": field.type_name,
        "label": descriptor_pb2.FieldDescriptorProto.Label.Name(field.label),
        "oneof": oneof,
        "proto3_optional": field.proto3_optional,
        "json_name": field.json_name or None,
    }


def _compare_messages(scope: str, ours: Any, theirs: Any, diffs: dict[str, str]) -> None:
    a = {m.name: m for m in ours}
    b = {m.name: m for m in theirs}
    for name in sorted(set(a) | set(b)):
        where = f"{scope}.{name}"
        if name not in b:
            diffs[f"{where}"] = "message only in ours"
            continue
        if name not in a:
            diffs[f"{where}"] = "message only upstream"
            continue
        ma, mb = a[name], b[name]
        _compare_options(where, ma.options, mb.options, diffs)
        fa = {f.name: f for f in ma.field}
        fb = {f.name: f for f in mb.field}
        for fname in sorted(set(fa) | set(fb)):
            at = f"{where}.{fname}"
            if fname not in fb:
                diffs[at] = "field only in ours"
                continue
            if fname not in fa:
                diffs[at] = "field only upstream"
                continue
            sa, sb = _field_shape(fa[fname], ma), _field_shape(fb[fname], mb)
            # protoc fills json_name only when asked; compare it when both carry it
            if sa["json_name"] is None or sb["json_name"] is None:
                sa["json_name"] = sb["json_name"] = None
            for key in sa:
                if sa[key] != sb[key]:
                    diffs[f"{at} {key}"] = f"ours {sa[key]!r}, upstream {sb[key]!r}"
            _compare_options(at, fa[fname].options, fb[fname].options, diffs)
        oa = [o.name for o in ma.oneof_decl]
        ob = [o.name for o in mb.oneof_decl]
        if oa != ob:
            diffs[f"{where} oneofs"] = f"ours {oa}, upstream {ob}"
        _compare_enums(where, ma.enum_type, mb.enum_type, diffs)
        _compare_messages(where, ma.nested_type, mb.nested_type, diffs)


def _compare_enums(scope: str, ours: Any, theirs: Any, diffs: dict[str, str]) -> None:
    a = {e.name: [(v.name, v.number) for v in e.value] for e in ours}
    b = {e.name: [(v.name, v.number) for v in e.value] for e in theirs}
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            diffs[f"{scope}.{name}"] = f"enum ours {a.get(name)}, upstream {b.get(name)}"


def _compare_file(name: str, ours: Any, theirs: Any, diffs: dict[str, str]) -> None:
    if ours.package != theirs.package:
        diffs[f"{name} package"] = f"ours {ours.package}, upstream {theirs.package}"
    if ours.syntax != theirs.syntax:
        diffs[f"{name} syntax"] = f"ours {ours.syntax}, upstream {theirs.syntax}"
    _compare_options(name, ours.options, theirs.options, diffs)
    scope = ours.package
    _compare_messages(scope, ours.message_type, theirs.message_type, diffs)
    _compare_enums(scope, ours.enum_type, theirs.enum_type, diffs)
    ea = sorted((e.extendee, e.name, e.number, e.type, e.type_name) for e in ours.extension)
    eb = sorted((e.extendee, e.name, e.number, e.type, e.type_name) for e in theirs.extension)
    for item in sorted(set(ea) ^ set(eb)):
        side = "ours" if item in ea else "upstream"
        diffs[f"{scope}.{item[1]} extension"] = f"only in {side}: {item}"
    sa = {s.name: s for s in ours.service}
    sb = {s.name: s for s in theirs.service}
    for sname in sorted(set(sa) | set(sb)):
        where = f"{scope}.{sname}"
        if sname not in sa or sname not in sb:
            diffs[where] = f"service only in {'ours' if sname in sa else 'upstream'}"
            continue
        _compare_options(where, sa[sname].options, sb[sname].options, diffs)
        ma = {m.name: m for m in sa[sname].method}
        mb = {m.name: m for m in sb[sname].method}
        for mname in sorted(set(ma) | set(mb)):
            at = f"{where}.{mname}"
            if mname not in ma or mname not in mb:
                diffs[at] = f"method only in {'ours' if mname in ma else 'upstream'}"
                continue
            for key in ("input_type", "output_type", "client_streaming", "server_streaming"):
                va, vb = getattr(ma[mname], key), getattr(mb[mname], key)
                if va != vb:
                    diffs[f"{at} {key}"] = f"ours {va!r}, upstream {vb!r}"
            _compare_options(at, ma[mname].options, mb[mname].options, diffs)


def differences() -> dict[str, str]:
    """Every difference between specs/ and upstream: {where: what}."""
    diffs: dict[str, str] = {}
    for name, ours in sorted(_ours().items()):
        if not name.startswith("yandex/"):
            continue  # google/* come from googleapis-common-protos and protobuf themselves
        _compare_file(name, ours, _upstream(name), diffs)
    return diffs


def allowed() -> dict[str, str]:
    data = yaml.safe_load(ALLOW_LIST.read_text()) or {}
    entries = data.get("differences") or []
    out: dict[str, str] = {}
    for entry in entries:
        assert set(entry) == {"where", "reason"}, f"bad entry {entry}"
        assert str(entry["reason"]).strip(), f"{entry['where']}: a reason is required"
        out[entry["where"]] = entry["reason"]
    return out


@pytest.fixture(scope="module")
def diffs() -> dict[str, str]:
    return differences()


def test_specs_equal_upstream_except_the_listed_differences(diffs: dict[str, str]) -> None:
    unexplained = {k: v for k, v in diffs.items() if k not in allowed()}
    assert not unexplained, (
        "specs/ differ from the yandexcloud descriptors; fix the spec or add each to "
        f"{ALLOW_LIST.relative_to(ROOT)} with its reason:\n"
        + "\n".join(f"  {k}: {v}" for k, v in sorted(unexplained.items()))
    )


def test_every_listed_difference_still_exists(diffs: dict[str, str]) -> None:
    stale = sorted(set(allowed()) - set(diffs))
    assert not stale, f"no longer different, remove from the allow-list: {stale}"


def test_the_comparison_sees_an_invented_constraint(tmp_path: Path) -> None:
    """The check is not blind: an option upstream lacks shows up as a difference."""
    ours = _ours()
    name = "yandex/cloud/ai/foundation_models/v1/image_generation/image_generation.proto"
    changed = descriptor_pb2.FileDescriptorProto()
    changed.CopyFrom(ours[name])
    ratio = next(m for m in changed.message_type if m.name == "AspectRatio")
    importlib.import_module("yandex.cloud.validation_pb2")
    from yandex.cloud import validation_pb2  # type: ignore[import-untyped]

    ratio.field[0].options.Extensions[validation_pb2.value] = ">0"
    found: dict[str, str] = {}
    _compare_file(name, changed, _upstream(name), found)
    key = (
        "yandex.cloud.ai.foundation_models.v1.image_generation.AspectRatio.width_ratio "
        "option [yandex.cloud.value]"
    )
    assert key in found
    # and a changed field number too
    ratio.field[1].number = 7
    _compare_file(name, changed, _upstream(name), found)
    assert any(k.endswith("AspectRatio.height_ratio number") for k in found)

"""The API's real history, replayed: what each upstream release did to the SDK.

``history/<date>/`` holds the image-generation protos that changed in each
"sync upstream" commit of ``yandex-cloud/cloudapi`` (``git show <commit>:<path>``,
unchanged). The test lays them in turn over a cloudapi-like tree (the other
files come from specs/), brings each release in with the code path of
``python -m codegen upstream DIR --apply``, regenerates, imports the generated
package and snapshots the difference of its public surface (``configure()``,
the config, the result, the REST models, the rules table) from the previous
release. Update with ``pytest tests/codegen/test_history.py --snapshot-update``
and read the diff: it is what that release changed for users.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from syrupy.assertion import SnapshotAssertion

from codegen import pipeline, protodiff, tools, upstream
from tests.codegen.variant import import_generated, submodule

ROOT = Path(__file__).resolve().parents[2]
HISTORY = Path(__file__).parent / "history"
RELEASES = sorted(p.name for p in HISTORY.iterdir() if p.is_dir())
IMAGE = "yandex/cloud/ai/foundation_models/v1/image_generation/image_generation.proto"
TEXT = "yandex.cloud.ai.foundation_models.v1.image_generation.Message.text"
# Releases whose changes are comments and layout only (verified by hand against
# `git diff` in the cloudapi repository); they must change nothing.
COMMENT_ONLY = ["2024-04-15", "2024-11-13", "2024-11-14", "2025-06-20", "2026-05-21"]


def _type(annotation: Any) -> str:
    """An annotation as short stable text (module paths dropped)."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*)", "", text)


def _fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f"{f.name}: {_type(f.type)}" for f in dataclasses.fields(cls)]
    if hasattr(cls, "model_fields"):  # pydantic
        return [
            f"{name}: {_type(info.annotation)}" + (f" (json {info.alias})" if info.alias else "")
            for name, info in cls.model_fields.items()
        ]
    names = getattr(cls, "_fields", None) or list(getattr(cls, "__annotations__", {}))
    hints = getattr(cls, "__annotations__", {})
    return [f"{n}: {_type(hints.get(n, '?'))}" for n in names]


def _rules(module: ModuleType) -> list[str]:
    """The rules table, entry by entry, without the docstrings (comments are not surface)."""
    out: list[str] = []
    for name in getattr(module, "__all__", []):
        value = getattr(module, name)
        if isinstance(value, type):
            continue
        items = (
            value
            if isinstance(value, tuple) and value and not isinstance(value[0], str)
            else [value]
        )
        for item in items:
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                shown = {k: v for k, v in dataclasses.asdict(item).items() if k != "doc"}
                out.append(f"{name}: {shown}")
            else:
                out.append(f"{name}: {item!r}")
    return out


def surface(package: str) -> dict[str, list[str]]:
    """The public surface of a generated package, by introspection."""
    ig = submodule(package, "image_generation")
    configure = inspect.signature(ig.ImageGenerationModel.configure)
    rest = submodule(package, "rest.models")
    models = {
        name: cls
        for name, cls in vars(rest).items()
        if isinstance(cls, type)
        and cls.__module__ == rest.__name__
        and hasattr(cls, "model_fields")
    }
    out = {
        "configure()": [
            f"{p.name}: {_type(p.annotation)} = {p.default!r}"
            for p in configure.parameters.values()
            if p.name != "self"
        ],
        "ImageGenerationModelConfig": _fields(ig.ImageGenerationModelConfig),
        "ImageGenerationModelResult": _fields(ig.ImageGenerationModelResult),
        "image_generation_rules": _rules(submodule(package, "image_generation_rules")),
    }
    for name in sorted(models):
        out[f"rest.{name}"] = _fields(models[name])
    return out


def _difference(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for section in sorted(set(before) | set(after)):
        a, b = before.get(section, []), after.get(section, [])
        lines = [f"- {x}" for x in a if x not in b] + [f"+ {x}" for x in b if x not in a]
        if lines:
            out[section] = lines
    return out


@dataclasses.dataclass
class Step:
    release: str
    upstream_diff: list[str]
    written: list[str]
    openapi: list[str]
    surface: dict[str, list[str]]


@pytest.fixture(scope="module")
def replay(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, list[str]], list[Step], Path]:
    """Today's surface, then each release applied in turn to a copy of specs/."""
    tmp = tmp_path_factory.mktemp("history")
    specs = tmp / "specs"
    shutil.copytree(ROOT / "specs", specs)
    cloudapi = tmp / "cloudapi"
    shutil.copytree(ROOT / "specs" / "yandex", cloudapi / "yandex")
    today = surface(import_generated(ROOT / "generated"))
    steps: list[Step] = []
    current = today
    for release in RELEASES:
        shutil.copytree(HISTORY / release, cloudapi, dirs_exist_ok=True)
        done = upstream.apply(specs, cloudapi)
        if done.written:  # identical specs give identical code: regenerate only on a change
            out = tmp / f"out-{release}"
            pipeline.generate(specs, out)
            current = surface(import_generated(out))
        steps.append(
            Step(
                release=release,
                upstream_diff=[str(d) for d in done.report.to_apply],
                written=done.written,
                openapi=done.openapi,
                surface=current,
            )
        )
    return today, steps, specs


def test_each_release_and_what_it_did_to_the_sdk(
    replay: tuple[dict[str, list[str]], list[Step], Path], snapshot: SnapshotAssertion
) -> None:
    today, steps, _ = replay
    previous = today
    story: dict[str, Any] = {}
    for step in steps:
        story[step.release] = {
            "upstream difference": step.upstream_diff,
            "specs written": step.written,
            "openapi changes": step.openapi,
            "public surface change": _difference(previous, step.surface),
        }
        previous = step.surface
    story["first release, whole surface"] = steps[0].surface
    assert story == snapshot


def test_comment_only_releases_change_nothing(
    replay: tuple[dict[str, list[str]], list[Step], Path],
) -> None:
    for step in replay[1]:
        if step.release in COMMENT_ONLY:
            assert step.upstream_diff == [] and step.written == [], step.release


def test_aspect_ratio_release_adds_the_ratio_everywhere(
    replay: tuple[dict[str, list[str]], list[Step], Path],
) -> None:
    steps = {s.release: s for s in replay[1]}
    first, ratio = steps["2024-03-18"], steps["2024-06-18"]
    assert not any("width_ratio" in x for x in first.surface["configure()"])
    assert any(x.startswith("width_ratio: ") for x in ratio.surface["configure()"])
    assert any(x.startswith("aspect_ratio: ") for x in ratio.surface["rest.ImageGenerationOptions"])
    added = (
        "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationOptions.aspect_ratio"
    )
    assert any(
        d.startswith(f"{added}: only upstream: field aspect_ratio = 3") for d in ratio.upstream_diff
    )
    assert "+ ImageGenerationOptions.aspectRatio (field aspect_ratio = 3)" in ratio.openapi


def test_the_prompt_limit_survives_every_release(
    replay: tuple[dict[str, list[str]], list[Step], Path],
) -> None:
    for step in replay[1]:
        rules = "\n".join(step.surface["image_generation_rules"])
        assert "'name': 'text'" in rules and "'max_length': 500" in rules, step.release


def test_replaying_history_ends_where_specs_are(
    replay: tuple[dict[str, list[str]], list[Step], Path],
) -> None:
    """After today's release the replayed specs equal specs/ in structure, on both transports."""
    specs = replay[2]
    names = upstream.spec_protos(ROOT / "specs")
    ours = protodiff.compile_files(tools.include_roots(ROOT / "specs"), names)
    replayed = protodiff.compile_files(tools.include_roots(specs), names)
    assert protodiff.compare(ours, replayed, names) == []
    doc = yaml.safe_load((specs / "openapi" / "image_generation.yaml").read_text())
    assert doc["components"]["schemas"]["Message"]["properties"]["text"]["maxLength"] == 500
    assert IMAGE in names

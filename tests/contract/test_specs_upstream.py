"""specs/*.proto against the descriptors of the pinned official ``yandexcloud`` package.

Every file, message, field (number, type, label, oneof, json name), enum,
service, method and option of our specs is compared with upstream by
:mod:`codegen.protodiff`, the same code ``python -m codegen upstream`` uses.
A difference fails the test unless ``specs/upstream-differences.yaml`` lists
it with its reason; an entry that no longer matches a difference fails too, so
the list never goes stale.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from codegen import protodiff, tools, upstream

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
ALLOW_LIST = SPECS / upstream.DIFFERENCES_FILE
IMAGE_GENERATION = "yandex/cloud/ai/foundation_models/v1/image_generation/image_generation.proto"


def _ours() -> descriptor_pb2.FileDescriptorSet:
    return protodiff.compile_files(tools.include_roots(SPECS), upstream.spec_protos(SPECS))


def _names() -> list[str]:
    # google/* come from googleapis-common-protos and protobuf themselves
    return [n for n in upstream.spec_protos(SPECS) if n.startswith("yandex/")]


def _upstream() -> descriptor_pb2.FileDescriptorSet:
    for name in _names():
        importlib.import_module(name.removesuffix(".proto").replace("/", ".") + "_pb2")
    return protodiff.from_pool(_names())


def differences() -> dict[str, protodiff.Difference]:
    """Every difference between specs/ and upstream: {where: difference}."""
    return {d.where: d for d in protodiff.compare(_ours(), _upstream(), _names())}


def allowed() -> dict[str, upstream.ProjectDifference]:
    return upstream.project_differences(SPECS)


@pytest.fixture(scope="module")
def diffs() -> dict[str, protodiff.Difference]:
    return differences()


def test_specs_equal_upstream_except_the_listed_differences(
    diffs: dict[str, protodiff.Difference],
) -> None:
    unexplained = {k: v for k, v in diffs.items() if k not in allowed()}
    assert not unexplained, (
        "specs/ differ from the yandexcloud descriptors; fix the spec or add each to "
        f"{ALLOW_LIST.relative_to(ROOT)} with its reason:\n"
        + "\n".join(f"  {v}" for _, v in sorted(unexplained.items()))
    )


def test_every_listed_difference_still_exists(diffs: dict[str, protodiff.Difference]) -> None:
    stale = sorted(set(allowed()) - set(diffs))
    assert not stale, f"no longer different, remove from the allow-list: {stale}"


def test_listed_values_are_the_values_of_specs(diffs: dict[str, protodiff.Difference]) -> None:
    """``ours`` in the allow-list is what specs/ really say (apply re-inserts it)."""
    for where, entry in allowed().items():
        if entry.has_ours and where in diffs:
            assert diffs[where].ours == entry.ours, where


def test_the_comparison_sees_an_invented_constraint() -> None:
    """The check is not blind: an option upstream lacks shows up as a difference."""
    ours = _ours()
    theirs = _upstream()
    changed = descriptor_pb2.FileDescriptorSet()
    changed.CopyFrom(ours)
    file = next(f for f in changed.file if f.name == IMAGE_GENERATION)
    ratio = next(m for m in file.message_type if m.name == "AspectRatio")
    importlib.import_module("yandex.cloud.validation_pb2")
    from yandex.cloud import validation_pb2  # type: ignore[import-untyped]

    ratio.field[0].options.Extensions[validation_pb2.value] = ">0"
    found = {d.where: d for d in protodiff.compare(changed, theirs, [IMAGE_GENERATION])}
    key = (
        "yandex.cloud.ai.foundation_models.v1.image_generation.AspectRatio.width_ratio "
        "option [yandex.cloud.value]"
    )
    assert found[key].ours == '">0"' and found[key].upstream is None
    # and a changed field number too
    ratio.field[1].number = 7
    found = {d.where: d for d in protodiff.compare(changed, theirs, [IMAGE_GENERATION])}
    number = next(v for k, v in found.items() if k.endswith("AspectRatio.height_ratio number"))
    assert (number.ours, number.upstream) == ("7", "2")

"""The generator itself, on the fixture protos of tests/codegen/fixtures/.

Each fixture is a construct a future API change may bring. It is inserted into
the fixture base (a minimal image-generation API, frozen here so that a change
of the real specs changes none of these snapshots), the real pipeline runs,
and the snapshot holds what the construct changed (a diff per generated file)
or the message the generator refused it with. Update with
``pytest tests/codegen --snapshot-update`` and review.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from codegen import openapi_derive, pipeline
from codegen.__main__ import main
from tests.codegen.variant import apply_fixture, import_generated, submodule

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
GEN = Path("yandex_art") / "_gen"
# Not the generator's own output: tool versions and hashes, and the REST
# models datamodel-code-generator makes from the (fixed) OpenAPI document.
NOT_SNAPSHOTTED = {"PROVENANCE.json", "rest/models.py"}
HANDLED = [
    "scalar_with_bounds",
    "nested_message",
    "deprecated_field",
    "second_method",
    "enum_option",
    "oneof_option",
    "repeated_option",
    "repeated_bytes",
    "map_option",
    "int64_wrapper",
    "generate_sync",
    "edit_operation",
]
REFUSED = ["streaming_rpc", "struct_option", "recursive_message"]


def _base_specs(tmp: Path) -> Path:
    specs = tmp / "specs"
    shutil.copytree(ROOT / "specs", specs)
    for part in (FIXTURES / "base").iterdir():
        (target,) = specs.rglob(part.name)
        shutil.copyfile(part, target)
    return specs


def _apply_with_openapi(specs: Path, name: str) -> None:
    """The fixture's proto change, and the OpenAPI change that follows from it (as
    ``python -m codegen upstream DIR --apply`` writes it)."""
    with tempfile.TemporaryDirectory() as tmp:
        before = pipeline.descriptor_set(pipeline.stage_specs(specs), Path(tmp))
        apply_fixture(specs, (FIXTURES / f"{name}.proto").read_text())
        after = pipeline.descriptor_set(pipeline.stage_specs(specs), Path(tmp))
    openapi_derive.update(specs / "openapi" / "image_generation.yaml", before, after)


def _tree(out: Path) -> dict[str, str]:
    root = out / GEN
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py")}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("base")
    pipeline.generate(_base_specs(tmp), tmp / "out", strict=True)
    return _tree(tmp / "out")


def test_every_fixture_is_exercised_and_says_why() -> None:
    names = {p.stem for p in FIXTURES.glob("*.proto")}
    assert names == set(HANDLED) | set(REFUSED)
    for name in names:
        first = (FIXTURES / f"{name}.proto").read_text().splitlines()[0]
        assert first.startswith("// Why: "), name


@pytest.mark.parametrize("name", HANDLED)
def test_handled_construct(
    name: str, base: dict[str, str], tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    specs = _base_specs(tmp_path)
    _apply_with_openapi(specs, name)
    out = tmp_path / "out"
    pipeline.generate(specs, out, strict=True)
    after = _tree(out)
    diffs = {
        path: "".join(
            difflib.unified_diff(
                base.get(path, "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"base/{path}",
                tofile=f"{name}/{path}",
            )
        )
        for path, text in sorted(after.items())
        if path not in NOT_SNAPSHOTTED and text != base.get(path)
    }
    assert diffs, f"{name} changed no generated file"
    assert diffs == snapshot
    # and what it made imports: the messages, the model and both transports
    package = import_generated(out)
    for module in ("image_generation.model", "transports.image_generation_async_service"):
        submodule(package, module)


@pytest.mark.parametrize("name", REFUSED)
def test_refused_construct_is_a_message(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    specs = _base_specs(tmp_path)
    _apply_with_openapi(specs, name)
    out = tmp_path / "out"
    assert main(["--specs", str(specs), "--out", str(out)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("python -m")]
    assert errors == snapshot
    assert not out.exists()  # nothing written

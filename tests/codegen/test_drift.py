"""generated/ must be exactly what the specs give, and generation is deterministic."""

from __future__ import annotations

import filecmp
import time
from pathlib import Path

from codegen import consistency, pipeline, schema
from codegen.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def _tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_no_drift_between_specs_and_generated() -> None:
    drift = pipeline.check(ROOT / "specs", ROOT / "generated")
    assert drift == [], f"generated/ differs from specs/: {drift}; run nox -s codegen"


def test_two_runs_give_identical_bytes_and_are_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    pipeline.generate(ROOT / "specs", tmp_path / "a")
    first = time.perf_counter() - started
    pipeline.generate(ROOT / "specs", tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b
    assert a == _tree(ROOT / "generated")
    assert first < 10, f"a full regeneration took {first:.1f} s"
    # a second run into the same folder changes nothing
    assert pipeline.generate(ROOT / "specs", tmp_path / "a") == []


def test_check_mode_reports_a_hand_edit(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    pipeline.generate(ROOT / "specs", out)
    target = out / "yandex_art" / "_gen" / "image_generation" / "config.py"
    target.write_text(target.read_text() + "\n# hand edit\n")
    assert main(["--out", str(out), "--check"]) == 1
    assert main(["--out", str(out)]) == 0
    assert filecmp.cmp(
        target,
        ROOT / "generated" / "yandex_art" / "_gen" / "image_generation" / "config.py",
        shallow=False,
    )


def test_specs_are_consistent() -> None:
    """Every http-annotated rpc has its OpenAPI path with the same fields and types."""
    api = pipeline.load_api(ROOT / "specs")
    consistency.check(api, ROOT / "specs" / "openapi" / "image_generation.yaml")
    generate = api.services[
        "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationAsyncService"
    ].rpcs[0]
    assert generate.http == schema.HttpRule(
        "POST", "/foundationModels/v1/imageGenerationAsync", "*"
    )
    assert (
        generate.operation_response
        == "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationResponse"
    )


def test_python_bytecode_in_generated_is_neither_drift_nor_deleted(tmp_path: Path) -> None:
    # Importing the package through src/yandex_art/_gen writes __pycache__ into generated/
    # whenever Python may write bytecode: a regeneration leaves it be, the check ignores it.
    out = tmp_path / "generated"
    pipeline.generate(ROOT / "specs", out)
    cache = out / "yandex_art" / "_gen" / "__pycache__" / "__init__.cpython-311.pyc"
    cache.parent.mkdir()
    cache.write_bytes(b"not really bytecode")
    assert pipeline.check(ROOT / "specs", out) == []
    assert pipeline.generate(ROOT / "specs", out) == []
    assert cache.read_bytes() == b"not really bytecode"

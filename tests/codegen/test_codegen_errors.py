"""``python -m codegen`` is strict by default and reports errors as messages, not tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.codegen.test_new_field import _copy_specs

ROOT = Path(__file__).resolve().parents[2]


def _codegen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_field_on_one_transport_only_is_refused_even_without_strict(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path, openapi=False)  # a proto field the OpenAPI side lacks
    out = tmp_path / "out"
    for flags in ((), ("--no-strict",)):
        result = _codegen("--specs", str(specs), "--out", str(out), *flags)
        assert result.returncode == 1
        assert "specs disagree" in result.stderr and "guidance" in result.stderr
        assert "one transport only" in result.stderr and "upstream" in result.stderr
        assert "Traceback" not in result.stderr
        assert not out.exists()  # nothing written


def test_an_annotation_only_mismatch_is_a_warning_without_strict(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path, openapi=True)
    doc = specs / "openapi" / "image_generation.yaml"
    text = doc.read_text()
    assert "operationId: ImageGenerationAsyncService_Generate" in text
    doc.write_text(text.replace("ImageGenerationAsyncService_Generate", "Generate"))
    out = tmp_path / "out"
    result = _codegen("--specs", str(specs), "--out", str(out))
    assert result.returncode == 1
    assert "operationId" in result.stderr and "--no-strict" in result.stderr
    assert not out.exists()
    lenient = _codegen("--specs", str(specs), "--out", str(out), "--no-strict")
    assert lenient.returncode == 0, lenient.stderr
    assert "warning: specs disagree" in lenient.stderr
    assert (out / "yandex_art" / "_gen" / "image_generation_rules.py").exists()


def test_a_broken_proto_is_a_message(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path, openapi=True)
    proto = next(specs.rglob("image_generation.proto"))
    proto.write_text(proto.read_text().replace("message AspectRatio {", "message AspectRatio {{"))
    result = _codegen("--specs", str(specs), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.startswith("python -m codegen: error: protoc")
    assert "Traceback" not in result.stderr

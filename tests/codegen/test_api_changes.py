"""The generator against the API changes likely to come next, as a maintainer and a user meet them.

For today's specs and for each likely change (an enum, ``repeated bytes``, a
oneof, a map, an ``Int64Value``, a deprecated field, a unary rpc, a second
operation rpc): the protos change, the OpenAPI document follows through the
derivation ``codegen upstream --apply`` uses, codegen runs strict and its
``--check`` passes, and then, in a fresh process on a tree made of the
hand-written package and the regenerated code, every generated module
imports and ``api_change_user.py`` generates an image over gRPC and REST
with the new field or method, and sees what must be refused refused before
anything is sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from codegen import openapi_derive, pipeline
from tests.codegen.variant import apply_fixture

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CHANGES = [
    "today",
    "enum_option",
    "repeated_bytes",
    "oneof_option",
    "map_option",
    "int64_wrapper",
    "deprecated_field",
    "generate_sync",
    "edit_operation",
]


def _descriptors(specs: Path) -> object:
    staged = pipeline.stage_specs(specs)
    with tempfile.TemporaryDirectory() as tmp:
        return pipeline.descriptor_set(staged, Path(tmp))


def _user_tree(tmp: Path, out: Path) -> Path:
    """A package tree: the hand-written ``yandex_art`` with the regenerated ``_gen``."""
    package = tmp / "tree" / "yandex_art"
    package.mkdir(parents=True)
    for entry in (ROOT / "src" / "yandex_art").iterdir():
        if entry.name not in ("_gen", "__pycache__"):
            (package / entry.name).symlink_to(entry)
    (package / "_gen").symlink_to(out / "yandex_art" / "_gen")
    return package.parent


@pytest.mark.parametrize("change", CHANGES)
def test_an_api_change_regenerates_into_a_working_sdk(change: str, tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    if change != "today":
        before = _descriptors(specs)
        apply_fixture(specs, (FIXTURES / f"{change}.proto").read_text())
        changes = openapi_derive.update(
            specs / "openapi" / "image_generation.yaml", before, _descriptors(specs)
        )
        assert changes, "the OpenAPI document did not follow the protos"
    out = tmp_path / "out"
    pipeline.generate(specs, out, strict=True)
    assert pipeline.check(specs, out, strict=True) == []  # python -m codegen --check

    tree = _user_tree(tmp_path, out)
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}", "YANDEX_ART_CACHE": "off"}
    user = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "api_change_user.py"), change],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert user.returncode == 0, user.stderr[-3000:]
    report = json.loads(user.stdout.strip().splitlines()[-1])
    assert report["grpc"] == report["rest"] == "generated"
    assert report["modules"] > 10

    flags = subprocess.run(
        [sys.executable, "-m", "yandex_art", "generate", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert flags.returncode == 0, flags.stderr
    expected = {
        "enum_option": "--style",
        "repeated_bytes": "--references",
        "oneof_option": "--preset",
        "map_option": "--labels",
        "int64_wrapper": "--steps",
        "deprecated_field": "--variants",
        "today": "--seed",
    }
    if change in expected:
        assert expected[change] in flags.stdout

"""The smoke stage refuses generated code that would break at its first use, naming what breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codegen import smoke
from codegen.tools import CodegenError

GEN = Path(__file__).resolve().parents[2] / "generated" / "yandex_art" / "_gen"


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    copy = tmp_path / "yandex_art" / "_gen"
    shutil.copytree(GEN, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_todays_generated_code_passes(staged: Path) -> None:
    # imports, one request per option field, and Generate over gRPC and REST
    assert smoke.run(staged) >= 10


def test_a_field_the_rest_model_drops_is_named(staged: Path) -> None:
    models = staged / "rest" / "models.py"
    text = models.read_text()
    line = "    seed: int | str | None = None\n"
    assert line in text
    models.write_text(text.replace(line, ""))
    with pytest.raises(CodegenError, match=r"field seed .*REST body drops it"):
        smoke.run(staged)


def test_a_module_that_does_not_import_is_named(staged: Path) -> None:
    config = staged / "image_generation" / "config.py"
    config.write_text(config.read_text() + "\nfrom .nowhere import Missing\n")
    with pytest.raises(
        CodegenError, match=r"import yandex_art\._gen\.image_generation.*config\.py"
    ):
        smoke.run(staged)


def test_an_rpc_the_emulator_cannot_round_trip_is_named(staged: Path) -> None:
    transport = staged / "transports" / "image_generation_async_service.py"
    text = transport.read_text()
    assert 'http_method="POST",' in text
    # the REST call of Generate now goes to a path nobody serves
    transport.write_text(
        text.replace('path = f"/foundationModels/v1/imageGenerationAsync"', 'path = f"/nowhere"')
    )
    with pytest.raises(CodegenError, match=r"rpc Generate over rest"):
        smoke.run(staged)

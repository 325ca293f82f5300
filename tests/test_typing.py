"""Users' code is typed exactly in mypy and in pyright (what VS Code runs): issue 19, item 3."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yandex_art import AsyncOperation, Operation

SRC = Path(__file__).resolve().parents[1] / "src"

USER_SCRIPT = textwrap.dedent(
    """
    from typing import assert_type

    from yandex_art import (
        AIStudio,
        AsyncAIStudio,
        ImageGenerationModelResult,
        OperationStatus,
    )


    def sync_user() -> None:
        sdk = AIStudio(folder_id="b1g", auth="k", timeout=30)
        model = sdk.models.image_generation("yandex-art").configure(seed=1)
        operation = model.run_deferred("a cat")
        assert_type(operation.wait(), ImageGenerationModelResult)
        assert_type(
            operation.wait(timeout=5, poll_timeout=None, poll_interval=0.5),
            ImageGenerationModelResult,
        )
        assert_type(operation.get_result(), ImageGenerationModelResult)
        assert_type(operation.get_status(), OperationStatus)
        assert_type(operation.cancel(timeout=1), OperationStatus)
        assert_type(model.attach_deferred(operation.id).wait(), ImageGenerationModelResult)
        assert_type(operation.wait().image_bytes, bytes)
        assert_type(sdk.with_options(transport="rest"), AIStudio)
        assert_type(sdk.setup_default_logging(), AIStudio)


    async def async_user() -> None:
        sdk = AsyncAIStudio(folder_id="b1g", auth="k")
        model = sdk.models.image_generation("yandex-art")
        operation = await model.run_deferred("a cat")
        assert_type(await operation.wait(), ImageGenerationModelResult)
        assert_type(await operation, ImageGenerationModelResult)
        assert_type(await operation.get_status(), OperationStatus)
        attached = await model.attach_deferred(operation.id)
        assert_type(await attached.wait(), ImageGenerationModelResult)
    """
)


@pytest.mark.parametrize("name", ["get_status", "get_result", "cancel", "wait"])
def test_sync_methods_mirror_their_async_twins(name: str) -> None:
    sync, asynchronous = getattr(Operation, name), getattr(AsyncOperation, name)
    assert not inspect.iscoroutinefunction(sync) and inspect.iscoroutinefunction(asynchronous)
    assert inspect.signature(sync) == inspect.signature(asynchronous)
    assert sync.__doc__ == asynchronous.__doc__


def test_a_typed_user_script_passes_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(USER_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(SRC)},
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.skipif(importlib.util.find_spec("pyright") is None, reason="pyright not installed")
def test_a_typed_user_script_passes_pyright_strict(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(USER_SCRIPT)
    config = {"typeCheckingMode": "strict", "extraPaths": [str(SRC)], "include": [script.name]}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "pyright", "--pythonpath", sys.executable, "--outputjson"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        # The PyPI wrapper installs pyright's node package at its first run; without npm
        # access that fails before anything is checked.
        pytest.skip(f"pyright could not run: {(done.stderr or done.stdout)[-300:]}")
    problems = [
        f"{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert problems == [], "\n".join(problems)

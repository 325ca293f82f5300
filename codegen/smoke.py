"""The smoke stage: the staged code used as a user would, before anything is written.

``python -m codegen`` and ``--check`` end here. A fresh interpreter (the
generated code must import on its own, not from this process's modules)
runs ``smoke_child.py`` over a tree made of the hand-written package and
the staged ``_gen``: every generated module imports, every field builds a
request that both transports carry, and every rpc of the image service
round-trips through an in-process emulator over gRPC and REST. What fails
is refused with the module, field or rpc named: codegen never writes an
SDK that breaks at its first call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .tools import CodegenError

SOURCE = Path(__file__).resolve().parent.parent / "src" / "yandex_art"
CHILD = Path(__file__).resolve().parent / "smoke_child.py"


def start(staged_gen: Path) -> tuple[subprocess.Popen[str], tempfile.TemporaryDirectory[str]]:
    """Starts the smoke user on ``staged_gen`` (a staged ``yandex_art/_gen``, which may still be
    empty): it imports what it can meanwhile and waits for :func:`finish` to say go."""
    tree = tempfile.TemporaryDirectory(prefix="yandex-art-smoke-")
    package = Path(tree.name) / "yandex_art"
    package.mkdir()
    for entry in SOURCE.iterdir():
        if entry.name not in ("_gen", "__pycache__"):
            (package / entry.name).symlink_to(entry)
    (package / "_gen").symlink_to(staged_gen.resolve())
    env = {
        **os.environ,
        "PYTHONPATH": tree.name,
        "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the stage or the sources
        "YANDEX_ART_CACHE": "off",
    }
    env.pop("YANDEX_ART_LOG", None)
    process = subprocess.Popen(
        [sys.executable, str(CHILD)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, tree


def finish(
    process: subprocess.Popen[str], tree: tempfile.TemporaryDirectory[str], timeout: float = 120
) -> int:
    """Waits for the smoke user; raises CodegenError naming what failed; returns the checks run."""
    try:
        out, err = process.communicate("go\n", timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise CodegenError(f"the smoke stage did not finish within {timeout:g} s") from None
    finally:
        tree.cleanup()
    lines = out.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise CodegenError(f"the smoke stage crashed:\n{err[-2000:]}") from None
    if report["failures"]:
        raise CodegenError(
            "the generated SDK would fail at its first use (nothing was written):\n  "
            + "\n  ".join(report["failures"])
        )
    return int(report["checks"])


def run(staged_gen: Path) -> int:
    process, tree = start(staged_gen)
    return finish(process, tree)

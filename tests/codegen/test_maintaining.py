"""MAINTAINING.md stays true: the files, sessions, options and names it cites exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codegen.__main__ import main
from tests.codegen import test_history

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "MAINTAINING.md").read_text()


def test_cited_paths_exist() -> None:
    for path in (
        "specs/upstream-differences.yaml",
        "specs/openapi/image_generation.yaml",
        "tests/codegen/test_history.py",
        "tests/contract/test_specs_upstream.py",
        ".ci/run",
        ".ci/release_check",
        "src/yandex_art/__init__.py",
    ):
        assert path in GUIDE and (ROOT / path).exists(), path
    assert "COMMENT_ONLY" in GUIDE and test_history.COMMENT_ONLY
    assert "KEEP_DIST" in (ROOT / ".ci" / "release_check").read_text()
    assert "__version__" in (ROOT / "src/yandex_art/__init__.py").read_text()


def test_cited_nox_sessions_exist() -> None:
    sessions = set(re.findall(r"^def (\w+)\(session", (ROOT / "noxfile.py").read_text(), re.M))
    (line,) = re.findall(r"`nox -s ([\w ]+)`", GUIDE)
    assert set(line.split()) <= sessions


def test_cited_codegen_options_exist(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["upstream", "--help"])
    assert "--apply" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--check" in out and "--no-strict" in out
    assert "python -m codegen upstream /tmp/cloudapi --apply" in GUIDE


def test_linked_from_the_readme() -> None:
    assert "[MAINTAINING.md](MAINTAINING.md)" in (ROOT / "README.md").read_text()

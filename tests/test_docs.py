"""The README's figures and commands stay true."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lines(*paths: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in paths)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in readme and "python -m pytest -q" in readme
    assert "-e '.[test]'" in ci and "python -m pytest -q" in ci

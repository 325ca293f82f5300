"""The README's figures and commands stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lines(*paths: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in paths)


def test_sdk_size_in_readme_is_current() -> None:
    """The hand-written SDK's size (runtime, and runtime plus facade) as the README states it."""
    readme = (ROOT / "README.md").read_text()
    runtime = _lines(*(ROOT / "src/yandex_art/_runtime").glob("*.py"))
    facade = _lines(ROOT / "src/yandex_art/_client.py")
    for pattern, actual in (
        (r"_runtime` is \*\*([\d,]+) lines\*\*", runtime),
        (r"with the facade\s+\(`_client\.py`\)\s+\*\*([\d,]+) lines\*\*", runtime + facade),
    ):
        match = re.search(pattern, readme)
        assert match, f"README must state the size: {pattern}"
        stated = int(match[1].replace(",", ""))
        assert abs(actual - stated) <= stated * 0.03, (
            f"README says {stated} lines, counted {actual}"
        )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in readme and "python -m pytest -q" in readme
    assert "-e '.[test]'" in ci and "python -m pytest -q" in ci

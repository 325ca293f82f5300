"""The README's figures and commands stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_runtime_size_in_readme_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"_runtime` is \*\*([\d,]+) lines\*\*", readme)
    assert match, "README must state the runtime's size"
    stated = int(match[1].replace(",", ""))
    actual = sum(
        len(p.read_text().splitlines()) for p in (ROOT / "src/yandex_art/_runtime").glob("*.py")
    )
    assert abs(actual - stated) <= stated * 0.1, (
        f"README says {stated} lines, the runtime has {actual}"
    )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in readme and "python -m pytest -q" in readme
    assert "-e '.[test]'" in ci and "python -m pytest -q" in ci

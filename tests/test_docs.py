"""The README's figures and commands stay true."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in readme and "python -m pytest -q" in readme
    assert "-e '.[test]'" in ci and "python -m pytest -q" in ci


def test_the_readme_names_every_hand_written_module_and_its_concern() -> None:
    """The architecture table lists each module of the package (``__init__`` of the
    subpackages aside): a new module comes with the one concern it holds."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Architecture: one concern per module", 1)[1].split("\n## ", 1)[0]
    package = ROOT / "src" / "yandex_art"
    modules = [
        path.relative_to(package).as_posix()
        for path in sorted(package.rglob("*.py"))
        if "_gen" not in path.relative_to(package).parts
        and not (path.name == "__init__.py" and path.parent != package)
        and path.name != "__main__.py"
    ]
    assert len(modules) > 60
    missing = [m for m in modules if f"`{m}`" not in table and f"`yandex_art/{m}`" not in table]
    assert not missing, f"modules missing from the README's architecture table: {missing}"

"""The pipeline step that moves rarely used imports of betterproto2's output into functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.pipeline import defer_imports


def test_import_moves_into_each_function_that_uses_it(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        "import betterproto2\nimport dateutil.parser\n\n\n"
        "def f(v):\n    return dateutil.parser.isoparse(v)\n\n\n"
        "class C:\n    def g(self, v):\n        x = 1\n        return dateutil.parser.isoparse(v)\n"
    )
    defer_imports(path)
    lines = path.read_text().splitlines()
    assert "import dateutil.parser" not in lines
    assert lines.count("    import dateutil.parser  # deferred by codegen (import time)") == 1
    assert lines.count("        import dateutil.parser  # deferred by codegen (import time)") == 1
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # still valid Python
    assert callable(namespace["f"])


def test_a_module_level_use_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("import dateutil.parser\nPARSE = dateutil.parser.isoparse\n")
    with pytest.raises(RuntimeError, match="not used only inside functions"):
        defer_imports(path)


def test_a_file_without_the_import_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    text = "import betterproto2\n\nX = 1\n"
    path.write_text(text)
    defer_imports(path)
    assert path.read_text() == text

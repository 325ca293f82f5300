"""Importing a generated tree made from a modified copy of specs/."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

_counter = itertools.count()


def import_generated(out: Path) -> str:
    """Imports ``out/yandex_art/_gen`` as a fresh sibling package; returns its name."""
    gen = out / "yandex_art" / "_gen"
    name = f"yandex_art._variant{next(_counter)}"
    spec = importlib.util.spec_from_file_location(
        name, gen / "__init__.py", submodule_search_locations=[str(gen)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return name


def submodule(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")

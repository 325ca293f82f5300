"""Importing a generated tree made from a modified copy of specs/."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
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


def free_field_number(specs: Path, message: str) -> int:
    """The highest field number ``message`` (a full proto name) uses in ``specs``, plus one."""
    from codegen import pipeline

    return max(f.number for f in pipeline.load_api(specs).message(message).fields) + 1


def _block_end(text: str, keyword: str, name: str) -> int:
    """The offset of the closing brace of ``message|service name { ... }`` in ``text``."""
    start = re.search(rf"^{keyword} {name} \{{", text, re.MULTILINE)
    assert start is not None, f"no {keyword} {name}"
    depth = 0
    for i in range(start.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise AssertionError(f"{keyword} {name} is not closed")


def apply_fixture(specs: Path, fixture: str) -> None:
    """Inserts the parts of a fixture (see tests/codegen/fixtures/README.md) into ``specs``."""
    parts = re.split(r"^//@ (.+)\n", fixture, flags=re.MULTILINE)[1:]
    for where, body in zip(parts[::2], parts[1::2], strict=True):
        file_name, _, block = where.strip().partition(" ")
        (path,) = specs.rglob(file_name)
        text = path.read_text()
        if not block:
            path.write_text(text.rstrip("\n") + "\n\n" + body)
            continue
        keyword = "service" if re.search(rf"^service {block} ", text, re.MULTILINE) else "message"
        if "NEXT" in body:
            package = re.search(r"^package ([\w.]+);", text, re.MULTILINE)
            assert package is not None
            first = free_field_number(specs, f"{package[1]}.{block}")
            pieces = body.split("NEXT")
            body = pieces[0] + "".join(f"{first + i}{p}" for i, p in enumerate(pieces[1:]))
        end = _block_end(text, keyword, block)
        path.write_text(text[:end] + "\n" + body + text[end:])

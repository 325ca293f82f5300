"""The PROMPTS file of ``yandex-art batch``: its items, checked before anything is sent.

A text file holds a prompt a line (blank lines and ``#`` comments are skipped); JSONL
holds ``{"prompt": ..., "name": ..., "seed": ..., "ratio": "W:H"}`` a line. An item is
named by its ``name`` or its line number, which is also its image's file name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EXIT_USAGE, CliError
from .flags import group_usage, parse_group

__all__ = ["Item", "read_prompts"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")


@dataclass
class Item:
    key: str
    prompt: str
    seed: int | None = None
    ratio: tuple[int, int] | None = None


def _parse_ratio(value: Any, where: str) -> tuple[int, int]:
    """``"W:H"`` or ``[W, H]``, read as ``--ratio`` reads it (0 means the default, 1)."""
    names = ("width_ratio", "height_ratio")
    if isinstance(value, list) and all(type(v) is int for v in value):
        value = ":".join(str(v) for v in value)
    ratio = parse_group(value, names) if isinstance(value, str) else None
    if ratio is None:
        raise CliError(f"{where}: ratio: {group_usage(names)}; got {value!r}", EXIT_USAGE)
    return ratio[0], ratio[1]


def _lines(path: str) -> list[str]:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_USAGE) from None
    # WHY: "\n" (and "\r\n") only: str.splitlines() also splits at form feeds, U+2028 and
    # the like, and item names (line numbers) would stop matching the editor's lines.
    return [line.removesuffix("\r") for line in text.split("\n")]


def _jsonl_item(text: str, number: int, where: str) -> Item:
    """The item of one JSONL line."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{where}: not JSON ({exc})", EXIT_USAGE) from None
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
        raise CliError(f'{where}: expected {{"prompt": "...", ...}}', EXIT_USAGE)
    name = record.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise CliError(f"{where}: name {name!r} is not a usable file name", EXIT_USAGE)
    seed = record.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise CliError(f"{where}: seed must be an integer", EXIT_USAGE)
    ratio = record.get("ratio")
    return Item(
        name or str(number),
        record["prompt"],
        seed,
        None if ratio is None else _parse_ratio(ratio, where),
    )


def read_prompts(path: str) -> list[Item]:
    """The items of a PROMPTS file, checked (unique names, usable as file names)."""
    lines = _lines(path)
    first = next((line.strip() for line in lines if line.strip()), "")
    jsonl = path.endswith(".jsonl") or first.startswith("{")
    items: list[Item] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or (not jsonl and text.startswith("#")):
            continue
        if jsonl:
            items.append(_jsonl_item(text, number, f"{path}:{number}"))
        else:
            items.append(Item(str(number), text))
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            raise CliError(f"{path}: the name {item.key!r} is used twice", EXIT_USAGE)
        seen.add(item.key)
    if not items:
        raise CliError(f"{path}: no prompts", EXIT_USAGE)
    return items

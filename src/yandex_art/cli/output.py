"""What every command shows the user: human lines, JSON events, and image file names.

Human text goes to stderr (notes) or stdout (results); with ``--json`` stdout carries
only JSON lines, one object each, and the results move to stderr.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["PROG", "Output", "extension", "EXTENSIONS"]

PROG = "yandex-art"

EXTENSIONS = {"image/jpeg": "jpeg", "image/png": "png"}


def extension(mime_type: str | None) -> str:
    """The file name extension of an image type (``img`` when unknown)."""
    return EXTENSIONS.get(mime_type or "", "img")


@dataclass
class Output:
    """Where a command writes: ``json`` selects JSON lines on stdout."""

    json: bool
    stdout: IO[str]
    stderr: IO[str]
    image_on_stdout: bool = False

    def info(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)

    def line(self, text: str) -> None:
        """A human-readable line: stdout, or stderr with --json or when stdout holds the image."""
        target = self.stderr if self.json or self.image_on_stdout else self.stdout
        print(text, file=target, flush=True)

    def event(self, **data: Any) -> None:
        if self.json:
            print(json.dumps(data, ensure_ascii=False), file=self.stdout, flush=True)

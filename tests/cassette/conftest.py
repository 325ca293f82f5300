"""Servers of the cassette tests: CLI processes that print one JSON line with their addresses."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

OFFICIAL_CASSETTE = (
    Path(__file__).parent / "cassettes" / "official_image_generation_test_run.gprc.json"
)
# The folder of the official recording: requests replayed from it must name it again.
OFFICIAL_FOLDER = "b1ghsjum2v37c2un8h64"


def official_image() -> bytes:
    """The JPEG the real service answered in the official recording."""
    import base64

    data = json.loads(OFFICIAL_CASSETTE.read_text(encoding="utf-8"))
    return base64.b64decode(data["interactions"][-1]["response"]["message"]["response"]["image"])


class CliServer:
    """``python -m yandex_art ARGS...``, started and read up to its first (JSON) line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yandex_art", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline() if readable else ""
        if not line.startswith("{"):
            self.process.kill()
            raise RuntimeError(f"{args[0]} did not start: {line!r} {self.process.stderr.read()!r}")
        self.info: dict[str, Any] = json.loads(line)

    @property
    def grpc(self) -> str:
        return str(self.info["grpc"])

    @property
    def rest(self) -> str:
        return str(self.info["rest"]).removeprefix("http://")

    def stop(self) -> str:
        """SIGINT, as Ctrl-C; returns what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=30)
        return err

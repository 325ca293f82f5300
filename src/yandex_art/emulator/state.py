"""Operation records and their JSON state file (written atomically)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .config import EmulatorConfigError

__all__ = ["Outcome", "Record", "load_state", "save_state"]

STATE_VERSION = 1

Outcome = Literal["image", "error", "empty", "wrong_type"]


@dataclass
class Record:
    """Everything the emulator knows about one operation.

    Times ending in ``_at`` are wall-clock (``time.time()``); ``*_monotonic``
    are ``time.monotonic()`` of this process and are not persisted as such.
    The image is not persisted either: it is drawn again from the prompt and
    seed when needed.
    """

    id: str
    created_at: float
    modified_at: float
    created_by: str
    texts: tuple[str, ...]
    seed: int
    width: int
    height: int
    mime_type: str
    model_version: str
    outcome: Outcome
    finish_at: float
    error_code: int = 0
    error_message: str = ""
    type_url: str = ""
    done: bool = False
    done_at: float | None = None
    reads: int = 0
    cancelled: bool = False
    created_monotonic: float = field(default=0.0, metadata={"persist": False})
    finish_monotonic: float = field(default=0.0, metadata={"persist": False})
    done_monotonic: float | None = field(default=None, metadata={"persist": False})
    image: bytes | None = field(default=None, repr=False, metadata={"persist": False})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for f in fields(self):
            if f.metadata.get("persist") is False:
                data.pop(f.name)
        data["texts"] = list(self.texts)
        return data

    @classmethod
    def from_json(cls, data: Any, *, now: float, now_monotonic: float) -> Record:
        """Rebuild a record; monotonic times are re-based on this process's clock."""
        if not isinstance(data, dict):
            raise ValueError("an operation must be a JSON object")
        names = {f.name for f in fields(cls) if f.metadata.get("persist") is not False}
        values = {k: v for k, v in data.items() if k in names}
        values["texts"] = tuple(values.get("texts", ()))
        record = cls(**values)
        _check(record)
        record.created_monotonic = now_monotonic - (now - record.created_at)
        record.finish_monotonic = now_monotonic + (record.finish_at - now)
        if record.done_at is not None:
            record.done_monotonic = now_monotonic - (now - record.done_at)
        return record


def _check(record: Record) -> None:
    checks: list[tuple[str, type | tuple[type, ...]]] = [
        ("id", str),
        ("created_at", (int, float)),
        ("modified_at", (int, float)),
        ("created_by", str),
        ("seed", int),
        ("width", int),
        ("height", int),
        ("mime_type", str),
        ("model_version", str),
        ("finish_at", (int, float)),
        ("error_code", int),
        ("error_message", str),
        ("type_url", str),
        ("done", bool),
        ("reads", int),
        ("cancelled", bool),
    ]
    for name, kind in checks:
        if not isinstance(getattr(record, name), kind):
            raise ValueError(f"field {name!r} of operation {record.id!r} has a wrong type")
    if record.outcome not in ("image", "error", "empty", "wrong_type"):
        raise ValueError(f"operation {record.id!r} has an unknown outcome {record.outcome!r}")
    if not all(isinstance(t, str) for t in record.texts):
        raise ValueError(f"texts of operation {record.id!r} must be strings")


def load_state(path: Path, *, now: float, now_monotonic: float) -> list[Record]:
    """Records kept in ``path``; a missing file means none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise EmulatorConfigError(f"cannot read the state file {path}: {exc}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"expected a JSON object with version {STATE_VERSION}")
        items = data.get("operations")
        if not isinstance(items, list):
            raise ValueError("'operations' must be a list")
        return [Record.from_json(item, now=now, now_monotonic=now_monotonic) for item in items]
    except (ValueError, TypeError) as exc:
        raise EmulatorConfigError(f"the state file {path} is not usable: {exc}") from None


def save_state(path: Path, records: list[dict[str, Any]]) -> None:
    """Write the records to ``path`` atomically (temporary file, fsync, rename)."""
    payload = json.dumps({"version": STATE_VERSION, "operations": records}, separators=(",", ":"))
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

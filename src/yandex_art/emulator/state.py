"""Operation records and their JSON state file (written atomically)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .._runtime.validation import INT64_MAX, INT64_MIN
from .config import EmulatorConfigError
from .images import MAX_SIDE, SUPPORTED_MIME_TYPES, prompt_digest

__all__ = ["Outcome", "Record", "load_state", "remove_stale_temporaries", "save_state"]

STATE_VERSION = 2

Outcome = Literal["image", "error", "empty", "wrong_type"]


@dataclass
class Record:
    """Everything the emulator knows about one operation.

    Times ending in ``_at`` are wall-clock (``time.time()``); ``*_monotonic``
    are ``time.monotonic()`` of this process and are not persisted as such.
    The image is not persisted either: it is drawn again from the prompt's
    digest and the seed when needed.
    """

    id: str
    created_at: float
    modified_at: float
    created_by: str
    prompt_sha256: str
    """:func:`~.images.prompt_digest` of the prompt: records keep no prompt text, and stay small."""
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
        return data

    @classmethod
    def from_json(cls, data: Any, *, now: float, now_monotonic: float) -> Record:
        """Rebuild a record; monotonic times are re-based on this process's clock."""
        if not isinstance(data, dict):
            raise ValueError("an operation must be a JSON object")
        names = {f.name for f in fields(cls) if f.metadata.get("persist") is not False}
        values = {k: v for k, v in data.items() if k in names}
        texts = data.get("texts")  # records of version 1 kept the prompt itself
        if "prompt_sha256" not in values and isinstance(texts, list):
            if not all(isinstance(t, str) for t in texts):
                raise ValueError("'texts' must be strings")
            values["prompt_sha256"] = prompt_digest(texts)
        missing = sorted(
            f.name
            for f in fields(cls)
            if f.metadata.get("persist") is not False
            and f.name not in values
            and f.default is MISSING
        )
        if missing:
            raise ValueError(f"an operation lacks {', '.join(missing)}")
        record = cls(**values)
        _check(record)
        record.created_monotonic = now_monotonic - (now - record.created_at)
        record.finish_monotonic = now_monotonic + (record.finish_at - now)
        if record.done_at is not None:
            record.done_monotonic = now_monotonic - (now - record.done_at)
        return record


MAX_TEXT = 4096
"""Longest string a record may hold (ids, messages, type URLs)."""
MAX_OPERATIONS = 1_000_000


def _check(record: Record) -> None:
    checks: list[tuple[str, type | tuple[type, ...]]] = [
        ("id", str),
        ("created_at", (int, float)),
        ("modified_at", (int, float)),
        ("created_by", str),
        ("prompt_sha256", str),
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
    name = repr(record.id)[:80]
    for field_name, kind in checks:
        value = getattr(record, field_name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"field {field_name!r} of operation {name} has a wrong type")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"field {field_name!r} of operation {name} is too long")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"field {field_name!r} of operation {name} is not a finite number")
    if not record.id or not record.id.isascii() or not record.id.isalnum():
        raise ValueError(f"operation id {name} is not an operation id")
    if record.done_at is not None and (
        isinstance(record.done_at, bool)
        or not isinstance(record.done_at, int | float)
        or not math.isfinite(record.done_at)
    ):
        raise ValueError(f"field 'done_at' of operation {name} is not a finite number")
    if not (1 <= record.width <= MAX_SIDE and 1 <= record.height <= MAX_SIDE):
        raise ValueError(
            f"operation {name} is {record.width}x{record.height} pixels; "
            f"each side must be within 1..{MAX_SIDE}"
        )
    if not INT64_MIN <= record.seed <= INT64_MAX or not 0 <= record.reads <= INT64_MAX:
        raise ValueError(f"operation {name} has a seed or read count out of range")
    if record.mime_type not in SUPPORTED_MIME_TYPES:
        raise ValueError(f"operation {name} has an unsupported MIME type")
    if record.outcome not in ("image", "error", "empty", "wrong_type"):
        raise ValueError(f"operation {name} has an unknown outcome {record.outcome!r:.40}")


def load_state(path: Path, *, now: float, now_monotonic: float) -> list[Record]:
    """Records kept in ``path``; a missing file means none. Anything unusable is refused whole."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise EmulatorConfigError(
            f"cannot read the state file {path}: {exc.strerror or exc}"
        ) from None
    try:
        data = json.loads(raw.decode("utf-8"))
        version = data.get("version") if isinstance(data, dict) else None
        # WHY the type: True == 1 and 2.0 == 2 in Python, and neither is a version we wrote.
        if type(version) is not int or version not in (1, STATE_VERSION):
            raise ValueError(f"expected a JSON object with version {STATE_VERSION}")
        items = data.get("operations")
        if not isinstance(items, list):
            raise ValueError("'operations' must be a list")
        if len(items) > MAX_OPERATIONS:
            raise ValueError(f"more than {MAX_OPERATIONS} operations")
        records = [Record.from_json(item, now=now, now_monotonic=now_monotonic) for item in items]
        if len({r.id for r in records}) != len(records):
            raise ValueError("an operation id appears twice")
        return records
    except (ValueError, TypeError, RecursionError) as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise EmulatorConfigError(
            f"the state file {path} is corrupt or not an emulator state file ({text}); "
            "move it away or pass another --state file"
        ) from None


def save_state(path: Path, records: list[dict[str, Any]]) -> None:
    """Write the records to ``path`` atomically (temporary file, fsync, rename)."""
    payload = json.dumps({"version": STATE_VERSION, "operations": records}, separators=(",", ":"))
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=directory)
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


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.emulator-"


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of writes a kill cut short (call with the state's lock held:
    then no other emulator is writing one). Only names :func:`save_state` makes are touched."""
    directory = path.parent if str(path.parent) else Path(".")
    prefix = _tmp_prefix(path)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith(prefix) and name.endswith(".tmp") and len(name) <= len(prefix) + 20:
            try:
                os.unlink(entry.path)
            except OSError:
                pass

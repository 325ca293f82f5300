"""The journal and the image files of ``yandex-art batch``: what a rerun may trust.

Everything read here was written by an earlier run that may have been killed, by a full
disk, or by hand, so nothing is trusted: a journal line that is not UTF-8 JSON of the
expected shape is skipped and counted, an operation id that is not a string is ignored,
an image path that is not the item's own file name in the output directory is ignored,
and an image on disk counts only when it is whole.

Each item's records carry a digest of what it generates (prompt, model and options), so
a changed line is generated again (the old image is kept under a versioned name), and the
journal's first record names the PROMPTS file it belongs to.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import EXIT_USAGE, CliError

__all__ = [
    "JOURNAL",
    "DiskFault",
    "Journal",
    "clean_leftovers",
    "is_whole_image",
    "item_digest",
    "set_aside",
    "write_image",
]

JOURNAL = ".yandex-art-batch.jsonl"
FORMAT = 2  # records carry digests; the first one names the PROMPTS file
# Temporary images are ".yandex-art-batch.<name>.<pid>.tmp": a name no user would choose,
# so the cleanup after a crash removes only files this tool made.
_TMP_PREFIX = ".yandex-art-batch."
_TMP = re.compile(r"^\.yandex-art-batch\..+\.[0-9]+\.tmp$")
# Space held for the journal: on a full disk it is given up so the records that carry
# operation ids (a few hundred bytes each) are still written.
RESERVE = ".yandex-art-batch.reserve"
_RESERVE_BYTES = 64 * 1024


class DiskFault(Exception):
    """No Generate starts once an image or the journal could not be written: whatever the
    cause (full disk, permissions, I/O error, the directory gone), a retry would fail too."""


def item_digest(prompt: str, model: str, options: Mapping[str, Any]) -> str:
    """What an item generates, in 16 hex digits: same digest, same request."""
    text = json.dumps([prompt, model, dict(options)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class ItemState:
    state: str  # sending, started, done, failed
    operation_id: str | None = None
    path: str | None = None  # the image's name in the output directory, when trusted
    key: str | None = None  # the idempotency-key of the latest Generate sent
    digest: str | None = None  # None: journaled by a version without digests


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _own_path(item: str, value: Any) -> str | None:
    """``value`` if it is ``<item>.<extension>`` (no directory, no ``..``), else None."""
    if not isinstance(value, str) or not value.startswith(item + "."):
        return None
    extension = value[len(item) + 1 :]
    return value if re.fullmatch(r"[a-z]{1,8}", extension) else None


class Journal:
    """Append-only JSON lines; one process at a time (an advisory lock on the file).

    :meth:`write` never raises: a record the disk refused sets :attr:`fault`, and the
    batch pauses (the operation id it carried is printed instead). So does a journal file
    that is no longer at :attr:`path` (its directory removed or replaced while the batch
    runs): appends to it would succeed and be lost with it.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL
        self._reserve = directory / RESERVE
        self.states: dict[str, ItemState] = {}
        self.header: dict[str, Any] | None = None
        self.bad_lines = 0  # lines skipped: cut short, not UTF-8, not JSON, not a record
        self.last_time = 0.0  # wall-clock time of the latest record
        self.fault: OSError | None = None
        self.lost: list[tuple[str, str]] = []  # (item, operation id) of records not journaled
        self._gone = False  # the file is no longer at self.path: nothing more is written
        try:
            self._file: IO[bytes] = open(self.path, "a+b")
        except OSError as exc:
            raise CliError(f"cannot open {self.path}: {exc.strerror or exc}", EXIT_USAGE) from None
        try:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError:
            self._file.close()
            raise CliError(f"another batch is running in {directory}", EXIT_USAGE) from None
        self._file.seek(0)
        data = self._file.read()
        lines = data.split(b"\n")
        for number, line in enumerate(lines):
            if line.strip():
                self._read_line(line, last=number == len(lines) - 1)
        # A line cut short by a crash must not glue itself to the next record.
        if data and not data.endswith(b"\n"):
            self._append(b"\n", sync=False)
        with contextlib.suppress(OSError):
            self._reserve.write_bytes(bytes(_RESERVE_BYTES))

    @property
    def gone(self) -> bool:
        """Whether the file was found removed or replaced (nothing is written to it since)."""
        return self._gone

    @property
    def empty(self) -> bool:
        return not self.states and self.header is None

    def _read_line(self, line: bytes, *, last: bool) -> None:
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            record = None
        if isinstance(record, dict) and record.get("event") == "batch":
            self.header = record  # the latest: --force-new appends another
        elif isinstance(record, dict) and _text(record.get("item")):
            self._fold(record)
        elif not last:  # the last line cut short by a crash is expected, not reported
            self.bad_lines += 1

    def _fold(self, record: dict[str, Any]) -> None:
        item, event = record["item"], record.get("event")
        if isinstance(record.get("t"), int | float):
            self.last_time = max(self.last_time, float(record["t"]))
        current = self.states.get(item)
        digest = _text(record.get("digest")) or (current.digest if current else None)
        earlier = current.operation_id if current and current.digest == digest else None
        operation_id = _text(record.get("operation_id")) or earlier
        if event == "sending":
            self.states[item] = ItemState("sending", key=_text(record.get("key")), digest=digest)
        elif event == "started" and operation_id:
            self.states[item] = ItemState("started", operation_id, digest=digest)
        elif event == "done":
            path = _own_path(item, record.get("path"))
            self.states[item] = ItemState("done", operation_id, path, digest=digest)
        elif event == "failed":
            self.states[item] = ItemState("failed", operation_id, digest=digest)
        elif event == "bound" and current is not None and current.digest is None:
            current.digest = digest  # a record of a version without digests, adopted

    def write(self, *, sync: bool, **record: Any) -> bool:
        """Append a record (fsync'd if ``sync``); False if the disk refused it."""
        record["t"] = round(time.time(), 3)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        written = self._append(line, sync=sync)
        item, operation_id = _text(record.get("item")), _text(record.get("operation_id"))
        if not written and item and operation_id and (item, operation_id) not in self.lost:
            self.lost.append((item, operation_id))  # once, though started and done both fail
        if "item" in record:
            self._fold(record)
        return written

    def _append(self, data: bytes, *, sync: bool) -> bool:
        if self._gone:
            return False
        try:
            self._file.write(data)
            self._flush(sync)
            self._check_in_place()
        except OSError as exc:
            self.fault = self.fault or exc  # the batch pauses, whether the retry works or not
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self._give_up_reserve():
                return False
            try:
                self._flush(sync)  # the record is still in the file's buffer
                self._check_in_place()
            except OSError:
                return False
        return True

    def _check_in_place(self) -> None:
        """Raise if our file is no longer the one at ``self.path``.

        WHY: a removed (or replaced) directory takes the journal with it while the open
        file keeps accepting appends, so every operation id journaled after that would
        be lost without an error. Checked after each append (two stat calls), so the
        record just written is counted lost and reported.
        """
        try:
            ours = os.fstat(self._file.fileno())
            there = os.stat(self.path)
            in_place = ours.st_nlink > 0 and (ours.st_dev, ours.st_ino) == (
                there.st_dev,
                there.st_ino,
            )
        except OSError:
            in_place = False
        if not in_place:
            self._gone = True
            message = f"{self.path} was removed or replaced while the batch ran"
            raise OSError(errno.ENOENT, message)

    def _flush(self, sync: bool) -> None:
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def _give_up_reserve(self) -> bool:
        try:
            self._reserve.unlink()
        except OSError:
            return False
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._reserve.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._file.close()


# -- images ------------------------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def is_whole_image(path: Path) -> bool:
    """A regular file holding a whole JPEG or PNG (its start and end markers), read safely."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as file:
        import stat

        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size < 16:
            return False
        head = file.read(8)
        file.seek(-8, os.SEEK_END)
        tail = file.read(8)
    if head.startswith(b"\xff\xd8"):
        return tail.endswith(b"\xff\xd9")
    return head == _PNG and tail == _PNG_END


def _versioned(directory: Path, name: str) -> Path:
    """``<stem>~v<N>.<ext>``, the first free N: ``~`` is not allowed in item names."""
    stem, dot, extension = name.rpartition(".")
    for number in range(1, 100_000):
        candidate = directory / f"{stem}~v{number}{dot}{extension}"
        if not os.path.lexists(candidate):
            return candidate
    raise FileExistsError(errno.EEXIST, "no free versioned name", name)


def set_aside(path: Path) -> str | None:
    """Rename what is at ``path`` to its first free versioned name; returns that name."""
    if not os.path.lexists(path):
        return None
    old = _versioned(path.parent, path.name)
    os.replace(path, old)
    return old.name


def write_image(directory: Path, name: str, data: bytes, *, keep_old: bool) -> str | None:
    """Write ``name`` whole (temporary file, fsync, rename); returns where an image that was
    there went, if ``keep_old`` (None when there was none). A failed write leaves nothing."""
    target = directory / name
    tmp = directory / f"{_TMP_PREFIX}{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        kept = None
        if keep_old and os.path.lexists(target):
            old = _versioned(directory, name)
            try:
                os.link(target, old)  # a link, then the rename: the old image is never missing
            except OSError:
                os.replace(target, old)  # no hard links here: a moment without it
            kept = old.name
        os.replace(tmp, target)
        return kept
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def clean_leftovers(directory: Path) -> None:
    """Remove temporary images of runs killed while writing (only names this tool makes)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if entry.name.startswith(_TMP_PREFIX) and _TMP.match(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)

"""yandex-art batch against what users' machines produce: edited and swapped PROMPTS files,
lost journals, full or unwritable disks, damaged journal lines (issue 22).

Every case counts Generate calls on the emulator: none may be sent twice.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from yandex_art.cli import EXIT_DISK, EXIT_OK, EXIT_USAGE, batch_run
from yandex_art.cli.batch_journal import JOURNAL
from yandex_art.emulator import Emulator

from .helpers import run
from .test_batch import batch, journal


def generates(emulator: Emulator) -> int:
    return emulator.stats().calls.get("generate", 0)


def images(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.jpeg"))}


def prompts_file(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# -- a journal bound to its inputs ---------------------------------------------------------


def test_an_edited_line_is_generated_again_and_its_old_image_kept(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = prompts_file(tmp_path / "p.txt", ["a cat", "a dog", "a frog"])
    out = tmp_path / "o"
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    before = images(out)
    prompts_file(prompts, ["a cat", "a red dog", "a frog"])
    code, _, err = run(*batch(emulator, prompts, out), env=env)
    assert code == EXIT_OK, err
    assert generates(emulator) == 4  # the changed line only
    after = images(out)
    assert after["2~v1.jpeg"] == before["2.jpeg"]  # kept, not overwritten
    assert after["2.jpeg"] != before["2.jpeg"]
    assert after["1.jpeg"] == before["1.jpeg"] and after["3.jpeg"] == before["3.jpeg"]
    # and the rerun after that has nothing to do
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    assert generates(emulator) == 4


def test_another_prompts_file_in_the_same_directory_is_refused_unless_forced(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "o"
    first = prompts_file(tmp_path / "first.txt", ["a cat", "a dog"])
    second = prompts_file(tmp_path / "second.txt", ["a ship", "a dog"])
    assert run(*batch(emulator, first, out), env=env)[0] == EXIT_OK
    old = images(out)
    code, _, err = run(*batch(emulator, second, out), env=env)
    assert code == EXIT_USAGE and "another PROMPTS file" in err and "--force-new" in err
    assert generates(emulator) == 2 and images(out) == old
    code, _, err = run(*batch(emulator, second, out, "--force-new"), env=env)
    assert code == EXIT_OK, err
    assert generates(emulator) == 3  # "a dog" is the same request on the same line
    assert images(out)["1~v1.jpeg"] == old["1.jpeg"]
    # a copy of the file under another name asks for nothing new: not refused
    copy = prompts_file(tmp_path / "copy.txt", ["a ship", "a dog"])
    assert run(*batch(emulator, copy, out), env=env)[0] == EXIT_OK
    assert generates(emulator) == 3


def test_whole_images_without_a_journal_count_as_done_and_rebuild_it(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = prompts_file(tmp_path / "p.txt", [f"cat {k}" for k in range(4)])
    out = tmp_path / "o"
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    (out / JOURNAL).unlink()
    (out / "4.jpeg").write_bytes(b"\xff\xd8 cut short by a crash")  # not whole: generated again
    old = images(out)
    code, out_text, err = run(*batch(emulator, prompts, out), env=env)
    assert code == EXIT_OK, err
    assert "3 found in" in out_text
    assert generates(emulator) == 5
    now = images(out)
    assert {k: now[k] for k in ("1.jpeg", "2.jpeg", "3.jpeg")} == {
        k: old[k] for k in ("1.jpeg", "2.jpeg", "3.jpeg")
    }
    assert now["4~v1.jpeg"] == old["4.jpeg"]  # even a broken file is not overwritten
    done = {r["item"] for r in journal(out) if r.get("event") == "done"}
    assert done == {"1", "2", "3", "4"}
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    assert generates(emulator) == 5


# -- disk faults pause --------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EIO])
def test_a_disk_fault_pauses_the_batch_and_the_rerun_bills_nothing_twice(
    code: int,
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompts = prompts_file(tmp_path / "p.txt", [f"cat {k}" for k in range(12)])
    out = tmp_path / "o"
    real = batch_run.write_image
    writes = 0

    def failing(*args: Any, **kwargs: Any) -> str | None:
        nonlocal writes
        writes += 1
        if writes > 3:
            raise OSError(code, "injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_run, "write_image", failing)
    code_, text, err = run(*batch(emulator, prompts, out, "--concurrency", "2", "--json"), env=env)
    assert code_ == EXIT_DISK, err
    summary = json.loads(text.splitlines()[-1])
    assert summary["event"] == "summary" and summary["exit_code"] == EXIT_DISK
    first = generates(emulator)
    assert first <= 3 + 2 + 1  # written, then at most the ones in flight: the rest waited
    assert summary["unwritten"] and all(u["operation_id"] for u in summary["unwritten"])
    assert len(images(out)) == 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    monkeypatch.setattr(batch_run, "write_image", real)
    code_, _, err = run(*batch(emulator, prompts, out, "--retry-failed"), env=env)
    assert code_ == EXIT_OK, err
    assert generates(emulator) == 12  # every prompt exactly once, across both runs
    assert len(images(out)) == 12


def test_an_unwritable_journal_pauses_before_any_generate_it_cannot_record(
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yandex_art.cli import batch_journal

    prompts = prompts_file(tmp_path / "p.txt", [f"cat {k}" for k in range(6)])
    out = tmp_path / "o"
    real = batch_journal.Journal._append
    calls = 0

    def failing(self: Any, data: bytes, *, sync: bool) -> bool:
        nonlocal calls
        calls += 1
        if calls > 4:  # the header, then a few records
            self.fault = self.fault or OSError(errno.ENOSPC, "injected")
            return False
        return bool(real(self, data, sync=sync))

    monkeypatch.setattr(batch_journal.Journal, "_append", failing)
    code, _, err = run(*batch(emulator, prompts, out, "--concurrency", "1"), env=env)
    assert code == EXIT_DISK, err
    first = generates(emulator)
    assert first < 6
    monkeypatch.setattr(batch_journal.Journal, "_append", real)
    code, _, err = run(*batch(emulator, prompts, out), env=env)
    assert code == EXIT_OK, err
    assert generates(emulator) == 6  # images written but not journaled count as done
    assert len(images(out)) == 6


# -- files the tool reads are untrusted -----------------------------------------------------


def test_damaged_journal_lines_are_skipped_and_bad_fields_ignored(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = prompts_file(tmp_path / "p.txt", ["a cat", "a dog", "a frog"])
    out = tmp_path / "o"
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    (out / "1.jpeg").unlink()  # lost: the record below must not make it look done
    (tmp_path / "outside.jpeg").write_bytes((out / "2.jpeg").read_bytes())
    with open(out / JOURNAL, "ab") as file:
        file.write(b'{"item": "x", "event": "done", "path": "\xff\xfe"}\n')
        file.write(b"\xff not utf-8 at all\n")
        file.write(b'{"item": "1", "event": "done", "path": "../outside.jpeg"}\n')
        file.write(b'{"item": "2", "event": "done", "operation_id": 123, "path": "2.jpeg"}\n')
        file.write('{"item": "3", "event": "started", "operation_id": "й'.encode()[:-1])  # torn
    code, _, err = run(*batch(emulator, prompts, out), env=env)
    assert code == EXIT_OK, err
    assert "skipped 2 unreadable line(s)" in err
    assert sorted(images(out)) == ["1.jpeg", "2.jpeg", "3.jpeg"]  # restored by re-attaching
    assert generates(emulator) == 3
    assert (tmp_path / "outside.jpeg").exists()


def test_lines_split_at_newlines_only(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_bytes("a cat\r\na dog\u2028in a hat\nform\x0cfeed\nend\n".encode())
    code, _, err = run(*batch(emulator, prompts, tmp_path / "o"), env=env)
    assert code == EXIT_OK, err
    assert sorted(images(tmp_path / "o")) == ["1.jpeg", "2.jpeg", "3.jpeg", "4.jpeg"]


def test_the_cleanup_removes_only_the_tools_own_temporary_files(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "o"
    out.mkdir()
    mine = out / ".notes.tmp"
    mine.write_text("the user's")
    leftover = out / ".yandex-art-batch.1.jpeg.4242.tmp"
    leftover.write_bytes(b"\xff\xd8 half")
    prompts = prompts_file(tmp_path / "p.txt", ["a cat"])
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    assert mine.read_text() == "the user's" and not leftover.exists()


def test_on_a_full_disk_the_journal_gives_up_its_reserve_to_record_an_operation_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yandex_art.cli import batch_journal

    journal_ = batch_journal.Journal(tmp_path)
    reserve = tmp_path / batch_journal.RESERVE
    assert reserve.stat().st_size > 0
    real = batch_journal.Journal._flush

    def full(self: Any, sync: bool) -> None:
        if reserve.exists():  # the disk is full until the reserve is given up
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, sync)

    monkeypatch.setattr(batch_journal.Journal, "_flush", full)
    try:
        assert journal_.write(sync=True, event="started", item="1", operation_id="op1")
        assert journal_.fault is not None  # the batch pauses all the same
        assert not reserve.exists()
    finally:
        journal_.close()
    assert json.loads((tmp_path / JOURNAL).read_text())["operation_id"] == "op1"


def test_a_journal_of_an_earlier_version_is_adopted_by_the_file_rerun_with_it(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = prompts_file(tmp_path / "p.txt", ["a cat", "a dog"])
    out = tmp_path / "o"
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    # as the version before digests wrote it: no header, no digests
    records = [r for r in journal(out) if r.get("item")]
    for record in records:
        record.pop("digest", None)
    (out / JOURNAL).write_text("".join(json.dumps(r) + "\n" for r in records))
    assert run(*batch(emulator, prompts, out), env=env)[0] == EXIT_OK
    assert generates(emulator) == 2
    other = prompts_file(tmp_path / "other.txt", ["a ship", "a dog"])
    code, _, err = run(*batch(emulator, other, out), env=env)
    assert code == EXIT_USAGE and "another PROMPTS file" in err  # bound to p.txt now


def test_a_directory_replaced_while_the_batch_runs_pauses_it_and_prints_every_lost_id(
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`rm -rf out && mkdir out` while the batch runs: the open journal would take appends
    and lose them with the deleted file, so the batch pauses as for a disk fault and prints
    the operation ids it could not journal."""
    prompts = prompts_file(tmp_path / "p.txt", [f"cat {k}" for k in range(10)])
    out = tmp_path / "o"
    real = batch_run.write_image
    before: list[str] = []  # the images written before the user replaced the directory

    def user_replaces_the_directory(directory: Path, name: str, *args: Any, **kw: Any) -> Any:
        if len(before) == 2:
            shutil.rmtree(out)
            out.mkdir()
        if out.joinpath(JOURNAL).exists():
            before.append(name)
        return real(directory, name, *args, **kw)

    monkeypatch.setattr(batch_run, "write_image", user_replaces_the_directory)
    argv = batch(emulator, prompts, out, "--concurrency", "2", "--json")
    code, text, err = run(*argv, env=env)
    assert code == EXIT_DISK, err
    sent = generates(emulator)
    assert sent <= 3 + 2 + 1  # the ones in flight were finished; no new item was started
    events = [json.loads(line) for line in text.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["exit_code"] == EXIT_DISK
    # every operation the service started reached the user: the first two were written
    # (and then deleted by the user), each one after that is listed as not journaled
    items = {e["item"]: e["operation_id"] for e in events if e["event"] == "item"}
    assert len(set(items.values())) == sent
    lost = {u["item"]: u["operation_id"] for u in summary["unjournaled"]}
    assert len(lost) == len(summary["unjournaled"])  # each once
    assert lost == {k: op for k, op in items.items() if f"{k}.jpeg" not in before}
    assert lost and all(f"{k}: {op}" in err for k, op in lost.items())
    assert "was removed or replaced" in err
    assert not (out / JOURNAL).exists()

    # The rerun in the new directory keeps the images written there after the replacement.
    monkeypatch.setattr(batch_run, "write_image", real)
    kept = len(images(out))
    code, _, err = run(*batch(emulator, prompts, out), env=env)
    assert code == EXIT_OK, err
    assert generates(emulator) == sent + 10 - kept
    assert len(images(out)) == 10

"""The process-wide, disk-cached duration history (``shared_durations`` in ``durations.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yandex_art._runtime import durations
from yandex_art._runtime.durations import DurationModel, hashed_key, shared_durations


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durations, "_SHARED", {})


@pytest.fixture
def xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The cache switched on, under ``tmp_path`` (the suite turns it off)."""
    monkeypatch.delenv("YANDEX_ART_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def _file(directory: Path) -> dict[str, list[list[float]]]:
    data = json.loads((directory / "durations.json").read_text())
    assert data["version"] == 1
    keys: dict[str, list[list[float]]] = data["keys"]
    return keys


def test_cache_file_follows_xdg_and_env_switch(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shared_durations("a", persist=True).cache == xdg / "yandex-art" / "durations.json"
    monkeypatch.setenv("YANDEX_ART_CACHE", "1")
    assert shared_durations("b", persist=True).cache is not None
    for off in ("0", "false", "OFF", "no"):
        monkeypatch.setenv("YANDEX_ART_CACHE", off)
        assert shared_durations(off, persist=True).cache is None


def test_cache_file_defaults_to_the_platform_cache_dir(
    xdg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(Path, "home", staticmethod(lambda: xdg))
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    platforms = [("linux", ".cache"), ("darwin", "Library/Caches"), ("win32", "AppData/Local")]
    for platform, where in platforms:
        monkeypatch.setattr(sys, "platform", platform)
        expected = xdg / where / "yandex-art" / "durations.json"
        assert shared_durations(platform, persist=True).cache == expected


def test_a_new_model_starts_from_what_an_earlier_process_wrote(xdg: Path) -> None:
    model = shared_durations("grpc=h:1", persist=True)
    model.observe("art://f/yandex-art/latest", 3.0, uncertainty=0.0)
    model.observe("art://f/yandex-art/latest", 3.1, uncertainty=0.0)
    durations._flush_all()
    durations._SHARED = {}  # as a new process would
    again = shared_durations("grpc=h:1", persist=True)
    assert again is not model
    assert again.history("art://f/yandex-art/latest") == (3.0, 3.1)
    # another endpoint learns nothing from it
    other = shared_durations("grpc=h:2", persist=True)
    assert other.history("art://f/yandex-art/latest") == ()


def test_clients_of_one_scope_share_one_model(xdg: Path) -> None:
    first = shared_durations("s", persist=True)
    assert shared_durations("s", persist=True) is first
    assert shared_durations("t", persist=True) is not first


def test_the_file_holds_durations_and_times_only(xdg: Path) -> None:
    model = shared_durations("grpc=secret-host:443", persist=True)
    model.observe("art://b1gfolder/yandex-art/latest", 2.5, uncertainty=0.01)
    text = (xdg / "yandex-art" / "durations.json").read_text()
    for secret in ("b1gfolder", "secret-host", "yandex-art/latest"):
        assert secret not in text
    keys = _file(xdg / "yandex-art")
    entries = keys[hashed_key("grpc=secret-host:443", "art://b1gfolder/yandex-art/latest")]
    assert [e[:2] for e in entries] == [[2.5, 0.01]]
    assert abs(entries[0][2] - time.time()) < 60
    assert not [p for p in (xdg / "yandex-art").iterdir() if p.suffix == ".tmp"]


def test_off_switches_leave_no_file(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared_durations("s", persist=False).observe("k", 1.0)
    monkeypatch.setenv("YANDEX_ART_CACHE", "0")
    shared_durations("s", persist=True).observe("k", 1.0)
    durations._flush_all()
    assert not (xdg / "yandex-art").exists()


def test_bounded_and_stale_entries_age_out(tmp_path: Path) -> None:
    cache = tmp_path / "c" / "durations.json"
    cache.parent.mkdir()
    old = time.time() - durations.MAX_AGE - 10
    stale = hashed_key("s", "stale")
    keys = {f"k{i}": [[1.0, 0.0, time.time() - i]] for i in range(durations.MAX_KEYS + 5)}
    keys[stale] = [[9.0, 0.0, old]]
    cache.write_text(json.dumps({"version": 1, "keys": keys}))
    model = DurationModel(cache=cache, scope="s")
    assert model.history("stale") == ()
    for i in range(durations.KEEP + 10):
        model.observe("k0", float(i))
    assert model.flush()
    written = _file(cache.parent)
    assert stale not in written
    assert len(written) <= durations.MAX_KEYS
    mine = written[hashed_key("s", "k0")]
    assert len(mine) == durations.KEEP and mine[-1][0] == durations.KEEP + 9


def test_corrupt_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "durations.json"
    cache.write_text("{not json")
    model = DurationModel(cache=cache)
    assert model.history("k") == ()
    model.observe("k", 1.5)
    assert [e[0] for e in _file(tmp_path)[hashed_key("", "k")]] == [1.5]


def test_unwritable_cache_dir_is_skipped_silently(
    xdg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A path under a regular file can be neither created nor written, even by root
    # (which a read-only mode would not stop).
    blocker = xdg / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    model = shared_durations("s", persist=True)
    model.observe("k", 2.0)
    assert model.history("k") == (2.0,)
    assert model.flush() is True  # nothing left
    model.observe("k", 3.0)  # queued: the failed write was a moment ago
    assert model.flush() is False
    assert model.history("k") == (2.0, 3.0)


def test_missing_home_gives_no_cache(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    model = shared_durations("s", persist=True)
    assert model.cache is None
    model.observe("k", 1.0)
    assert model.history("k") == (1.0,)


_WRITER = """
import sys
from pathlib import Path
from yandex_art._runtime.durations import DurationModel
model = DurationModel(cache=Path(sys.argv[1]) / "durations.json")
for i in range(int(sys.argv[3])):
    model.observe(sys.argv[2], 1.0 + i / 1000)
    assert model.flush()
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    count = 12  # below KEEP, so every entry of both writers must survive
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), key, str(count)])
        for key in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    written = _file(directory)
    assert len(written[hashed_key("", "a")]) == count
    assert len(written[hashed_key("", "b")]) == count


def test_duration_model_seeds_lazily_from_its_cache(tmp_path: Path) -> None:
    cache = tmp_path / "durations.json"
    model = DurationModel(cache=cache, scope="s")  # the file does not exist yet
    entry = [4.0, 0.0, time.time()]
    cache.write_text(json.dumps({"version": 1, "keys": {hashed_key("s", "m"): [entry]}}))
    model.observe("m", 5.0)
    assert model.history("m") == (4.0, 5.0)
    assert [e[0] for e in _file(tmp_path)[hashed_key("s", "m")]] == [4.0, 5.0]


# -- a cache file that cannot be trusted, and no file I/O on an event loop's thread (issue 22)


def test_a_fifo_in_place_of_the_cache_blocks_nothing(tmp_path: Path) -> None:
    import os
    import threading

    cache = tmp_path / "durations.json"
    os.mkfifo(cache)
    model = DurationModel(cache=cache)
    answers: list[tuple[float, ...]] = []

    def use() -> None:
        answers.append(model.history("k"))
        model.observe("k", 1.0)
        model.flush()
        answers.append(model.history("k"))

    worker = threading.Thread(target=use, daemon=True)
    worker.start()
    worker.join(30)  # a hang detector: a blocking open() never returns
    assert not worker.is_alive()
    assert answers == [(), (1.0,)]
    assert [e[0] for e in _file(tmp_path)[hashed_key("", "k")]] == [1.0]  # a file again


def test_deeply_nested_json_is_ignored_and_the_file_repaired(tmp_path: Path) -> None:
    cache = tmp_path / "durations.json"
    cache.write_text("[" * 200_000)
    model = DurationModel(cache=cache)
    assert model.history("k") == ()
    model.observe("k", 2.0)
    assert [e[0] for e in _file(tmp_path)[hashed_key("", "k")]] == [2.0]


def test_implausible_and_oversized_caches_are_not_read(tmp_path: Path) -> None:
    cache = tmp_path / "durations.json"
    now = time.time()
    entries = [[60.0, 0.0, now]] * 4 + [[durations.MAX_PLAUSIBLE + 1, 0.0, now]]
    cache.write_text(json.dumps({"version": 1, "keys": {hashed_key("", "k"): entries}}))
    assert DurationModel(cache=cache).history("k") == (60.0,) * 4
    padded = json.dumps(
        {"version": 1, "keys": {hashed_key("", "k"): entries}, "pad": "x" * 300_000}
    )
    cache.write_text(padded)
    assert DurationModel(cache=cache).history("k") == ()


def test_an_event_loops_thread_does_no_cache_file_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    cache = tmp_path / "durations.json"
    entry = [4.0, 0.0, time.time()]
    cache.write_text(json.dumps({"version": 1, "keys": {hashed_key("", "k"): [entry]}}))
    monkeypatch.setattr(durations, "_LOOP_WAIT", 60.0)  # the read is never late here
    io_threads: list[int] = []
    written = threading.Event()
    real_read, real_merge = durations._read, durations._merge_into

    def read(path: Path) -> dict[str, list[durations.Entry]]:
        io_threads.append(threading.get_ident())
        return real_read(path)

    def merge(path: Path, pending: dict[str, list[durations.Entry]]) -> None:
        io_threads.append(threading.get_ident())
        real_merge(path, pending)
        written.set()

    monkeypatch.setattr(durations, "_read", read)
    monkeypatch.setattr(durations, "_merge_into", merge)
    model = DurationModel(cache=cache)

    async def on_the_loop() -> int:
        assert model.history("k") == (4.0,)  # read from the file, by a worker
        model.observe("k", 1.0)
        return threading.get_ident()

    loop_thread = asyncio.run(on_the_loop())
    assert written.wait(30)
    assert io_threads and loop_thread not in io_threads
    assert [e[0] for e in _file(tmp_path)[hashed_key("", "k")]] == [4.0, 1.0]


def test_a_file_read_late_seeds_the_history_begun_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    cache = tmp_path / "durations.json"
    cache.write_text(
        json.dumps({"version": 1, "keys": {hashed_key("", "k"): [[4.0, 0, time.time()]]}})
    )
    release = threading.Event()
    real_read = durations._read

    def slow(path: Path) -> dict[str, list[durations.Entry]]:
        if threading.current_thread().name == "yandex-art-durations":  # the first read
            release.wait(30)  # a hung file system
        return real_read(path)

    monkeypatch.setattr(durations, "_read", slow)
    monkeypatch.setattr(durations, "_SYNC_WAIT", 0.0)  # not waited for
    model = DurationModel(cache=cache)
    model.observe("k", 1.0)
    assert model.history("k") == (1.0,)
    release.set()
    loaded = model.prefetch()
    assert loaded is not None and loaded.wait(30)
    assert model.history("k") == (4.0, 1.0)  # the file's older entry goes first


_FORK_AND_EXIT = """
import asyncio, json, os, sys
from yandex_art._runtime.durations import shared_durations
model = shared_durations("s", persist=True)
model._lock.acquire()  # as a worker thread would hold it at the moment of the fork
pid = os.fork()
if pid == 0:
    model.observe("child", 1.0)  # the child's locks are its own: no deadlock
    os._exit(0 if model.flush() else 1)
model._lock.release()
assert os.waitpid(pid, 0)[1] == 0
async def main():
    model.observe("parent", 2.0)  # on a loop's thread: written by a worker or at the exit
asyncio.run(main())
"""


def test_a_fork_and_the_exit_keep_the_cache_working(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "YANDEX_ART_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _FORK_AND_EXIT], env=env, timeout=60, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    written = _file(tmp_path / "yandex-art")
    assert {hashed_key("s", "child"), hashed_key("s", "parent")} <= set(written)

"""The process-wide, disk-cached duration history (``shared_durations`` in ``scheduler.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yandex_art._runtime import scheduler
from yandex_art._runtime.scheduler import (
    DurationModel,
    cache_dir,
    cache_enabled,
    hashed_key,
    shared_durations,
)


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "_SHARED", {})


def _file(directory: Path) -> dict[str, list[list[float]]]:
    data = json.loads((directory / "durations.json").read_text())
    assert data["version"] == 1
    keys: dict[str, list[list[float]]] = data["keys"]
    return keys


def test_cache_dir_follows_xdg_and_env_switch(tmp_path: Path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "yandex-art"
    assert cache_enabled({}) and cache_enabled({"YANDEX_ART_CACHE": "1"})
    for off in ("0", "false", "OFF", "no"):
        assert not cache_enabled({"YANDEX_ART_CACHE": off})


def test_a_new_model_starts_from_what_an_earlier_process_wrote(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    model = shared_durations("grpc=h:1", persist=True, env=env)
    model.observe("art://f/yandex-art/latest", 3.0, uncertainty=0.0)
    model.observe("art://f/yandex-art/latest", 3.1, uncertainty=0.0)
    scheduler._flush_all()
    scheduler._SHARED = {}  # as a new process would
    again = shared_durations("grpc=h:1", persist=True, env=env)
    assert again is not model
    assert again.history("art://f/yandex-art/latest") == (3.0, 3.1)
    # another endpoint learns nothing from it
    other = shared_durations("grpc=h:2", persist=True, env=env)
    assert other.history("art://f/yandex-art/latest") == ()


def test_clients_of_one_scope_share_one_model(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    first = shared_durations("s", persist=True, env=env)
    assert shared_durations("s", persist=True, env=env) is first
    assert shared_durations("t", persist=True, env=env) is not first


def test_the_file_holds_durations_and_times_only(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    model = shared_durations("grpc=secret-host:443", persist=True, env=env)
    model.observe("art://b1gfolder/yandex-art/latest", 2.5, uncertainty=0.01)
    text = (tmp_path / "yandex-art" / "durations.json").read_text()
    for secret in ("b1gfolder", "secret-host", "yandex-art/latest"):
        assert secret not in text
    keys = _file(tmp_path / "yandex-art")
    entries = keys[hashed_key("grpc=secret-host:443", "art://b1gfolder/yandex-art/latest")]
    assert [e[:2] for e in entries] == [[2.5, 0.01]]
    assert abs(entries[0][2] - time.time()) < 60
    assert not [p for p in (tmp_path / "yandex-art").iterdir() if p.suffix == ".tmp"]


def test_off_switches_leave_no_file(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), "YANDEX_ART_CACHE": "0"}
    shared_durations("s", persist=True, env=env).observe("k", 1.0)
    shared_durations("s", persist=False, env={"XDG_CACHE_HOME": str(tmp_path)}).observe("k", 1.0)
    scheduler._flush_all()
    assert not (tmp_path / "yandex-art").exists()


def test_bounded_and_stale_entries_age_out(tmp_path: Path) -> None:
    cache = tmp_path / "c" / "durations.json"
    cache.parent.mkdir()
    old = time.time() - scheduler.MAX_AGE - 10
    stale = hashed_key("s", "stale")
    keys = {f"k{i}": [[1.0, 0.0, time.time() - i]] for i in range(scheduler.MAX_KEYS + 5)}
    keys[stale] = [[9.0, 0.0, old]]
    cache.write_text(json.dumps({"version": 1, "keys": keys}))
    model = DurationModel(cache=cache, scope="s")
    assert model.history("stale") == ()
    for i in range(scheduler.KEEP + 10):
        model.observe("k0", float(i))
    assert model.flush()
    written = _file(cache.parent)
    assert stale not in written
    assert len(written) <= scheduler.MAX_KEYS
    mine = written[hashed_key("s", "k0")]
    assert len(mine) == scheduler.KEEP and mine[-1][0] == scheduler.KEEP + 9


def test_corrupt_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "durations.json"
    cache.write_text("{not json")
    model = DurationModel(cache=cache)
    assert model.history("k") == ()
    model.observe("k", 1.5)
    assert [e[0] for e in _file(tmp_path)[hashed_key("", "k")]] == [1.5]


def test_unwritable_cache_dir_is_skipped_silently(tmp_path: Path) -> None:
    # A path under a regular file can be neither created nor written, even by root
    # (which a read-only mode would not stop).
    blocker = tmp_path / "file"
    blocker.write_text("")
    model = shared_durations("s", persist=True, env={"XDG_CACHE_HOME": str(blocker / "cache")})
    model.observe("k", 2.0)
    assert model.history("k") == (2.0,)
    assert model.flush() is True  # nothing left
    model.observe("k", 3.0)  # queued: the failed write was a moment ago
    assert model.flush() is False
    assert model.history("k") == (2.0, 3.0)


def test_missing_home_gives_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert cache_dir({}) is None
    model = shared_durations("s", persist=True, env={})
    model.observe("k", 1.0)
    assert model.history("k") == (1.0,)


_WRITER = """
import sys
from pathlib import Path
from yandex_art._runtime.scheduler import DurationModel
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

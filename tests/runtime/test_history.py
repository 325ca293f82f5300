"""The process-wide, disk-cached duration history (``_runtime/history.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yandex_art._runtime import history
from yandex_art._runtime.history import (
    DurationStore,
    cache_dir,
    cache_enabled,
    hashed_key,
    shared_durations,
)
from yandex_art._runtime.scheduler import DurationModel


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "_SHARED", history._Shared())


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
    history._SHARED.flush_all()
    history._SHARED = history._Shared()  # as a new process would
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
    history._SHARED.flush_all()
    assert not (tmp_path / "yandex-art").exists()


def test_bounded_and_stale_entries_age_out(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir()
    old = time.time() - history.MAX_AGE - 10
    keys = {f"k{i}": [[1.0, 0.0, time.time() - i]] for i in range(history.MAX_KEYS + 5)}
    keys["stale"] = [[9.0, 0.0, old]]
    (directory / "durations.json").write_text(json.dumps({"version": 1, "keys": keys}))
    store = DurationStore(directory)
    assert store.load("stale") == []
    for i in range(history.KEEP + 10):
        store.record("k0", float(i), 0.0)
    assert store.flush()
    written = _file(directory)
    assert "stale" not in written
    assert len(written) <= history.MAX_KEYS
    assert len(written["k0"]) == history.KEEP
    assert written["k0"][-1][0] == history.KEEP + 9


def test_corrupt_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / "durations.json").write_text("{not json")
    store = DurationStore(directory)
    assert store.load("k") == []
    store.record("k", 1.5, 0.0)
    assert [e[0] for e in _file(directory)["k"]] == [1.5]


def test_unwritable_cache_dir_is_skipped_silently(tmp_path: Path) -> None:
    # A path under a regular file can be neither created nor written, even by root
    # (which a read-only mode would not stop).
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"XDG_CACHE_HOME": str(blocker / "cache")}
    model = shared_durations("s", persist=True, env=env)
    model.observe("k", 2.0)
    assert model.history("k") == (2.0,)
    assert history._SHARED.stores[blocker / "cache" / "yandex-art"].flush() is True  # nothing left
    history._SHARED.stores[blocker / "cache" / "yandex-art"].record("k", 3.0, 0.0)
    assert history._SHARED.stores[blocker / "cache" / "yandex-art"].flush() is False


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
from yandex_art._runtime.history import DurationStore
store = DurationStore(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.record(sys.argv[2], 1.0 + i / 1000, 0.0)
    assert store.flush()
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
    assert len(written["a"]) == count and len(written["b"]) == count


def test_duration_model_seeds_lazily_from_its_store() -> None:
    calls: list[str] = []

    class Store:
        def load(self, key: str) -> list[tuple[float, float]]:
            calls.append(key)
            return [(4.0, 0.0)]

        def record(self, key: str, seconds: float, uncertainty: float) -> None:
            calls.append(f"record {key} {seconds}")

    model = DurationModel(store=Store())
    assert calls == []
    model.observe("m", 5.0)
    assert model.history("m") == (4.0, 5.0)
    assert calls == ["m", "record m 5.0"]

"""Quota stores: one budget per folder, shared by processes (local file) and hosts (Redis)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from yandex_art import AIStudio
from yandex_art._runtime import quota
from yandex_art._runtime.errors import ConfigurationError
from yandex_art._runtime.quota import LocalFileStore, QuotaStore, SharedBudget, open_store
from yandex_art._runtime.read_budget import COUNTED, PollScheduler
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory

from ..conftest import ROOT, free_port, redis_server


@pytest.fixture(autouse=True)
def _warnings_start_afresh() -> Iterator[None]:
    quota._WARNED.clear()
    yield
    quota._WARNED.clear()


@pytest.fixture(params=["local", "redis"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a directory, or a Redis URL (two objects there = two processes)."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(tmp_path / "quota")


def store_at(place: str) -> QuotaStore:
    """A new store object at ``place``: its own file handles or connections."""
    if place.startswith("redis://"):
        return quota.RedisStore(place)
    return LocalFileStore(Path(place))


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_a_store_grants_up_to_its_limit_then_says_when_a_place_frees(place: str) -> None:
    store, name = store_at(place), key()
    taken = [store.take(name, 5, 0.4) for _ in range(5)]
    refused = store.take(name, 5, 0.4)

    assert all(t.granted and t.token for t in taken)
    assert not refused.granted and 0 < refused.retry_in <= 0.4
    time.sleep(refused.retry_in + 0.02)
    assert store.take(name, 5, 0.4).granted


def test_a_release_makes_a_grant_count_longer_never_shorter(place: str) -> None:
    store, name = store_at(place), key()
    token = store.take(name, 1, 0.4).token
    assert token is not None
    time.sleep(0.2)
    store.release(name, token, 0.4)  # a read that took 0.2 s counts 0.4 s after its answer

    refused = store.take(name, 1, 0.4)
    assert not refused.granted and refused.retry_in > 0.3


def test_grants_of_one_process_count_in_every_other(place: str) -> None:
    first, second, name = store_at(place), store_at(place), key()
    for _ in range(3):
        assert first.take(name, 5, 5.0).granted
    assert [second.take(name, 5, 5.0).granted for _ in range(3)] == [True, True, False]


def test_a_quota_refusal_halves_the_budget_of_every_process_once_per_burst(place: str) -> None:
    first, second, name = store_at(place), store_at(place), key()
    for _ in range(3):  # three refusals at once are one signal
        first.note_exhausted(name, 8, 2.0)

    assert [second.take(name, 8, 5.0).granted for _ in range(5)] == [True] * 4 + [False]


def test_the_read_budget_passes_quota_refusals_to_the_store(tmp_path: Path) -> None:
    name = key()
    here = PollScheduler(shared=SharedBudget(LocalFileStore(tmp_path), name, 50, COUNTED))
    elsewhere = LocalFileStore(tmp_path)

    here.note_exhausted(2.0)

    assert sum(elsewhere.take(name, 50, COUNTED).granted for _ in range(50)) == 25


def test_a_corrupt_store_file_is_read_as_empty(tmp_path: Path) -> None:
    store, name = LocalFileStore(tmp_path), key()
    (tmp_path / name).write_bytes(b"YAQ1 and then not a header at all, cut sh")

    assert all(store.take(name, 3, 1.0).granted for _ in range(3))
    assert not store.take(name, 3, 1.0).granted


_HOLDER = """
import asyncio, sys
from yandex_art._runtime.quota import SharedBudget, open_store
from yandex_art._runtime.read_budget import COUNTED, PollScheduler

async def main():
    shared = SharedBudget(open_store(sys.argv[1]), sys.argv[2], 50, COUNTED)
    scheduler = PollScheduler(shared=shared)
    grants = [await scheduler.acquire(0) for _ in range(50)]  # never released
    assert all(g.token for g in grants), grants
    print("held", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_process_killed_while_holding_grants_leaks_them_for_a_second_at_most(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec = "local" if kind == "local" else str(request.getfixturevalue("redis_url"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    name = key()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, spec, name], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    killed = time.monotonic()
    store = store_at(spec if kind == "redis" else str(tmp_path / "yandex-art" / "quota"))
    assert not store.take(name, 50, COUNTED).granted  # the dead process's grants still count

    # Every grant was taken before the kill: a window and its guard later, all are back.
    time.sleep(max(0.0, killed + COUNTED + 0.03 - time.monotonic()))
    assert sum(store.take(name, 50, COUNTED).granted for _ in range(50)) == 50


def _generate(sdk: AIStudio, count: int) -> int:
    model = sdk.models.image_generation("yandex-art")
    operations = [model.run_deferred(f"a cat {k}") for k in range(count)]
    return sum(len(op.wait(poll_timeout=30).image_bytes) > 0 for op in operations)


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=0.2) as emu:
        yield emu


def _quota_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "yandex_art.quota" and r.levelno >= logging.WARNING
    ]


def test_an_unreachable_store_warns_once_and_every_image_still_comes(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis")
    caplog.set_level(logging.DEBUG, logger="yandex_art")
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    started = time.monotonic()
    with emulator.sdk(quota_store=url) as sdk:
        assert _generate(sdk, 6) == 6
    with emulator.sdk(quota_store=url) as sdk:  # the same store in the process: no new warning
        assert _generate(sdk, 2) == 2

    assert time.monotonic() - started < 10
    assert len(warnings := _quota_warnings(caplog)) == 1
    assert "127.0.0.1" in warnings[0] and "own budget" in warnings[0]


def test_a_store_that_dies_mid_run_warns_once_and_every_image_still_comes(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="yandex_art")
    server = redis_server()
    url = server.__enter__()
    with emulator.sdk(quota_store=url) as sdk:
        shared = sdk._core.scheduler.shared
        assert shared is not None
        try:
            assert _generate(sdk, 3) == 3
            assert shared.take_now().token is not None and not _quota_warnings(caplog)
        finally:
            server.__exit__(None, None, None)  # the store dies; the client goes on
        started = time.monotonic()
        assert _generate(sdk, 4) == 4

    assert time.monotonic() - started < 10
    assert len(_quota_warnings(caplog)) == 1


def test_a_store_locked_for_ever_warns_once_and_never_hangs(
    emulator: Emulator, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG, logger="yandex_art")
    with emulator.sdk(quota_store=LocalFileStore(tmp_path)) as sdk:
        shared = sdk._core.scheduler.shared
        assert shared is not None
        with open(tmp_path / shared.key, "a") as stuck:  # a stopped process holding the lock
            fcntl.flock(stuck, fcntl.LOCK_EX)
            assert _generate(sdk, 4) == 4

    assert len(_quota_warnings(caplog)) == 1


def test_a_cache_directory_that_cannot_exist_falls_back_with_one_warning(
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG, logger="yandex_art")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    for _ in range(2):
        with emulator.sdk() as sdk:
            assert sdk._core.quota_store is None
            assert _generate(sdk, 1) == 1

    assert len(_quota_warnings(caplog)) == 1


def test_the_store_is_chosen_by_argument_then_environment_then_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env: dict[str, str] = {}
    local = open_store(None, env)
    assert isinstance(local, LocalFileStore)
    assert local.directory == tmp_path / "yandex-art" / "quota"
    assert open_store(None, {**env, "YANDEX_ART_QUOTA_STORE": "process"}) is None
    assert open_store("local", {**env, "YANDEX_ART_QUOTA_STORE": "process"}) is local
    with pytest.raises(ConfigurationError, match="quota_store"):
        open_store("memcached://somewhere", env)


def test_the_budget_is_keyed_by_endpoint_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def client(folder: str, endpoint: str) -> AIStudio:
        return AIStudio(folder_id=folder, auth="k", endpoint=endpoint, verify=False, env={})

    fill, same = client("f1", "127.0.0.1:1"), client("f1", "127.0.0.1:1")
    other_folder, other_endpoint = client("f2", "127.0.0.1:1"), client("f1", "127.0.0.1:2")

    async def hold_all() -> None:
        for _ in range(50):
            await fill._core.scheduler.acquire(0)

    asyncio.run(hold_all())

    def may_read(sdk: AIStudio) -> bool:
        shared = sdk._core.scheduler.shared
        assert shared is not None
        return shared.take_now().granted

    assert not may_read(same)
    assert may_read(other_folder)
    assert may_read(other_endpoint)


def test_process_keeps_the_budget_in_memory(tmp_path: Path) -> None:
    sdk = AIStudio(folder_id="f", auth="k", quota_store="process", env={})
    assert sdk._core.quota_store is None and sdk._core.scheduler.shared is None
    assert sdk._core.generate_quota() == ()


def test_shared_budget_survives_a_store_that_raises() -> None:
    class Broken(QuotaStore):
        name = "broken"

        def take(self, key: str, limit: int, hold: float) -> quota.Taken:
            raise RuntimeError("boom")

        release = note_exhausted = take  # type: ignore[assignment]

        def fresh(self) -> QuotaStore:
            return self

    shared = SharedBudget(Broken(), "k", 5, 1.0)
    assert shared.take_now().granted and shared.take_now().token is None
    shared.note_exhausted(1.0)
    shared.release("t")


def test_files_of_budgets_unused_for_two_days_are_collected(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    stale, live = key(), key()
    assert store.take(stale, 5, 1.0).granted and store.take(live, 5, 1.0).granted
    two_days_ago = time.time() - 2 * 86400 - 60
    os.utime(tmp_path / stale, (two_days_ago, two_days_ago))

    LocalFileStore(tmp_path)  # another process starts

    assert not (tmp_path / stale).exists() and (tmp_path / live).exists()
    assert store.take(stale, 5, 1.0).granted  # the old handle notices and opens the new file
    assert (tmp_path / stale).exists()

"""The emulator's state file and process robustness: corrupt, contested, unwritable, killed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from yandex_art.emulator import Emulator, EmulatorConfigError, state_keeper

from .conftest import AUTH, body

GENERATE = "/foundationModels/v1/imageGenerationAsync"


def _record(**changes: Any) -> dict[str, Any]:
    record = {
        "id": "fbvabc",
        "created_at": 1.0,
        "modified_at": 1.0,
        "created_by": "ajeuser",
        "prompt_sha256": "0" * 64,
        "seed": 1,
        "width": 64,
        "height": 64,
        "mime_type": "image/jpeg",
        "model_version": "1",
        "outcome": "image",
        "finish_at": 2.0,
        "done": True,
        "done_at": 2.0,
    }
    record.update(changes)
    return record


def _state(records: list[dict[str, Any]]) -> str:
    return json.dumps({"version": 2, "operations": records})


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(os.urandom(64) + b"\xff\xfe\x00", id="binary-garbage"),
        pytest.param(b"\x00" * 10, id="zeros"),
        pytest.param(_state([_record(width=10**9, height=10**9)]).encode(), id="absurd-size"),
        pytest.param(_state([_record(width=0)]).encode(), id="zero-width"),
        pytest.param(_state([_record(finish_at=1e400)]).encode(), id="infinite-time"),
        pytest.param(_state([_record(id="x" * 10_000)]).encode(), id="huge-id"),
        pytest.param(_state([_record(seed=True)]).encode(), id="bool-seed"),
        pytest.param(_state([_record(), _record()]).encode(), id="duplicate-ids"),
        pytest.param(_state([{"id": "fbvabc"}]).encode(), id="missing-fields"),
        pytest.param(b"[" * 100_000, id="deep-nesting"),
        pytest.param(json.dumps({"version": 3, "operations": []}).encode(), id="version-3"),
        pytest.param(json.dumps({"version": True, "operations": []}).encode(), id="version-true"),
        pytest.param(json.dumps({"version": 2.0, "operations": []}).encode(), id="version-2.0"),
    ],
)
def test_a_corrupt_state_file_is_refused_at_start(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    with pytest.raises(EmulatorConfigError, match="state file"):
        Emulator.start(state_file=state)
    assert state.read_bytes() == content  # left as it was, for the user to look at


def _cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "yandex_art", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n" + os.urandom(200), id="png"),
        pytest.param(json.dumps({"version": 3, "operations": []}).encode(), id="version-3"),
    ],
)
def test_the_cli_exits_2_with_a_message_on_a_corrupt_state_file(
    tmp_path: Path, content: bytes
) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    process = _cli("--state", str(state))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "state file" in err and "corrupt" in err
    assert "Traceback" not in err and out == ""
    assert state.read_bytes() == content  # left as it was


def test_a_temporary_state_file_left_by_a_kill_is_removed_and_only_it(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(_state([_record()]))
    stale = tmp_path / ".state.json.emulator-k1ll3d9x.tmp"
    stale.write_text('{"version": 2, "operations": [')  # a write cut short by kill -9
    mine = tmp_path / ".state.json.backup.tmp"
    mine.write_text("the user's")
    with Emulator.start(generation_seconds=0, state_file=state):
        assert not stale.exists() and mine.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [mine.name]


@pytest.mark.parametrize("where", ["missing-dir", "under-a-file", "a-directory"])
def test_an_unwritable_state_path_is_refused_at_start(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    path = {
        "missing-dir": tmp_path / "nowhere" / "state.json",
        "under-a-file": tmp_path / "file" / "state.json",
        "a-directory": tmp_path / "dir",
    }[where]
    with pytest.raises(EmulatorConfigError, match="state file"):
        Emulator.start(state_file=path)


def test_a_second_emulator_on_the_same_state_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator.start(generation_seconds=0, state_file=state):
        with pytest.raises(EmulatorConfigError, match="in use by another emulator"):
            Emulator.start(generation_seconds=0, state_file=state)
    # released on close: the next one starts
    Emulator.start(generation_seconds=0, state_file=state).close()


def test_write_errors_are_logged_and_retried_without_losing_operations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state.json"
    real_save = state_keeper.save_state
    failures = {"left": 0}

    def flaky_save(path: Path, records: list[dict[str, Any]]) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(28, "No space left on device")
        real_save(path, records)

    monkeypatch.setattr(state_keeper, "save_state", flaky_save)
    ids = []
    with (
        caplog.at_level(logging.WARNING, logger="yandex_art.emulator.state_keeper"),
        Emulator.start(generation_seconds=0, state_file=state, state_flush_seconds=0.01) as emu,
        httpx.Client(base_url=emu.rest_url, headers=AUTH, timeout=30) as client,
    ):
        for round_ in range(3):
            failures["left"] = 3  # the next three writes fail, every round
            answer = client.post(GENERATE, json=body(f"cat {round_}"))
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["id"])
            # acknowledged means written: it is in the file already
            saved = {o["id"] for o in json.loads(state.read_text())["operations"]}
            assert ids[-1] in saved
    assert "No space left on device" in caplog.text and "retrying" in caplog.text
    assert {o["id"] for o in json.loads(state.read_text())["operations"]} == set(ids)


def test_every_acknowledged_operation_survives_a_kill(tmp_path: Path) -> None:
    """SIGKILL right after the last answer: a restart still knows every operation."""
    state = tmp_path / "state.json"
    process = _cli("--generation-seconds", "30", "--state", str(state), "--read-quota", "0")
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        with httpx.Client(base_url=first["rest"], headers=AUTH, timeout=30) as client:
            ids = [client.post(GENERATE, json=body(f"cat {i}")).json()["id"] for i in range(15)]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with Emulator.start(generation_seconds=30, state_file=state) as again:
        assert set(ids) <= set(again.stats().operations)


def test_the_api_key_given_is_never_printed(tmp_path: Path) -> None:
    secret = "AQVN-not-a-real-key-but-secret"
    process = _cli("--api-key", secret, "--generation-seconds", "0")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        rest_out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert json.loads(first)["api_key"] is None
    assert secret not in first + rest_out + err

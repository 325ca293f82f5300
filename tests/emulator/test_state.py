"""The state file: operations survive a restart; writes are atomic."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from yandex_art.emulator import Emulator, EmulatorConfig, EmulatorConfigError

from .conftest import AUTH, body

GENERATE = "/foundationModels/v1/imageGenerationAsync"


def test_finished_and_running_operations_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    config = EmulatorConfig(generation_seconds=0.3, state_file=state, state_flush_seconds=0.05)
    with Emulator.start(config) as first, httpx.Client(base_url=first.rest_url, headers=AUTH) as c:
        done_id = c.post(GENERATE, json=body(seed=5)).json()["id"]
        time.sleep(0.35)
        done = c.get(f"/operations/{done_id}").json()
        assert done["done"]
        running_id = c.post(GENERATE, json=body(seed=6)).json()["id"]
        cancelled_id = c.post(GENERATE, json=body(seed=7)).json()["id"]
        c.get(f"/operations/{cancelled_id}:cancel")
    saved = json.loads(state.read_text())
    assert {o["id"] for o in saved["operations"]} == {done_id, running_id, cancelled_id}
    assert "image" not in saved["operations"][0]  # drawn again from prompt and seed

    with (
        Emulator.start(config) as second,
        httpx.Client(base_url=second.rest_url, headers=AUTH) as c,
    ):
        again = c.get(f"/operations/{done_id}").json()
        assert again == done  # same id, times and image bytes
        still = c.get(f"/operations/{running_id}").json()
        if not still["done"]:
            time.sleep(0.35)
            still = c.get(f"/operations/{running_id}").json()
        assert still["done"] and "image" in still["response"]
        assert c.get(f"/operations/{cancelled_id}").json()["error"]["code"] == 1
        assert second.stats().operations[done_id].state == "succeeded"


def test_state_is_written_atomically(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator.start(generation_seconds=0, state_file=state, state_flush_seconds=0.01) as emu:
        with httpx.Client(base_url=emu.rest_url, headers=AUTH) as client:
            for _ in range(20):
                client.post(GENERATE, json=body())
                json.loads(state.read_text()) if state.exists() else None  # always whole JSON
    assert len(json.loads(state.read_text())["operations"]) == 20
    # no temporary files left (the lock file stays, empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]


def test_expired_operations_are_dropped_on_load(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator.start(generation_seconds=0, state_file=state) as emu:
        operation_id = httpx.post(emu.rest_url + GENERATE, json=body(), headers=AUTH).json()["id"]
    with Emulator.start(generation_seconds=0, state_file=state, retention_seconds=0) as emu:
        answer = httpx.get(f"{emu.rest_url}/operations/{operation_id}", headers=AUTH)
        assert answer.status_code == 404


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"version": 99}', '{"version": 1, "operations": [{"id": 1}]}']
)
def test_a_broken_state_file_is_reported(tmp_path: Path, content: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content)
    with pytest.raises(EmulatorConfigError, match="state file"):
        Emulator.start(state_file=state)

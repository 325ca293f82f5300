"""Issue 19, "Smaller": each behaviour below was seen broken before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import run
from yandex_art import (
    AIStudio,
    ConfigurationError,
    InvalidArgumentError,
    TransportError,
)
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=30, image_long_side=64) as emu:
        yield emu


BAD_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("folder_id", {"folder_id": "a/b"}),
    ("folder_id", {"folder_id": "b1g folder"}),
    ("retry_policy", {"retry_policy": "x"}),
    ("endpoint", {"endpoint": 5}),
    ("address", {"address": 5}),
    ("service_map", {"service_map": 5}),
    ("service_map", {"service_map": {"operation": 5}}),
    ("enable_server_data_logging", {"enable_server_data_logging": "yes"}),
    ("allow_insecure", {"allow_insecure": "yes"}),
    ("env", {"env": 5}),
    ("timeout", {"timeout": 0}),
    ("default_headers", {"default_headers": {"authorization": "Api-Key other"}}),
    ("default_headers", {"default_headers": {"x-app": 5}}),
    ("interceptors", {"interceptors": "not a list"}),
]


@pytest.mark.parametrize(("name", "kwargs"), BAD_ARGUMENTS, ids=[f"{n}" for n, _ in BAD_ARGUMENTS])
@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_bad_constructor_argument_is_refused_at_construction(
    name: str, kwargs: dict[str, Any], transport: str
) -> None:
    settings: dict[str, Any] = {"folder_id": "b1g", "auth": "k", "env": {}, "transport": transport}
    with pytest.raises(ConfigurationError, match=name):
        AIStudio(**(settings | kwargs))


def test_wait_timeout_zero_is_refused_once_before_any_read(emulator: Emulator) -> None:
    emulator.reset()
    with emulator.sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        with pytest.raises(InvalidArgumentError) as at_start:
            model.run_deferred("a cat", timeout=0)
        operation = model.run_deferred("a cat")
        for call in (operation.wait, operation.get_status, operation.get_result):
            with pytest.raises(InvalidArgumentError) as caught:
                call(timeout=0)
            assert str(caught.value) == str(at_start.value)  # the same check as elsewhere
        assert operation.reads == 0
        assert emulator.stats().reads == 0


def test_a_rest_read_of_id_colon_cancel_cancels_nothing(emulator: Emulator) -> None:
    emulator.reset()
    with emulator.sdk() as grpc_sdk, emulator.sdk("rest") as rest_sdk:
        operation = grpc_sdk.models.image_generation("yandex-art").run_deferred("a cat")
        odd = rest_sdk.models.image_generation("yandex-art").attach_deferred(
            f"{operation.id}:cancel"
        )
        with pytest.raises(TransportError) as caught:
            odd.get_status()
        assert caught.value.code == "NOT_FOUND"
        assert emulator.stats().operations[operation.id].state == "running"
        # the real route still cancels
        assert (
            rest_sdk.models.image_generation("yandex-art")
            .attach_deferred(operation.id)
            .cancel()
            .is_cancelled
        )


def test_an_in_process_emulator_at_debug_logs_no_credential(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import logging
        logging.basicConfig(level=logging.DEBUG)
        from yandex_art.emulator import Emulator, EmulatorConfig
        config = EmulatorConfig(generation_seconds=0, api_keys=["sekrit-key-123"])
        with Emulator.start(config) as emu:
            for transport in ("grpc", "rest"):
                with emu.sdk(transport) as sdk:
                    sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
        print("generated")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert "generated" in done.stdout, done.stderr[-2000:]
    assert "DEBUG:hpack" not in done.stderr
    assert "sekrit-key-123" not in done.stdout + done.stderr


def test_batch_off_a_terminal_prints_progress_within_6_seconds(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.reset()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cat\na blue dog\n")
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "YC_API_KEY": emulator.auth,
        "YC_FOLDER_ID": emulator.folder_id,
    }
    argv = [sys.executable, "-m", "yandex_art", "batch", str(prompts), "-o", str(tmp_path / "o")]
    argv += ["--endpoint", emulator.grpc_address]
    started = time.monotonic()
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            lines.append((time.monotonic() - started, raw.decode(errors="replace")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = started + 15
        while time.monotonic() < deadline and not any("0/2 done" in line for _, line in lines):
            time.sleep(0.1)
    finally:
        process.kill()
        process.wait()
    progress = [(at, line) for at, line in lines if "done" in line and "failed" in line]
    assert progress, lines
    # counted from the process start (imports included): the first line comes at once
    assert progress[0][0] < 6, progress


def test_attach_json_of_an_unknown_id_reports_not_found_not_started(emulator: Emulator) -> None:
    emulator.reset()
    env = {"YC_API_KEY": emulator.auth, "YC_FOLDER_ID": emulator.folder_id}
    code, out, _ = run(
        "attach", "fbvnosuchoperation00", "--endpoint", emulator.grpc_address, "--json", env=env
    )
    events = [json.loads(line) for line in out.splitlines()]
    assert [e.get("event") for e in events if e.get("event") == "started"] == []
    assert events[-1]["error"]["code"] == "NOT_FOUND"
    assert code == 2


@pytest.mark.parametrize(
    ("variable", "value"), [("YANDEX_ART_LOG", "verbose"), ("YC_LOG_LEVEL", "loud")]
)
def test_a_log_level_not_understood_is_warned_about(variable: str, value: str) -> None:
    with pytest.warns(RuntimeWarning, match=f"{variable}='{value}' is not understood"):
        AIStudio(folder_id="b1g", auth="k", env={variable: value}).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AIStudio(folder_id="b1g", auth="k", env={"YANDEX_ART_LOG": ""}).close()


def test_run_deferred_takes_the_client_wide_timeout() -> None:
    """A model method without timeout= uses AIStudio(timeout=...), not a fixed 60 s."""
    import inspect

    from yandex_art import AIStudio

    with AIStudio(folder_id="b1gfolder", auth="k", address="127.0.0.1:1", env={}) as sdk:
        model = sdk.models.image_generation("yandex-art")
        assert inspect.signature(model.run_deferred).parameters["timeout"].default is None


@pytest.mark.parametrize("prompt", [b"x", bytearray(b"x"), memoryview(b"x")])
def test_a_bytes_prompt_is_refused_as_such_before_sending(prompt: object) -> None:
    from yandex_art import AIStudio

    with AIStudio(folder_id="b1gfolder", auth="k", address="127.0.0.1:1", env={}) as sdk:
        model = sdk.models.image_generation("yandex-art")
        with pytest.raises(TypeError, match=r"a prompt is text .*decode it first"):
            model.run_deferred(prompt)  # type: ignore[arg-type]

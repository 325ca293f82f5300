"""The yandex-art command: generate, attach, emulator; exit codes and messages."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from yandex_art.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OPERATION,
    EXIT_TIMEOUT,
    EXIT_TRANSPORT,
    EXIT_USAGE,
    main,
)
from yandex_art.emulator import Emulator

from .helpers import run

NO_CREDENTIALS: dict[str, str] = {}


def _image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


def test_generate_with_embedded_emulator_writes_a_jpeg(tmp_path: Path) -> None:
    target = tmp_path / "out.jpeg"
    code, out, err = run(
        "generate",
        "--emulator",
        "--seed",
        "3",
        "--ratio",
        "16:9",
        "-o",
        str(target),
        "a",
        "red",
        "cat",
    )
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0].startswith("operation ") and len(lines[0].split()[1]) == 20
    assert "saved" in lines[-1] and str(target) in lines[-1]
    assert (_image(target).format, _image(target).size) == ("JPEG", (1024, 576))
    assert "emulator" in err


def test_generate_json_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(
        "generate", "--emulator", "--json", "--transport", "rest", "--mime-type", "png", "a cat"
    )
    assert code == EXIT_OK
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0] == {"event": "started", "operation_id": events[0]["operation_id"]}
    final = events[-1]
    assert final["event"] == "succeeded"
    assert final["operation_id"] == events[0]["operation_id"]
    assert final["path"] == f"{final['operation_id']}.png"
    assert (final["mime_type"], final["width"], final["height"]) == ("image/png", 1024, 1024)
    assert _image(tmp_path / final["path"]).format == "PNG"


def test_missing_credentials_say_how_to_set_them() -> None:
    code, out, err = run("generate", "a cat")
    assert code == EXIT_USAGE
    assert out == ""
    for hint in ("YC_API_KEY", "YC_IAM_TOKEN", "YC_OAUTH_TOKEN", "YC_FOLDER_ID", "--emulator"):
        assert hint in err
    code, out, _ = run("generate", "--json", "a cat")
    assert code == EXIT_USAGE
    event = json.loads(out)
    assert event["event"] == "error" and event["exit_code"] == EXIT_USAGE
    assert event["error"]["kind"] == "no_credentials"


def test_missing_folder() -> None:
    code, _, err = run("generate", "a cat", env={"YC_API_KEY": "k"})
    assert code == EXIT_USAGE
    assert "YC_FOLDER_ID" in err and "--folder-id" in err


def test_generate_against_a_running_emulator(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "cat.jpeg"
    code, out, err = run(
        "generate", "--endpoint", emulator.grpc_address, "-o", str(target), "a cat", env=env
    )
    assert code == EXIT_OK, err
    operation_id = out.splitlines()[0].split()[1]
    assert f"yandex-art attach {operation_id} -o {target}" in err  # how to resume
    assert emulator.stats().operations[operation_id].state == "succeeded"
    assert target.read_bytes().startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_attach(emulator: Emulator, env: dict[str, str], tmp_path: Path, transport: str) -> None:
    with emulator.sdk() as sdk:
        operation = (
            sdk.models.image_generation("yandex-art").configure(seed=9).run_deferred("a dog")
        )
        expected = operation.wait().image_bytes
    endpoint = emulator.rest_address if transport == "rest" else emulator.grpc_address
    target = tmp_path / "dog.jpeg"
    code, out, err = run(
        "attach",
        operation.id,
        "-o",
        str(target),
        "--endpoint",
        endpoint,
        "--transport",
        transport,
        env=env,
    )
    assert code == EXIT_OK, err
    assert out.splitlines()[0] == f"operation {operation.id}"
    assert target.read_bytes() == expected


def test_attach_unknown_id(emulator: Emulator, env: dict[str, str]) -> None:
    code, out, err = run(
        "attach", "fbvnosuchoperation00", "--endpoint", emulator.grpc_address, "--json", env=env
    )
    assert code == EXIT_USAGE
    assert "NOT_FOUND" in err and "hint:" in err
    assert json.loads(out.splitlines()[-1])["error"]["code"] == "NOT_FOUND"


def test_failed_operation_exits_3(emulator: Emulator, env: dict[str, str], tmp_path: Path) -> None:
    emulator.faults.fail_generations(1, code=13, message="the model broke")
    code, out, err = run(
        "generate",
        "--endpoint",
        emulator.grpc_address,
        "--json",
        "-o",
        str(tmp_path / "x.jpeg"),
        "cat",
        env=env,
    )
    assert code == EXIT_OPERATION
    assert "the model broke" in err
    event = json.loads(out.splitlines()[-1])
    assert event["error"]["code"] == 13 and event["operation_id"]
    assert not (tmp_path / "x.jpeg").exists()


def test_transport_error_exits_4(env: dict[str, str]) -> None:
    code, _, err = run("generate", "--endpoint", "127.0.0.1:1", "cat", env=env)
    assert code == EXIT_TRANSPORT
    assert "UNAVAILABLE" in err and "127.0.0.1:1" in err


def test_wait_timeout_exits_5_with_resume_hint(env: dict[str, str]) -> None:
    with Emulator.start(generation_seconds=30) as slow:
        code, out, err = run(
            "generate", "--endpoint", slow.grpc_address, "--timeout", "0.2", "cat", env=env
        )
    assert code == EXIT_TIMEOUT
    operation_id = out.splitlines()[0].split()[1]
    assert f"resume with: yandex-art attach {operation_id}" in err


def test_rejected_request_exits_2(emulator: Emulator, env: dict[str, str]) -> None:
    code, _, err = run("generate", "--endpoint", emulator.grpc_address, "x" * 501, env=env)
    assert code == EXIT_USAGE
    assert "PROMPT: must be at most 500 characters" in err  # the operand, not messages[0].text


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--ratio", "16x9", "cat"],
        ["generate", "--ratio", "1:2:3", "cat"],
        ["generate", "--seed", "fifty", "cat"],
        ["generate"],
        ["emulator", "--grpc-port", "70000"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert code == EXIT_USAGE
    assert "usage:" in err and out == ""


def test_unwritable_output_is_refused_before_starting(tmp_path: Path) -> None:
    code, out, err = run(
        "generate", "--emulator", "-o", str(tmp_path / "missing" / "x.jpeg"), "cat"
    )
    assert code == EXIT_USAGE
    assert "does not exist" in err and out == ""


def test_emulator_rejects_remote_host_without_flag() -> None:
    code, _, err = run("emulator", "--host", "0.0.0.0")
    assert code == EXIT_USAGE
    assert "--allow-remote" in err


def test_the_emulator_command_defaults_are_the_emulator_configs() -> None:
    from yandex_art.cli import build_parser
    from yandex_art.cli.emulator import emulator_config
    from yandex_art.emulator import EmulatorConfig

    args = build_parser().parse_args(["emulator"])
    assert emulator_config(args, EmulatorConfig) == EmulatorConfig()


def test_the_cli_builds_its_flags_without_loading_the_emulators_servers() -> None:
    code = (
        "import sys; from yandex_art.cli import build_parser; build_parser(); "
        "print([m for m in ('grpclib', 'aiohttp', 'yandex_art.emulator.server') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- as separate processes ---------------------------------------------------------------


def _python(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YC_")}
    env["YC_METADATA_ADDR"] = "127.0.0.1:1"  # never the real metadata service
    env.update(kwargs.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "yandex_art", *args], env=env, **kwargs)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_emulator_command_prints_its_addresses_first(tmp_path: Path, stop: signal.Signals) -> None:
    state = tmp_path / "state.json"
    process = _python(
        "emulator",
        "--generation-seconds",
        "0",
        "--state",
        str(state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["grpc"].startswith("127.0.0.1:")
        assert first["rest"].startswith("http://127.0.0.1:")
        env = {"YC_API_KEY": first["api_key"], "YC_FOLDER_ID": first["folder_id"]}
        code, out, err = run(
            "generate", "--endpoint", first["grpc"], "-o", str(tmp_path / "a.jpeg"), "cat", env=env
        )
        assert code == EXIT_OK, err
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    assert "emulator stopped" in process.stderr.read().decode()
    operation_id = out.splitlines()[0].split()[1]
    assert operation_id in state.read_text()


def test_module_entry_point_writes_image_to_stdout() -> None:
    process = _python(
        "generate", "--emulator", "-o", "-", "cat", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    data, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert data.startswith(b"\xff\xd8\xff")
    assert b"operation " in err


def test_interrupted_generate_exits_130_and_says_how_to_resume() -> None:
    with Emulator.start(generation_seconds=30) as slow:
        process = _python(
            "generate",
            "--endpoint",
            slow.grpc_address,
            "cat",
            env={"YC_API_KEY": slow.auth, "YC_FOLDER_ID": slow.folder_id},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            first = process.stdout.readline().decode()
            assert first.startswith("operation ")
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == EXIT_INTERRUPTED
    operation_id = first.split()[1]
    assert f"yandex-art attach {operation_id}" in err.decode()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_on_a_terminal(tmp_path: Path) -> None:
    out, err = io.StringIO(), _Terminal()
    code = main(
        ["generate", "--emulator", "-o", str(tmp_path / "x.jpeg"), "cat"],
        env={},
        stdout=out,
        stderr=err,
    )
    assert code == EXIT_OK
    text = err.getvalue()
    assert "\r" in text and "generating (" in text
    assert text.rstrip().endswith("\x1b[K")  # the live line is cleared at the end


def test_auto_emulator_picks_the_emulator_only_without_credentials(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    # no credentials: the embedded emulator draws the image
    code, out, err = run("generate", "--auto-emulator", "-o", str(tmp_path / "a.jpeg"), "a cat")
    assert code == EXIT_OK, err
    assert "embedded emulator" in err
    assert (tmp_path / "a.jpeg").read_bytes().startswith(b"\xff\xd8\xff")
    # credentials and a folder: the configured service is used (here, the running emulator)
    code, out, err = run(
        "generate",
        "--auto-emulator",
        "--endpoint",
        emulator.grpc_address,
        "-o",
        str(tmp_path / "b.jpeg"),
        "a cat",
        env=env,
    )
    assert code == EXIT_OK, err
    assert "embedded emulator" not in err
    operation_id = out.splitlines()[0].split()[1]
    assert emulator.stats().operations[operation_id].state == "succeeded"


def test_auto_emulator_resolves_cloud_credentials_once(emulator: Emulator, tmp_path: Path) -> None:
    """On a cloud VM (the metadata service answers), deciding and connecting share one probe."""
    from tests.runtime.test_auth_sources import MetadataServer

    emulator.reset()
    metadata = MetadataServer()
    try:
        image = tmp_path / "cat.jpeg"
        code, _, err = run(
            "generate",
            "--auto-emulator",
            "--endpoint",
            emulator.grpc_address,
            "-o",
            str(image),
            "a cat",
            env={"YC_FOLDER_ID": emulator.folder_id, "YC_METADATA_ADDR": metadata.addr},
        )
    finally:
        metadata.close()
    assert code == EXIT_OK, err
    assert image.read_bytes()[:2] == b"\xff\xd8"
    assert emulator.stats().calls["generate"] == 1  # the real-service path, not an embedded one
    assert len(metadata.requests) == 1

"""Issue 21 end to end: `cassette record` in front of an emulator in another process, our SDK
(gRPC and REST) and the official SDK through it; then `cassette replay` with the emulator
stopped gives both SDKs the same images, and a changed request is told what differs."""

from __future__ import annotations

import importlib.util
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cassette.conftest import CliServer
from yandex_art import AIStudio, TransportError
from yandex_art.cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("yandex_ai_studio_sdk") is None,
    reason="the official SDK (yandex-ai-studio-sdk) is not installed",
)
FOLDER = "b1grecorded"
PROMPT = "a red cat"


@dataclass
class Recording:
    path: Path
    key: str
    images: dict[str, bytes] = field(default_factory=dict)
    recorder_log: str = ""


def _ours(address: str, transport: str, key: str, seed: int = 7) -> bytes:
    with AIStudio(folder_id=FOLDER, auth=key, address=address, transport=transport) as sdk:  # type: ignore[arg-type]
        model = sdk.models.image_generation("yandex-art").configure(seed=seed, width_ratio=2)
        return model.run_deferred(PROMPT).wait(poll_timeout=30).image_bytes


def _official(endpoint: str, key: str) -> bytes:
    from yandex_ai_studio_sdk import AIStudio as OfficialAIStudio

    sdk = OfficialAIStudio(folder_id=FOLDER, auth=key, endpoint=endpoint, verify=False)
    model = sdk.models.image_generation("yandex-art").configure(seed=7, width_ratio=2)
    image: bytes = model.run_deferred(PROMPT).wait(poll_interval=0.05).image_bytes
    return image


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """One recording for the module: emulator and recorder in their own processes."""
    path = tmp_path_factory.mktemp("cassette") / "generate.json"
    key = "AQVN" + secrets.token_hex(16)  # a fresh key, to look for in the file
    emulator = CliServer("emulator", "--generation-seconds", "0.2", "--read-quota", "0")
    try:
        recorder = CliServer(
            "cassette", "record", "-o", str(path),
            "--upstream", emulator.grpc, "--upstream-rest", "http://" + emulator.rest,
        )  # fmt: skip
        recording = Recording(path, key)
        try:
            recording.images["grpc"] = _ours(recorder.grpc, "grpc", key)
            recording.images["rest"] = _ours(recorder.rest, "rest", key)
            recording.images["official"] = _official(recorder.grpc, key)
        finally:
            recording.recorder_log = recorder.stop()
    finally:
        emulator.stop()  # replay runs with no emulator at all
    return recording


@pytest.fixture(scope="module")
def replay(recording: Recording) -> Iterator[CliServer]:
    server = CliServer("cassette", "replay", str(recording.path))
    yield server
    server.stop()


def test_every_client_generated_through_the_recorder(recording: Recording) -> None:
    assert set(recording.images) == {"grpc", "rest", "official"}
    assert all(image.startswith(b"\xff\xd8\xff") for image in recording.images.values())
    # The same seed and prompt: the emulator drew the same picture for every client.
    assert len(set(recording.images.values())) == 1


def test_the_cassette_holds_no_credential(recording: Recording) -> None:
    text = recording.path.read_text(encoding="utf-8")
    assert recording.key not in text
    assert "authorization" not in text.lower() and "Api-Key" not in text
    assert '"idempotency-key"' in text and '"x-client-request-id"' in text  # what matters stays


def test_replay_gives_both_sdks_the_recorded_images(
    recording: Recording, replay: CliServer
) -> None:
    assert _ours(replay.grpc, "grpc", "other-key") == recording.images["grpc"]
    assert _ours(replay.rest, "rest", "other-key") == recording.images["rest"]
    assert _official(replay.grpc, "other-key") == recording.images["official"]


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_changed_request_is_told_which_field_differs(
    recording: Recording, replay: CliServer, transport: str
) -> None:
    address = replay.grpc if transport == "grpc" else replay.rest
    with pytest.raises(TransportError) as caught:
        _ours(address, transport, "other-key", seed=8)
    assert caught.value.code == "FAILED_PRECONDITION"
    assert "generationOptions.seed: recorded '7', got '8'" in str(caught.value)


def test_verify_passes_on_the_recording(recording: Recording) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["cassette", "verify", str(recording.path)], stdout=out, stderr=err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert "1 cassette(s) match the specs" in err.getvalue()

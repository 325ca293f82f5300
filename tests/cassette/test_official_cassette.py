"""The official SDK's own recording of its image-generation test, served as it is: a real
endpoint list, a Generate, two Gets and the real JPEG, to our SDK and to the official SDK."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterator

import pytest

from tests.cassette.conftest import OFFICIAL_CASSETTE, OFFICIAL_FOLDER, official_image
from yandex_art import AIStudio
from yandex_art.cassette import CassetteServer, Replayer, load, verify
from yandex_art.cli import main


@pytest.fixture
def replay() -> Iterator[CassetteServer]:
    with CassetteServer(Replayer([load(OFFICIAL_CASSETTE)])) as server:
        yield server


def test_it_is_read_as_it_is() -> None:
    cassette = load(OFFICIAL_CASSETTE)
    assert cassette.official
    methods = [item.method.rsplit("/", 1)[-1] for item in cassette.interactions]
    assert methods == ["List", "Generate", "Get", "Get"]
    assert official_image().startswith(b"\xff\xd8\xff") and len(official_image()) > 1_000_000


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_our_sdk_gets_the_recorded_jpeg(replay: CassetteServer, transport: str) -> None:
    address = replay.grpc_address if transport == "grpc" else replay.rest_url[len("http://") :]
    with AIStudio(
        folder_id=OFFICIAL_FOLDER,
        auth="any",
        address=address,
        transport=transport,  # type: ignore[arg-type]
    ) as sdk:
        operation = sdk.models.image_generation("yandex-art").run_deferred("hello")
        assert operation.id == "fbvt38u3kmbosuqp10bg"  # the recorded operation
        assert operation.wait().image_bytes == official_image()
    replayer = replay.backend
    assert isinstance(replayer, Replayer)
    assert replayer.misses() == [] and replayer.unused() == []


@pytest.mark.skipif(
    importlib.util.find_spec("yandex_ai_studio_sdk") is None,
    reason="the official SDK (yandex-ai-studio-sdk) is not installed",
)
def test_the_official_sdk_gets_the_recorded_jpeg(replay: CassetteServer) -> None:
    from yandex_ai_studio_sdk import AIStudio as OfficialAIStudio

    # Through endpoint discovery, as the official test ran: the recorded list of real
    # addresses is rewritten to point back at the replay.
    sdk = OfficialAIStudio(
        folder_id=OFFICIAL_FOLDER, auth="any", endpoint=replay.grpc_address, verify=False
    )
    result = (
        sdk.models.image_generation("yandex-art").run_deferred("hello").wait(poll_interval=0.05)
    )
    assert result.image_bytes == official_image()


def test_verify_passes_on_it() -> None:
    assert verify(load(OFFICIAL_CASSETTE)) == []
    out, err = io.StringIO(), io.StringIO()
    assert main(["cassette", "verify", str(OFFICIAL_CASSETTE)], stdout=out, stderr=err) == 0

"""Models and operations keep their client alive; a client closes when asked, or when nothing
uses it any more. Against an emulator in another process, as users run it."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.official_process import EmulatorProcess
from yandex_art import AIStudio, AsyncAIStudio, ClientClosedError
from yandex_art._gen.image_generation import AsyncImageGenerationModel, ImageGenerationModel

JPEG_START = b"\xff\xd8"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(
        tmp_path_factory.mktemp("lifetime") / "state.json", generation_seconds=0.3
    )
    with process:
        yield process


@pytest.fixture(params=["grpc", "rest"])
def settings(request: pytest.FixtureRequest, emulator: EmulatorProcess) -> dict[str, Any]:
    port = emulator.grpc_port if request.param == "grpc" else emulator.rest_port
    return {
        "folder_id": "b1gtest",
        "auth": "test-api-key",
        "endpoint": f"127.0.0.1:{port}",
        "verify": False,
        "transport": request.param,
        "env": {},
    }


def _loop_threads() -> int:
    return sum(t.name == "yandex-art-loop" for t in threading.enumerate())


def test_a_model_from_a_chained_constructor_generates(settings: dict[str, Any]) -> None:
    model = AIStudio(**settings).models.image_generation("yandex-art").configure(seed=5)
    gc.collect()  # the AIStudio object is gone; the model is not
    result = model.run_deferred("a red cat").wait(poll_timeout=30)
    assert result.image_bytes[:2] == JPEG_START


def test_a_model_returned_by_a_helper_generates(settings: dict[str, Any]) -> None:
    def make_model() -> ImageGenerationModel:
        sdk = AIStudio(**settings)
        return sdk.models.image_generation("yandex-art")

    model = make_model()
    gc.collect()
    assert model.run_deferred("a red cat").wait(poll_timeout=30).image_bytes[:2] == JPEG_START
    # and again, an attached operation on the same model
    operation = model.run_deferred("a blue cat")
    assert model.attach_deferred(operation.id).wait(poll_timeout=30).image_bytes[:2] == JPEG_START


def test_an_operation_outlives_its_client_and_model_variables(settings: dict[str, Any]) -> None:
    def start() -> Any:
        return AIStudio(**settings).models.image_generation("yandex-art").run_deferred("a cat")

    operation = start()
    gc.collect()
    assert operation.wait(poll_timeout=30).image_bytes[:2] == JPEG_START


def test_async_models_and_operations_outlive_their_client(settings: dict[str, Any]) -> None:
    def make_model() -> AsyncImageGenerationModel:
        return AsyncAIStudio(**settings).models.image_generation("yandex-art")

    async def main() -> list[bytes]:
        chained = AsyncAIStudio(**settings).models.image_generation("yandex-art")
        helper = make_model()
        operation = await make_model().run_deferred("a green cat")
        gc.collect()
        first = await (await chained.run_deferred("a red cat"))
        second = await (await helper.run_deferred("a blue cat"))
        third = await operation.wait(poll_timeout=30)
        return [first.image_bytes, second.image_bytes, third.image_bytes]

    assert [image[:2] for image in asyncio.run(main())] == [JPEG_START] * 3


def test_a_client_nothing_uses_is_closed_and_its_thread_ends(settings: dict[str, Any]) -> None:
    before = _loop_threads()
    sdk = AIStudio(**settings)
    model = sdk.models.image_generation("yandex-art")
    model.run_deferred("a red cat").wait(poll_timeout=30)
    assert _loop_threads() == before + 1
    core = weakref.ref(sdk._core)
    del sdk, model
    gc.collect()
    assert core() is None
    deadline = time.monotonic() + 10
    while _loop_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _loop_threads() == before


def test_close_still_closes_every_model_of_the_client(settings: dict[str, Any]) -> None:
    with AIStudio(**settings) as sdk:
        model = sdk.models.image_generation("yandex-art")
    with pytest.raises(ClientClosedError):
        model.run_deferred("a red cat")


# A gunicorn or Celery worker forks after the client's threads exist: that is the point of
# the test, so Python 3.12's warning about forking a threaded process is expected here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_worker_uses_a_model_made_by_a_helper(
    settings: dict[str, Any], tmp_path: Path
) -> None:
    import multiprocessing

    model = AIStudio(**settings).models.image_generation("yandex-art")
    model.run_deferred("warm the parent up").wait(poll_timeout=30)
    gc.collect()
    context = multiprocessing.get_context("fork")
    out = tmp_path / "child.jpeg"
    child = context.Process(target=_generate_into, args=(model, out))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert out.read_bytes()[:2] == JPEG_START


def _generate_into(model: ImageGenerationModel, out: Path) -> None:
    out.write_bytes(model.run_deferred("a forked cat").wait(poll_timeout=30).image_bytes)

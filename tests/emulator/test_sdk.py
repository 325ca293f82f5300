"""The SDK end to end against the emulator: sync and async, gRPC and REST; the official SDK too."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from yandex_art import AIStudio, AsyncAIStudio
from yandex_art._runtime.errors import OperationFailedError, TransportError
from yandex_art.emulator import Emulator

TRANSPORTS = ["grpc", "rest"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sync_generation(emu: Emulator, transport: Any, tmp_path: Any) -> None:
    with emu.sdk(transport) as sdk:
        assert isinstance(sdk, AIStudio)
        model = sdk.models.image_generation("yandex-art").configure(
            seed=50, width_ratio=1, height_ratio=2
        )
        operation = model.run_deferred("a red cat")
        result = operation.wait()
        assert result.mime_type == "image/jpeg"
        assert result.model_version == emu.config.model_version
        assert result.save(tmp_path / "cat.jpeg").read_bytes() == result.image_bytes
        attached = model.attach_deferred(operation.id)
        assert attached.wait().image_bytes == result.image_bytes
    stats = emu.stats()
    assert stats.operations[operation.id].state == "succeeded"
    assert stats.calls["generate"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_async_generation(emu: Emulator, transport: Any) -> None:
    async with emu.async_sdk(transport) as sdk:
        assert isinstance(sdk, AsyncAIStudio)
        model = sdk.models.image_generation("yandex-art").configure(mime_type="image/png")
        operation = await model.run_deferred([{"text": "a red cat", "weight": 1}, "in the snow"])
        result = await operation
        assert result.mime_type == "image/png"
        status = await operation.get_status()
        assert status.is_succeeded


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_async_cancel(start_emulator: Any, transport: Any) -> None:
    slow = start_emulator(generation_seconds=30)
    async with slow.async_sdk(transport) as sdk:
        operation = await sdk.models.image_generation("yandex-art").run_deferred("a slow cat")
        status = await operation.cancel()
        assert status.is_cancelled and status.code == 1
        with pytest.raises(OperationFailedError) as caught:
            await operation.wait()
        assert caught.value.cancelled


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sdk_sees_unauthenticated(start_emulator: Any, transport: Any) -> None:
    strict = start_emulator(api_keys=["right"])
    with strict.sdk(transport, auth="wrong") as sdk, pytest.raises(TransportError) as caught:
        sdk.models.image_generation("yandex-art").run_deferred("a cat")
    assert caught.value.code == "UNAUTHENTICATED"
    assert "not valid" in caught.value.detail


def test_many_concurrent_operations_share_the_quota(start_emulator: Any) -> None:
    emulator = start_emulator(generation_seconds=0.2, image_long_side=64)
    with emulator.sdk() as sdk:
        model = sdk.models.image_generation("yandex-art")
        operations = [model.run_deferred(f"cat {i}") for i in range(30)]
        results = [operation.wait() for operation in operations]
    assert all(r.image_bytes for r in results)
    stats = emulator.stats()
    assert stats.max_reads_per_window <= 50
    assert all(o.state == "succeeded" for o in stats.operations.values())


@pytest.mark.skipif(
    importlib.util.find_spec("yandex_ai_studio_sdk") is None,
    reason="the official SDK (yandex-ai-studio-sdk) is not installed",
)
def test_official_sdk_generates_through_the_emulator(start_emulator: Any) -> None:
    from yandex_ai_studio_sdk import AIStudio as OfficialAIStudio

    emulator = start_emulator(generation_seconds=0.1)
    sdk = OfficialAIStudio(
        folder_id=emulator.folder_id,
        auth=emulator.api_key,
        endpoint=emulator.grpc_address,
        verify=False,
    )
    model = sdk.models.image_generation("yandex-art").configure(
        seed=50, width_ratio=2, height_ratio=1
    )
    result = model.run_deferred("a red cat").wait(poll_interval=0.1)
    assert result.image_bytes.startswith(b"\xff\xd8\xff")
    ours = emulator.sdk()
    try:
        mine = ours.models.image_generation("yandex-art").configure(
            seed=50, width_ratio=2, height_ratio=1
        )
        assert mine.run_deferred("a red cat").wait().image_bytes == result.image_bytes
    finally:
        ours.close()
    assert emulator.stats().calls["endpoints"] >= 1  # discovered through ApiEndpointService


async def test_emulator_inside_a_running_loop() -> None:
    async with Emulator(generation_seconds=0.05, image_long_side=64) as emulator:
        async with emulator.async_sdk("rest") as sdk:
            operation = await sdk.models.image_generation("yandex-art").run_deferred("cat")
            assert (await operation.wait()).image_bytes
        assert emulator.stats().operations[operation.id].state == "succeeded"
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.grpc_address


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stopping_the_emulator_drops_connections(transport: Any) -> None:
    from yandex_art._runtime.retry import RetryPolicy

    emulator = Emulator.start(generation_seconds=0, image_long_side=32)
    with emulator.sdk(transport, retry_policy=RetryPolicy(max_attempts=1)) as sdk:
        model = sdk.models.image_generation("yandex-art")
        model.run_deferred("cat")
        emulator.close()
        with pytest.raises(TransportError) as caught:
            model.run_deferred("cat", timeout=5)  # refused at once, not after the timeout
        assert caught.value.code == "UNAVAILABLE"

"""The REST transport through the emulator: the same surface, proto3 JSON on the wire."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from yandex_art._runtime.errors import OperationFailedError, UnexpectedOperationResultError
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=0.1) as emu:
        yield emu


@pytest.mark.parametrize(
    "type_url", ["type.googleapis.com/example.Other", "type.googleapis.com/google.rpc.Status"]
)
def test_unknown_or_wrong_response_type_is_reported(emulator: Emulator, type_url: str) -> None:
    emulator.faults.wrong_result_type(1, type_url=type_url)
    with emulator.sdk(transport="rest") as sdk:
        op = sdk.models.image_generation("yandex-art").run_deferred("cat")
        with pytest.raises(
            UnexpectedOperationResultError, match=type_url.replace(".", r"\.")
        ) as info:
            op.wait()
    assert info.value.operation_id == op.id


def test_failed_operation_over_rest(emulator: Emulator) -> None:
    emulator.faults.fail_generations(1, code=3, message="bad prompt")
    with emulator.sdk(transport="rest") as sdk:
        op = sdk.models.image_generation("yandex-art").run_deferred("cat")
        with pytest.raises(OperationFailedError, match="bad prompt") as info:
            op.wait()
    assert info.value.code == 3 and info.value.operation_id == op.id


def test_same_image_over_both_transports(emulator: Emulator) -> None:
    images = []
    for transport in ("grpc", "rest"):
        with emulator.sdk(transport=transport) as sdk:  # type: ignore[arg-type]
            model = sdk.models.image_generation("yandex-art").configure(
                seed=7, width_ratio=16, height_ratio=9
            )
            images.append(model.run_deferred("a lighthouse").wait().image_bytes)
    assert images[0] == images[1]
    assert images[0][:3] == b"\xff\xd8\xff"

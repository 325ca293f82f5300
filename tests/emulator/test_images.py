"""Pictures: real JPEG/PNG, pixel size from the aspect ratio, deterministic per seed and prompt."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from yandex_art.emulator import Emulator
from yandex_art.emulator.images import image_size, render_image


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ((1, 1), (1024, 1024)),
        ((16, 9), (1024, 576)),
        ((9, 16), (576, 1024)),
        ((2, 1), (1024, 512)),
        ((1, 2), (512, 1024)),
        ((4, 3), (1024, 768)),
        ((1, 10**12), (1, 1024)),
    ],
)
def test_pixel_size_follows_the_ratio(ratio: tuple[int, int], size: tuple[int, int]) -> None:
    assert image_size(*ratio) == size
    assert image_size(*ratio, long_side=100)[0] <= 100


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_sdk_images_have_the_requested_size_and_format(emu: Emulator, transport: Any) -> None:
    with emu.sdk(transport) as sdk:
        model = sdk.models.image_generation("yandex-art")
        wide = model.configure(width_ratio=16, height_ratio=9).run_deferred("a fox").wait()
        image = _open(wide.image_bytes)
        assert (image.format, image.size) == ("JPEG", (1024, 576))
        tall = model.configure(width_ratio=1, height_ratio=2, mime_type="image/png")
        image = _open(tall.run_deferred("a fox").wait().image_bytes)
        assert (image.format, image.size) == ("PNG", (512, 1024))
        square = _open(model.run_deferred("a fox").wait().image_bytes)
        assert square.size == (1024, 1024)


def test_same_seed_and_prompt_give_the_same_image(emu: Emulator) -> None:
    with emu.sdk() as sdk:
        model = sdk.models.image_generation("yandex-art").configure(seed=1863)
        first = model.run_deferred("a lighthouse").wait().image_bytes
        again = model.run_deferred("a lighthouse").wait().image_bytes
        other_seed = model.configure(seed=1864).run_deferred("a lighthouse").wait().image_bytes
        other_prompt = model.run_deferred("a lighthouse at night").wait().image_bytes
        random_a = model.configure(seed=0).run_deferred("a lighthouse").wait().image_bytes
        random_b = model.configure(seed=None).run_deferred("a lighthouse").wait().image_bytes
    assert first == again
    assert len({first, other_seed, other_prompt}) == 3
    assert random_a != random_b  # 0 or no seed: the server picks one


def test_pixels_differ_between_seeds() -> None:
    a = _open(render_image(["cat"], 1, 64, 64))
    b = _open(render_image(["cat"], 2, 64, 64))
    assert a.tobytes() != b.tobytes()


def test_drawing_is_cheap() -> None:
    started = time.perf_counter()
    for seed in range(1000, 1020):
        render_image(["timing"], seed, 1024, 1024)
    assert (time.perf_counter() - started) / 20 < 0.05  # a few ms each; generous for slow CI


def test_image_size_is_configurable(start_emulator: Any) -> None:
    emulator = start_emulator(generation_seconds=0, image_long_side=256)
    with emulator.sdk() as sdk:
        result = sdk.models.image_generation("yandex-art").configure(width_ratio=2, height_ratio=1)
        assert _open(result.run_deferred("x").wait().image_bytes).size == (256, 128)

"""What the CLI tests share: one emulator per test module and credentials for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from yandex_art.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator.start(EmulatorConfig(generation_seconds=0.05, image_long_side=64)) as emu:
        yield emu


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    emulator.reset()
    return {"YC_API_KEY": emulator.auth, "YC_FOLDER_ID": emulator.folder_id}

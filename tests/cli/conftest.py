"""What the CLI tests share: one emulator per test module and credentials for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=0.05, image_long_side=64) as emu:
        yield emu


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    emulator.reset()
    return {"YC_API_KEY": emulator.auth, "YC_FOLDER_ID": emulator.folder_id}

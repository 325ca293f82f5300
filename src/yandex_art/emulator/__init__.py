"""A local emulator of the YandexART image generation service, for tests and offline use.

It serves ``ImageGenerationAsyncService.Generate``, ``OperationService.Get``/``Cancel``
and ``ApiEndpointService.List``/``Get`` over gRPC, and the REST paths of the
OpenAPI document, with the service's checks, quota and long-running
operations, plus fault injection and statistics. Needs the ``emulator``
extra (aiohttp, Pillow).

>>> from yandex_art.emulator import Emulator
>>> with Emulator.start(generation_seconds=0) as emu:
...     with emu.sdk() as sdk:
...         result = sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
"""

from __future__ import annotations

from .config import DEFAULT_API_KEY, DEFAULT_FOLDER_ID, EmulatorConfig, EmulatorConfigError
from .faults import Faults
from .server import Emulator
from .service import EmulatorStats, OperationStats

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_FOLDER_ID",
    "Emulator",
    "EmulatorConfig",
    "EmulatorConfigError",
    "EmulatorStats",
    "Faults",
    "OperationStats",
]

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

import importlib
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_API_KEY, DEFAULT_FOLDER_ID, EmulatorConfig, EmulatorConfigError

if TYPE_CHECKING:
    from .faults import Faults
    from .server import Emulator
    from .stats import EmulatorStats, OperationStats

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_FOLDER_ID",
    "EXTRA_MODULES",
    "Emulator",
    "EmulatorConfig",
    "EmulatorConfigError",
    "EmulatorStats",
    "Faults",
    "OperationStats",
    "missing_extra",
]

# What the [emulator] extra installs, by the name each is imported as.
EXTRA_MODULES = ("grpclib", "aiohttp", "PIL")


def missing_extra() -> str | None:
    """The first module of the [emulator] extra that cannot be imported, or None: the CLI
    and the pytest plugin say so in their own words before anything starts."""
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            return exc.name or name
    return None


# WHY the servers load on first use: they need the [emulator] extra (grpclib, aiohttp,
# Pillow) and tens of milliseconds to import, while the configuration needs neither. The
# CLI reads EmulatorConfig's defaults for its flags on every run, with or without the extra.
def __getattr__(name: str) -> Any:
    value: Any
    if name == "Emulator":
        from . import server

        value = server.Emulator
    elif name == "Faults":
        from . import faults

        value = faults.Faults
    elif name in ("EmulatorStats", "OperationStats"):
        from . import stats

        value = getattr(stats, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups find it without this function
    return value

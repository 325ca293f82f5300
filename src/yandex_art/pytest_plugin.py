"""pytest plugin: test your code against a local YandexART emulator.

Fixtures:

``yandex_art_emulator``
    The running :class:`~yandex_art.emulator.Emulator` (one per session,
    reset before and after each test): ``.faults``, ``.stats()``,
    ``.grpc_address``, ``.rest_url``, ``.folder_id``, ``.api_key``.
``yandex_art_sdk``
    An :class:`~yandex_art.AIStudio` pointed at it, closed after the test.
``yandex_art_async_sdk``
    An :class:`~yandex_art.AsyncAIStudio` pointed at it (needs pytest-asyncio).
``yandex_art_transport``
    ``"grpc"`` by default; override or parametrize it to test over REST.
``yandex_art_emulator_config``
    The session's :class:`~yandex_art.emulator.EmulatorConfig`; override it in
    a ``conftest.py`` to change durations, quota or credentials.
``yandex_art_emulator_factory``
    Starts more emulators, each from the session's configuration with some fields
    changed: ``yandex_art_emulator_factory(read_quota=None)``. Use the emulator as a
    context manager to stop it when your fixture or test is done; any still running
    stop when the session ends.

Options: ``--yandex-art-generation-seconds`` (ini: ``yandex_art_generation_seconds``,
default 0.05) sets how long each emulated generation takes.
"""

from __future__ import annotations

import importlib
import importlib.util
import weakref
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn, Protocol

import pytest

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._client import AIStudio, AsyncAIStudio
    from ._runtime.client_core import TransportName
    from .emulator import Emulator, EmulatorConfig
    from .emulator.config import EmulatorSettings

__all__ = [
    "EmulatorFactory",
    "yandex_art_emulator",
    "yandex_art_emulator_config",
    "yandex_art_emulator_factory",
    "yandex_art_emulator_session",
    "yandex_art_sdk",
    "yandex_art_transport",
]

_DEFAULT_GENERATION_SECONDS = "0.05"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("yandex-art", "YandexART emulator")
    group.addoption(
        "--yandex-art-generation-seconds",
        type=float,
        default=None,
        help="how long each emulated image generation takes (default 0.05)",
    )
    parser.addini(
        "yandex_art_generation_seconds",
        "how long each emulated image generation takes",
        default=_DEFAULT_GENERATION_SECONDS,
    )


def _generation_seconds(config: pytest.Config) -> float:
    value = config.getoption("--yandex-art-generation-seconds", default=None)
    if value is None:
        try:
            value = config.getini("yandex_art_generation_seconds")
        except ValueError:  # the plugin was registered after option parsing
            value = _DEFAULT_GENERATION_SECONDS
    try:
        return float(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(
            f"yandex_art_generation_seconds must be a number, got {value!r}"
        ) from None


def _emulator_module() -> ModuleType:
    """``yandex_art.emulator``, or a test failure saying which extra to install (as the CLI)."""
    try:
        from . import emulator

        for name in ("grpclib", "aiohttp", "PIL"):  # the [emulator] extra, loaded on first use
            importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("yandex_art"):
            raise
        pytest.fail(
            f"the yandex_art emulator fixtures need the [emulator] extra (module {exc.name!r} "
            "is missing): pip install 'yandex-art-sdk[emulator]'",
            pytrace=False,
        )
    return emulator


@pytest.fixture(scope="session")
def yandex_art_emulator_config(pytestconfig: pytest.Config) -> EmulatorConfig:
    """Configuration of the session's emulator (loopback, free ports, short generations)."""
    config: EmulatorConfig = _emulator_module().EmulatorConfig(
        host="127.0.0.1", generation_seconds=_generation_seconds(pytestconfig)
    )
    return config


@pytest.fixture(scope="session")
def yandex_art_emulator_session(yandex_art_emulator_config: EmulatorConfig) -> Iterator[Emulator]:
    """One emulator for the whole session, on its own thread and free loopback ports."""
    emulator: Emulator
    with _emulator_module().Emulator.start(yandex_art_emulator_config) as emulator:
        yield emulator


class EmulatorFactory(Protocol):
    """``yandex_art_emulator_factory``: a started emulator, the session's config with changes."""

    def __call__(self, **changes: Unpack[EmulatorSettings]) -> Emulator: ...


@pytest.fixture(scope="session")
def yandex_art_emulator_factory(
    yandex_art_emulator_config: EmulatorConfig,
) -> Iterator[EmulatorFactory]:
    """Start more emulators: ``with yandex_art_emulator_factory(read_quota=None) as emu:``.

    Each is the session's configuration (loopback, free ports, short generations)
    with ``changes``; session-scoped, so fixtures of any scope can use it.
    """
    running: weakref.WeakSet[Emulator] = weakref.WeakSet()  # a stopped one may be collected

    def start(**changes: Unpack[EmulatorSettings]) -> Emulator:
        emulator: Emulator = _emulator_module().Emulator.start(
            yandex_art_emulator_config, **changes
        )
        running.add(emulator)
        return emulator

    yield start
    for emulator in list(running):
        emulator.close()  # idempotent: those stopped already are left alone


@pytest.fixture
def yandex_art_emulator(yandex_art_emulator_session: Emulator) -> Iterator[Emulator]:
    """The session's emulator, with operations, counters and faults reset around the test."""
    yandex_art_emulator_session.reset()
    yield yandex_art_emulator_session
    yandex_art_emulator_session.reset()


@pytest.fixture
def yandex_art_transport() -> TransportName:
    """Wire protocol of the SDK fixtures: ``"grpc"`` (override it to use ``"rest"``)."""
    return "grpc"


@pytest.fixture
def yandex_art_sdk(
    yandex_art_emulator: Emulator, yandex_art_transport: TransportName
) -> Iterator[AIStudio]:
    """A blocking client talking to the emulator; closed after the test."""
    with yandex_art_emulator.sdk(yandex_art_transport) as sdk:
        yield sdk


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture(name="yandex_art_async_sdk")
    async def _async_sdk(
        yandex_art_emulator: Emulator, yandex_art_transport: TransportName
    ) -> AsyncIterator[AsyncAIStudio]:
        """An asyncio client talking to the emulator; closed after the test."""
        async with yandex_art_emulator.async_sdk(yandex_art_transport) as sdk:
            yield sdk

else:  # pragma: no cover - depends on the environment

    @pytest.fixture(name="yandex_art_async_sdk")
    def _async_sdk_unavailable() -> NoReturn:
        """Needs pytest-asyncio."""
        pytest.fail(
            "the yandex_art_async_sdk fixture needs pytest-asyncio (pip install pytest-asyncio)"
        )

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

``yandex_art_cassette``
    Recorded answers of the real service, served to the test (see
    :class:`~yandex_art.cassette.session.CassetteSession`): ``.sdk()`` is a
    ready client, ``.grpc_address``, ``.rest_url``, ``.folder_id`` and
    ``.auth`` are for any other client. The cassette is
    ``cassettes/<name>.json`` beside the test file, ``<name>`` given by
    ``@pytest.mark.yandex_art_cassette("name")`` (default: the test's name;
    a name ending in ``.json`` is taken as it is, e.g. the official SDK's
    ``.gprc.json``). It replays by default, and the test fails on a request
    no recording matches or a recorded interaction never requested; with
    ``--yandex-art-record`` it records through a proxy to the real service
    (``--yandex-art-upstream HOST:PORT`` / ``--yandex-art-upstream-rest URL``
    elsewhere, ``--yandex-art-shrink-images`` to keep small images).

Options: ``--yandex-art-generation-seconds`` (ini: ``yandex_art_generation_seconds``,
default 0.05) sets how long each emulated generation takes.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn, Protocol

import pytest

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._client import AIStudio, AsyncAIStudio
    from ._runtime.client_core import TransportName
    from .cassette.session import CassetteSession
    from .emulator import Emulator, EmulatorConfig
    from .emulator.config import EmulatorSettings

__all__ = [
    "EmulatorFactory",
    "yandex_art_cassette",
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
    group.addoption(
        "--yandex-art-record",
        action="store_true",
        help="record the yandex_art_cassette fixtures' cassettes from the service",
    )
    group.addoption(
        "--yandex-art-upstream",
        metavar="HOST:PORT",
        help="gRPC address recordings are made from (default: the public service)",
    )
    group.addoption(
        "--yandex-art-upstream-rest",
        metavar="URL",
        help="REST base URL recordings are made from (default: the public service)",
    )
    group.addoption(
        "--yandex-art-shrink-images",
        action="store_true",
        help="record each image as a small one of the same type and proportions",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "yandex_art_cassette(name): the cassette the yandex_art_cassette fixture serves "
        "(cassettes/<name>.json beside the test file)",
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
    from . import emulator

    if (missing := emulator.missing_extra()) is not None:
        pytest.fail(
            f"the yandex_art emulator fixtures need the [emulator] extra (module {missing!r} "
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


def _cassette_path(request: pytest.FixtureRequest) -> Path:
    marker = request.node.get_closest_marker("yandex_art_cassette")
    name = str(marker.args[0]) if marker is not None and marker.args else request.node.name
    if not name.endswith(".json"):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".json"
    return Path(request.node.path).parent / "cassettes" / name


@pytest.fixture
def yandex_art_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteSession]:
    """Replays (or, with ``--yandex-art-record``, records) this test's cassette."""
    _emulator_module()  # the same extra: aiohttp, grpclib, Pillow
    from .cassette import CassetteError
    from .cassette.session import CassetteSession

    config = request.config
    path = _cassette_path(request)
    record = bool(config.getoption("--yandex-art-record", default=False))
    if not record and not path.exists():
        pytest.fail(
            f"no cassette {path}; record it with: pytest --yandex-art-record {request.node.nodeid}",
            pytrace=False,
        )
    try:
        session = CassetteSession(
            path,
            record=record,
            upstream=config.getoption("--yandex-art-upstream", default=None),
            upstream_rest=config.getoption("--yandex-art-upstream-rest", default=None),
            shrink_images=bool(config.getoption("--yandex-art-shrink-images", default=False)),
        )
    except CassetteError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield session
    finally:
        session.close()
    problems = session.problems()
    if problems:
        pytest.fail(f"cassette {path.name}:\n  " + "\n  ".join(problems), pytrace=False)

"""The pytest plugin, used by a consumer's test suite (run through pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

QUIET = ("-q", "-p", "no:cacheprovider")

CONSUMER_TESTS = """
import pytest
from yandex_art import OperationFailedError


def test_sync(yandex_art_sdk, yandex_art_emulator):
    model = yandex_art_sdk.models.image_generation("yandex-art").configure(seed=1)
    result = model.run_deferred("a red cat").wait()
    assert result.image_bytes.startswith(b"\\xff\\xd8")
    assert yandex_art_emulator.stats().calls["generate"] == 1


def test_counters_are_reset_between_tests(yandex_art_emulator):
    assert yandex_art_emulator.stats().calls["generate"] == 0


def test_faults(yandex_art_sdk, yandex_art_emulator):
    yandex_art_emulator.faults.fail_generations(1, code=13, message="broken")
    with pytest.raises(OperationFailedError, match="broken"):
        yandex_art_sdk.models.image_generation("yandex-art").run_deferred("cat").wait()


async def test_async(yandex_art_async_sdk):
    model = yandex_art_async_sdk.models.image_generation("yandex-art")
    operation = await model.run_deferred("a red cat")
    assert (await operation.wait()).image_bytes
"""

TRANSPORT_TESTS = """
import pytest


@pytest.fixture(params=["grpc", "rest"])
def yandex_art_transport(request):
    return request.param


def test_both_transports(yandex_art_sdk, yandex_art_transport, yandex_art_emulator):
    yandex_art_sdk.models.image_generation("yandex-art").run_deferred("cat").wait()
    assert yandex_art_emulator.stats().reads >= 1
    assert yandex_art_sdk._core.transport == yandex_art_transport
"""

OVERRIDE_TESTS = """
import pytest
from yandex_art.emulator import EmulatorConfig


@pytest.fixture(scope="session")
def yandex_art_emulator_config():
    return EmulatorConfig(generation_seconds=0, api_keys=["secret"], folder_id="b1gmine")


def test_uses_the_config(yandex_art_emulator, yandex_art_sdk):
    assert yandex_art_emulator.folder_id == "b1gmine"
    assert yandex_art_emulator.api_key == "secret"
    assert yandex_art_sdk.folder_id == "b1gmine"
    operation = yandex_art_sdk.models.image_generation("yandex-art").run_deferred("cat")
    assert operation.wait().image_bytes
"""


@pytest.fixture
def consumer(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # A separate process, as a consumer's suite would run. Auto-loading is off so the
    # run is quick and does not depend on which plugins this environment registers.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def run(consumer: pytest.Pytester, *args: str) -> pytest.RunResult:
    plugins = ("-p", "yandex_art.pytest_plugin", "-p", "pytest_asyncio.plugin")
    return consumer.runpytest_subprocess(*plugins, *QUIET, *args, timeout=120)


def test_consumer_suite_runs_against_the_emulator(consumer: pytest.Pytester) -> None:
    consumer.makepyfile(
        test_consumer=CONSUMER_TESTS,
        test_transports=TRANSPORT_TESTS,
        test_option="def test_duration(yandex_art_emulator):\n"
        "    assert yandex_art_emulator.config.generation_seconds == 0.07\n",
    )
    run(consumer, "--yandex-art-generation-seconds", "0.07").assert_outcomes(passed=7)


def test_config_can_be_overridden(consumer: pytest.Pytester) -> None:
    consumer.makepyfile(test_override=OVERRIDE_TESTS)
    run(consumer).assert_outcomes(passed=1)


def test_without_the_emulator_extra_the_plugin_says_what_to_install(
    consumer: pytest.Pytester,
) -> None:
    """Issue 19: a bare ModuleNotFoundError before; now what the CLI says too."""
    consumer.makeconftest(
        "import sys\n"
        "for name in ('grpclib', 'aiohttp', 'PIL'):  # the [emulator] extra, not installed\n"
        "    sys.modules[name] = None\n"
    )
    consumer.makepyfile(test_consumer="def test_it(yandex_art_sdk):\n    pass\n")
    result = run(consumer)
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "[emulator] extra" in output and "pip install 'yandex-art-sdk[emulator]'" in output
    assert "ModuleNotFoundError" not in output

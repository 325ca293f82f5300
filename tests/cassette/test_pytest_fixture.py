"""The plugin's yandex_art_cassette fixture in a consumer's suite: recorded once with
--yandex-art-record (here from an emulator), replayed by default; a changed request and an
interaction never requested fail the test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.cassette.conftest import OFFICIAL_CASSETTE
from yandex_art.emulator import Emulator

pytest_plugins = ["pytester"]

CONSUMER_TESTS = """
import pytest


def test_generates(yandex_art_cassette):
    model = yandex_art_cassette.sdk().models.image_generation("yandex-art").configure(seed=3)
    assert model.run_deferred("a cat").wait().image_bytes.startswith(b"\\xff\\xd8\\xff")
    rest = yandex_art_cassette.sdk("rest").models.image_generation("yandex-art")
    assert rest.configure(seed=4).run_deferred("a dog").wait().image_bytes


@pytest.mark.yandex_art_cassette("test_generates")
def test_another_seed(yandex_art_cassette):
    model = yandex_art_cassette.sdk().models.image_generation("yandex-art").configure(seed=5)
    model.run_deferred("a cat")


@pytest.mark.yandex_art_cassette("official.gprc.json")
def test_official_recording_half_used(yandex_art_cassette):
    model = yandex_art_cassette.sdk().models.image_generation("yandex-art")
    assert model.run_deferred("hello").id == "fbvt38u3kmbosuqp10bg"  # and never waited for


@pytest.mark.yandex_art_cassette("official.gprc.json")
def test_official_recording(yandex_art_cassette):
    from yandex_ai_studio_sdk import AIStudio

    sdk = AIStudio(folder_id=yandex_art_cassette.folder_id, auth=yandex_art_cassette.auth,
                   endpoint=yandex_art_cassette.grpc_address, verify=False)
    model = sdk.models.image_generation("yandex-art")
    assert len(model.run_deferred("hello").wait(poll_interval=0.05).image_bytes) > 1_000_000
"""


@pytest.fixture
def consumer(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("YC_FOLDER_ID", "b1gconsumer")
    monkeypatch.setenv("YC_API_KEY", "consumer-key-not-to-be-recorded")
    pytester.makepyfile(test_consumer=CONSUMER_TESTS)
    (pytester.path / "cassettes").mkdir()
    shutil.copy(OFFICIAL_CASSETTE, pytester.path / "cassettes" / "official.gprc.json")
    return pytester


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator.start(generation_seconds=0.05, image_long_side=32) as emulator:
        yield emulator


def run(consumer: pytest.Pytester, *args: str) -> pytest.RunResult:
    plugins = ("-p", "yandex_art.pytest_plugin")
    return consumer.runpytest_subprocess(*plugins, "-q", "-p", "no:randomly", *args, timeout=120)


def test_record_once_then_replay_without_a_server(
    consumer: pytest.Pytester, emulator: Emulator
) -> None:
    recorded = run(
        consumer, "--yandex-art-record", "-k", "test_generates",
        "--yandex-art-upstream", emulator.grpc_address, "--yandex-art-upstream-rest", emulator.rest_url,
    )  # fmt: skip
    recorded.assert_outcomes(passed=1, deselected=3)
    cassette = consumer.path / "cassettes" / "test_generates.json"
    text = cassette.read_text(encoding="utf-8")
    assert "consumer-key-not-to-be-recorded" not in text and "b1gconsumer" in text
    emulator.close()  # replay needs nothing but the file

    replayed = run(consumer)
    # The changed seed fails in the test (the client is told) and at teardown (the fixture).
    # (pytest counts the half-used test as passed in its call, then errored at teardown.)
    replayed.assert_outcomes(passed=3, failed=1, errors=2)
    output = replayed.stdout.str()
    assert "generationOptions.seed: recorded '3', got '5'" in output
    assert "interaction #2 (Get {'operationId': 'fbvt38u3kmbosuqp10bg'}) was never requested" in output  # fmt: skip

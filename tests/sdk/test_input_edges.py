"""Bad input at the edges is refused before anything is sent, in both transports, naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from yandex_art import AIStudio, ConfigurationError, InvalidArgumentError
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=0.05) as emu:
        yield emu


@pytest.fixture(params=["grpc", "rest"])
def sdk(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[AIStudio]:
    emulator.reset()
    transport = request.param
    with AIStudio(
        folder_id=emulator.folder_id,
        auth=emulator.auth,
        address=emulator.grpc_address if transport == "grpc" else emulator.rest_address,
        verify=False,
        transport=transport,
    ) as client:
        yield client


def _model(sdk: AIStudio) -> Any:
    return sdk.models.image_generation("yandex-art")


CASES: list[tuple[str, Callable[[AIStudio], object], str]] = [
    ("surrogate prompt", lambda s: _model(s).run_deferred("a cat \ud800"), "messages[0].text"),
    (
        "surrogate in a message dict",
        lambda s: _model(s).run_deferred([{"text": "ok"}, {"text": "\udfff"}]),
        "messages[1].text",
    ),
    (
        "surrogate MIME type",
        lambda s: _model(s).configure(mime_type="image/\ud800").run_deferred("cat"),
        "mime_type",
    ),
    ("surrogate id", lambda s: _model(s).attach_deferred("op\ud800").wait(), "operation_id"),
    ("dot id", lambda s: _model(s).attach_deferred(".").wait(), "operation_id"),
    ("dot-dot id", lambda s: _model(s).attach_deferred("..").get_status(), "operation_id"),
    ("blank id", lambda s: _model(s).attach_deferred("  ").wait(), "operation_id"),
    (
        "huge weight",
        lambda s: _model(s).run_deferred({"text": "cat", "weight": 10**400}),
        "weight",
    ),
    ("negative timeout", lambda s: _model(s).run_deferred("cat", timeout=-1), "timeout"),
    ("zero timeout", lambda s: _model(s).run_deferred("cat", timeout=0), "timeout"),
    ("nan timeout", lambda s: _model(s).run_deferred("cat", timeout=math.nan), "timeout"),
    ("inf timeout", lambda s: _model(s).run_deferred("cat", timeout=math.inf), "timeout"),
    ("huge timeout", lambda s: _model(s).run_deferred("cat", timeout=10**400), "timeout"),
]


@pytest.mark.parametrize(("name", "call", "argument"), CASES, ids=[c[0] for c in CASES])
def test_refused_before_sending(
    sdk: AIStudio, emulator: Emulator, name: str, call: Callable[[AIStudio], object], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        call(sdk)
    assert argument in caught.value.argument, caught.value
    assert sum(emulator.stats().calls.values()) == 0, "a request reached the server"


def test_an_operation_id_never_changes_the_rest_path(emulator: Emulator) -> None:
    """Ids with '/', '?', '#' or '%' stay one path segment (the server answers NOT_FOUND)."""
    emulator.reset()
    with AIStudio(
        folder_id=emulator.folder_id,
        auth=emulator.auth,
        address=emulator.rest_address,
        verify=False,
        transport="rest",
    ) as sdk:
        for odd in ("../operations", "a/b", "x?y=1", "x#y", "%2e%2e", "./"):
            with pytest.raises(Exception) as caught:
                _model(sdk).attach_deferred(odd).get_status()
            assert getattr(caught.value, "code", "") == "NOT_FOUND", (odd, caught.value)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"endpoint": ""}, "endpoint"),
        ({"endpoint": "   "}, "endpoint"),
        ({"folder_id": 5}, "folder_id"),
        ({"folder_id": ""}, "folder id"),
        ({"folder_id": "b1g\ud800"}, "folder_id"),
        ({"verify": 3}, "verify"),
    ],
)
def test_bad_client_settings_are_configuration_errors(kwargs: dict[str, Any], words: str) -> None:
    settings: dict[str, Any] = {"folder_id": "b1g", "auth": "k", "env": {}, **kwargs}
    with pytest.raises(ConfigurationError, match=words):
        AIStudio(**settings)


def test_a_file_that_is_not_a_ca_bundle_fails_at_construction(tmp_path: Path) -> None:
    bogus = tmp_path / "bundle.pem"
    bogus.write_text("this is not a certificate\n")
    with pytest.raises(ConfigurationError, match="not a usable CA bundle"):
        AIStudio(folder_id="b1g", auth="k", env={}, verify=bogus)
    with pytest.raises(ConfigurationError, match=r"not a usable CA bundle.*No such file"):
        AIStudio(folder_id="b1g", auth="k", env={}, verify=tmp_path / "missing.pem")


def test_a_repeated_idempotency_key_gets_the_operation_it_started(
    sdk: AIStudio, emulator: Emulator
) -> None:
    model = _model(sdk)
    first = model.run_deferred("a cat", idempotency_key="batch-item-7")
    again = model.run_deferred("a cat", idempotency_key="batch-item-7")
    other = model.run_deferred("a cat")
    assert again.id == first.id != other.id
    stats = emulator.stats()
    assert stats.calls["generate"] == 3 and stats.repeated_generates == 1
    assert len(stats.operations) == 2
    assert again.wait().image_bytes


@pytest.mark.parametrize("key", ["", "has space", "ключ", "x" * 129, "a\\nb"])
def test_a_bad_idempotency_key_is_refused_before_sending(
    sdk: AIStudio, emulator: Emulator, key: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        _model(sdk).run_deferred("a cat", idempotency_key=key.replace("\\n", "\n"))
    assert caught.value.argument == "idempotency_key"
    assert sum(emulator.stats().calls.values()) == 0

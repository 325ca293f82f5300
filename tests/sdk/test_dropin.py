"""Issue 19, item 4 and the client-wide settings of item 6: code written for the official
SDK (``yandex-ai-studio-sdk``) runs with only its import changed."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import pathlib
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.contract.official_server import OfficialServer, RunningServer
from yandex_art import AIStudio, AsyncAIStudio, RetryPolicy
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=0.05, image_long_side=64) as emu:
        yield emu


@pytest.fixture
def server() -> Iterator[OfficialServer]:
    with RunningServer() as state:
        yield state


@pytest.fixture
def official_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user of the official examples sets, pointed at the emulator."""
    emulator.reset()
    for name in ("YC_IAM_TOKEN", "YC_OAUTH_TOKEN", "YC_TOKEN", "YC_LOG_LEVEL", "YANDEX_ART_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YC_API_ENDPOINT", emulator.grpc_address)
    monkeypatch.setenv("YC_FOLDER_ID", emulator.folder_id)
    monkeypatch.setenv("YC_API_KEY", emulator.api_key)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("no_grpc_proxy", "127.0.0.1")


# -- the official examples, replayed -------------------------------------------------------


def test_official_sync_run_deferred_example(
    official_env: None, emulator: Emulator, tmp_path: pathlib.Path, capsys: Any
) -> None:
    """The calls of yandex-cloud/yandex-ai-studio-sdk examples/sync/image_generation/
    run_deferred.py, in order, with ``from yandex_art import AIStudio`` as the only change
    (its last part, a ``completions`` model, is outside this SDK)."""
    sdk = AIStudio()
    sdk.setup_default_logging()
    model = sdk.models.image_generation("yandex-art")
    model = model.configure(width_ratio=1, height_ratio=2, seed=50)
    operation = model.run_deferred("a red cat")
    result = operation.wait()
    print(result)
    operation = model.run_deferred(["a red cat", "Miyazaki style"])
    result = operation.wait()
    print(result)
    path = tmp_path / "image.jpeg"
    try:
        operation = model.run_deferred(["a red cat", "Miyazaki style"])
        result = operation.wait()
        path.write_bytes(result.image_bytes)
        assert path.read_bytes().startswith(b"\xff\xd8")
    finally:
        path.unlink(missing_ok=True)
    assert emulator.stats().calls["generate"] == 3
    assert emulator.stats().calls["endpoints"] == 1  # YC_API_ENDPOINT was asked, as officially
    assert "ImageGenerationModelResult" in capsys.readouterr().out
    sdk.close()


def test_official_async_run_deferred_example(
    official_env: None, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """The calls of examples/async/image_generation/run_deferred.py of the official SDK."""

    async def main() -> None:
        sdk = AsyncAIStudio()
        sdk.setup_default_logging()
        model = sdk.models.image_generation("yandex-art")
        model = model.configure(width_ratio=1, height_ratio=2, seed=50)
        operation = await model.run_deferred("a red cat")
        result = await operation
        print(result)
        operation = await model.run_deferred(["a red cat", "Miyazaki style"])
        result = await operation
        print(result)
        path = tmp_path / "image.jpeg"
        operation = await model.run_deferred(["a red cat", "Miyazaki style"])
        result = await operation
        path.write_bytes(result.image_bytes)
        assert path.stat().st_size > 0

    asyncio.run(main())
    assert emulator.stats().calls["generate"] == 3


# -- endpoint=, address=, YC_API_ENDPOINT ---------------------------------------------------


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_endpoint_is_the_discovery_address(emulator: Emulator, transport: str) -> None:
    emulator.reset()
    discovery = emulator.rest_address if transport == "rest" else emulator.grpc_address
    with AIStudio(
        folder_id=emulator.folder_id,
        auth=emulator.auth,
        endpoint=discovery,
        transport=transport,  # type: ignore[arg-type]
        env={},
    ) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
        sdk.models.image_generation("yandex-art").run_deferred("a dog").wait()
        assert str(sdk._core.endpoints["ai-foundation-models"]) == discovery
    assert emulator.stats().calls["endpoints"] == 1  # asked once, at the first call


def test_address_puts_every_service_at_one_address_without_discovery(emulator: Emulator) -> None:
    emulator.reset()
    with AIStudio(
        folder_id=emulator.folder_id, auth=emulator.auth, address=emulator.grpc_address, env={}
    ) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    assert emulator.stats().calls.get("endpoints", 0) == 0


def test_public_discovery_answer_is_known_and_none_turns_discovery_off() -> None:
    for settings in ({}, {"endpoint": "api.cloud.yandex.net:443"}, {"endpoint": None}):
        sdk = AIStudio(folder_id="b1g", auth="k", env={}, **settings)
        assert {k: str(v) for k, v in sdk._core.endpoints.items()} == {
            "ai-foundation-models": "llm.api.cloud.yandex.net:443",
            "operation": "operation.api.cloud.yandex.net:443",
        }
        sdk.close()
    sdk = AIStudio(folder_id="b1g", auth="k", env={"YC_API_ENDPOINT": "127.0.0.1:7"})
    assert str(sdk._core.discovery) == "127.0.0.1:7"
    sdk.close()


def test_a_service_missing_from_discovery_is_an_unknown_endpoint_error(
    server: OfficialServer,
) -> None:
    from yandex_art.exceptions import UnknownEndpointError

    # the official-stubs server serves no ApiEndpointService: discovery fails, and says so
    sdk = AIStudio(folder_id="b1g", auth="k", endpoint=server.address, env={})
    with sdk, pytest.raises(Exception) as caught:
        sdk.models.image_generation("yandex-art").run_deferred("a cat")
    assert "ApiEndpointService" in str(caught.value) or isinstance(
        caught.value, UnknownEndpointError
    )


# -- names, modules and parameters of the official SDK -------------------------------------


@pytest.mark.parametrize("module", ["auth", "retry"])
def test_every_official_name_of_a_module_exists_here(module: str) -> None:
    official = importlib.import_module(f"yandex_ai_studio_sdk.{module}")
    ours = importlib.import_module(f"yandex_art.{module}")
    assert set(official.__all__) <= set(dir(ours))


def test_official_exception_names_with_the_same_meaning() -> None:
    from yandex_art import exceptions

    for name in (
        "AIStudioError",
        "AIStudioConfigurationError",
        "AsyncOperationError",
        "RunError",
        "UnknownEndpointError",
    ):
        assert issubclass(getattr(exceptions, name), exceptions.AIStudioError)
    assert exceptions.RunError is exceptions.OperationFailedError


def test_retry_policy_takes_the_official_parameter_names_and_grpc_codes() -> None:
    official = inspect.signature(importlib.import_module("yandex_ai_studio_sdk.retry").RetryPolicy)
    names = [p for p in official.parameters if not p.endswith("_class")]
    assert set(names) <= set(inspect.signature(RetryPolicy).parameters)
    policy = RetryPolicy(
        max_attempts=3,
        initial_backoff=0.5,
        max_backoff=4.0,
        backoff_multiplier=1.5,
        jitter=0.1,
        retriable_codes=(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL),
    )
    assert policy.multiplier == policy.backoff_multiplier == 1.5
    assert policy.retryable_codes == {"UNAVAILABLE", "INTERNAL"} == policy.retriable_codes
    with pytest.raises(TypeError):
        RetryPolicy(multiplier=2.0, backoff_multiplier=1.5)
    from yandex_art.retry import NoRetryPolicy

    assert NoRetryPolicy().max_attempts == 1


def test_no_retry_policy_tries_once(server: OfficialServer) -> None:
    from yandex_art import TransportError
    from yandex_art.retry import NoRetryPolicy

    server.fail_next["Generate"] = 1
    with AIStudio(
        folder_id="b1g", auth="k", address=server.address, retry_policy=NoRetryPolicy(), env={}
    ) as sdk:
        with pytest.raises(TransportError):
            sdk.models.image_generation("yandex-art").run_deferred("a cat")
    assert [c.method for c in server.calls] == ["Generate"]


def test_no_auth_sends_no_authorization(server: OfficialServer) -> None:
    from yandex_art.auth import NoAuth

    with AIStudio(folder_id="b1g", auth=NoAuth(), address=server.address, env={}) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    assert server.calls and all("authorization" not in c.metadata for c in server.calls)


def test_yc_profile_reaches_the_yc_cli(tmp_path: pathlib.Path, monkeypatch: Any) -> None:
    from yandex_art._runtime import auth

    monkeypatch.setattr(auth, "YC_EXECUTABLE", "yc")  # the suite hides any real yc
    yc = tmp_path / "yc"
    yc.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\necho t1.token-from-yc\n')
    yc.chmod(0o755)
    env = {"PATH": str(tmp_path), "YC_METADATA_ADDR": "127.0.0.1:9"}
    sdk = AsyncAIStudio(folder_id="b1g", yc_profile="work", env=env)
    assert "profile work" in sdk._core.settings.auth.describe()
    assert asyncio.run(sdk._core.settings.auth.authorization()) == "Bearer t1.token-from-yc"
    assert "--profile work" in (tmp_path / "args").read_text()


def test_interceptors_see_every_grpc_call(emulator: Emulator) -> None:
    seen: list[str] = []

    class Recorder(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            seen.append(details.method.rsplit("/", 1)[-1])
            return continuation(details, request)

    with emulator.sdk(interceptors=[Recorder()]) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    assert seen[0] == "Generate" and "Get" in seen


def test_setup_default_logging_and_yc_log_level(capsys: Any) -> None:
    root = logging.getLogger("yandex_art")
    saved = root.level, list(root.handlers)
    try:
        for cls in (AIStudio, AsyncAIStudio):
            sdk = cls(folder_id="b1g", auth="k", env={})
            assert sdk.setup_default_logging(log_level="DEBUG", date_format="%H") is sdk
            assert root.level == logging.DEBUG
        AIStudio(folder_id="b1g", auth="k", env={"YC_LOG_LEVEL": "warning"})
        assert root.level == logging.WARNING
        logging.getLogger("yandex_art.test").warning("hello %s", "there")
        assert "hello there" in capsys.readouterr().err
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


# -- timeout=, with_options(), default_headers= --------------------------------------------


def test_client_timeout_is_used_by_calls_that_pass_none(emulator: Emulator) -> None:
    from yandex_art import TransportError

    emulator.reset()
    with emulator.sdk(timeout=0.3, retry_policy=RetryPolicy(max_attempts=1)) as sdk:
        operation = sdk.models.image_generation("yandex-art").run_deferred("a cat")
        emulator.faults.set_latency("get", 2.0)
        try:
            with pytest.raises(TransportError, match=r"no answer within 0\.3 s"):
                operation.get_status()
        finally:
            emulator.faults.clear()


def test_with_options_copies_the_client_with_other_settings(emulator: Emulator) -> None:
    emulator.reset()
    sdk = emulator.sdk(timeout=30)
    rest = sdk.with_options(transport="rest", address=emulator.rest_address)
    assert type(rest) is AIStudio and rest._core is not sdk._core
    assert (rest._core.transport, rest._core.default_timeout) == ("rest", 30)
    assert sdk._core.transport == "grpc"  # the original is unchanged
    sdk.close()  # closing one leaves the other open
    assert rest.models.image_generation("yandex-art").run_deferred("a cat").wait().image_bytes
    rest.close()
    asdk = emulator.async_sdk()
    assert type(asdk.with_options(timeout=5)) is AsyncAIStudio
    with pytest.raises(TypeError):
        sdk.with_options(no_such_setting=1)  # type: ignore[call-arg]


def test_default_headers_and_user_agent_over_grpc(server: OfficialServer) -> None:
    headers = {"X-App": "thumbnails", "User-Agent": "myapp/1.2"}
    with AIStudio(
        folder_id="b1g", auth="k", address=server.address, default_headers=headers, env={}
    ) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    for call in server.calls:
        assert call.metadata["x-app"] == "thumbnails"
        agent = call.metadata["user-agent"]
        assert agent.startswith("yandex-art-sdk/") and "myapp/1.2" in agent


async def test_default_headers_and_user_agent_over_rest() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x", "done": False})

    sdk = AsyncAIStudio(
        folder_id="b1g",
        auth="k",
        address="127.0.0.1:8080",
        transport="rest",
        default_headers={"X-App": "thumbnails", "User-Agent": "myapp/1.2"},
        env={},
    )
    sdk._core.connections.loop_resources().http = httpx.AsyncClient(
        transport=httpx.MockTransport(handler),
        headers={"user-agent": sdk._core.settings.user_agent},
    )
    await (await sdk.models.image_generation("yandex-art").attach_deferred("x")).get_status()
    assert seen[0].headers["x-app"] == "thumbnails"
    assert seen[0].headers["user-agent"].endswith(" myapp/1.2")
    assert str(seen[0].url).startswith("http://127.0.0.1:8080/")  # loopback: plaintext
    await sdk.close()


def test_a_model_family_outside_this_sdk_says_so() -> None:
    with AIStudio(folder_id="b1g", auth="k", env={}) as sdk:
        with pytest.raises(AttributeError, match="image generation only"):
            sdk.models.completions("yandexgpt")  # type: ignore[attr-defined]


def test_emulator_sdk_with_endpoint_discovers_through_the_emulator(emulator: Emulator) -> None:
    emulator.reset()
    with emulator.sdk(endpoint=emulator.grpc_address) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    assert emulator.stats().calls["endpoints"] == 1

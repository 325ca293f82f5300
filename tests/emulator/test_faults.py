"""Injected faults, through the Python controls and through POST /_emulator/faults."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from yandex_art._gen.proto.yandex.cloud.operation import GetOperationRequest
from yandex_art._runtime.errors import (
    OperationFailedError,
    TransportError,
    UnexpectedOperationResultError,
)
from yandex_art._runtime.retry import RetryPolicy
from yandex_art.emulator import Emulator, Faults

from .conftest import AUTH, Grpc, body, request

GENERATE = "/foundationModels/v1/imageGenerationAsync"


async def test_unavailable_for_the_next_calls(
    grpc: Grpc, rest: httpx.Client, emu: Emulator
) -> None:
    emu.faults.unavailable("generate", times=2)
    with pytest.raises(GRPCError) as caught:
        await grpc.generation.generate(request())
    assert caught.value.status is Status.UNAVAILABLE
    answer = rest.post(GENERATE, json=body())
    assert answer.status_code == 503
    assert answer.json()["code"] == 14
    assert rest.post(GENERATE, json=body()).status_code == 200  # the third call is served
    assert emu.stats().injected_faults == 2


async def test_fault_is_per_method(grpc: Grpc, emu: Emulator) -> None:
    emu.faults.fail_calls("OperationService/Get", 1, code="INTERNAL", message="boom")
    operation = await grpc.generation.generate(request())
    with pytest.raises(GRPCError) as caught:
        await grpc.operations.get(GetOperationRequest(operation_id=operation.id))
    assert caught.value.status is Status.INTERNAL and caught.value.message == "boom"
    assert (await grpc.operations.get(GetOperationRequest(operation_id=operation.id))).id


def test_latency_per_method(rest: httpx.Client, emu: Emulator) -> None:
    emu.faults.set_latency("generate", 0.3)
    started = time.monotonic()
    operation_id = rest.post(GENERATE, json=body()).json()["id"]
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    rest.get(f"/operations/{operation_id}")
    assert time.monotonic() - started < 0.25


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_failed_generation_reaches_the_sdk(emu: Emulator, transport: Any) -> None:
    emu.faults.fail_generations(1, code=Status.RESOURCE_EXHAUSTED, message="the GPU is busy")
    with emu.sdk(transport) as sdk:
        model = sdk.models.image_generation("yandex-art")
        with pytest.raises(OperationFailedError) as caught:
            model.run_deferred("a cat").wait()
        assert caught.value.code == 8
        assert caught.value.error_message == "the GPU is busy"
        assert model.run_deferred("a cat").wait().image_bytes  # only the next one failed
    assert [o.state for o in emu.stats().operations.values()] == ["failed", "succeeded"]


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_empty_result_is_not_a_success(emu: Emulator, transport: Any) -> None:
    emu.faults.empty_results(1)
    with emu.sdk(transport) as sdk:
        operation = sdk.models.image_generation("yandex-art").run_deferred("a cat")
        with pytest.raises(UnexpectedOperationResultError, match="neither a response nor an error"):
            operation.wait()


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_wrong_result_type(emu: Emulator, transport: Any) -> None:
    emu.faults.wrong_result_type(1)
    with emu.sdk(transport) as sdk:
        operation = sdk.models.image_generation("yandex-art").run_deferred("a cat")
        with pytest.raises(UnexpectedOperationResultError, match=r"google\.rpc\.Status"):
            operation.wait()


def test_wrong_type_and_empty_on_the_rest_wire(rest: httpx.Client, emu: Emulator) -> None:
    emu.faults.wrong_result_type(1, type_url="type.googleapis.com/example.Other")
    emu.faults.empty_results(1)
    first = rest.post(GENERATE, json=body()).json()["id"]
    second = rest.post(GENERATE, json=body()).json()["id"]
    time.sleep(0.1)
    wrong = rest.get(f"/operations/{first}").json()
    assert wrong["done"] and wrong["response"] == {"@type": "type.googleapis.com/example.Other"}
    empty = rest.get(f"/operations/{second}").json()
    assert empty["done"] and "response" not in empty and "error" not in empty


def test_sdk_retries_through_unavailable_reads(emu: Emulator) -> None:
    emu.faults.unavailable("get", times=2)
    with emu.sdk(retry_policy=RetryPolicy(initial_backoff=0.01, max_backoff=0.02)) as sdk:
        result = sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    assert result.image_bytes
    assert emu.stats().injected_faults == 2


def test_sdk_sees_unavailable_generate(emu: Emulator) -> None:
    emu.faults.unavailable("generate", times=10)
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01)
    with emu.sdk(retry_policy=policy) as sdk, pytest.raises(TransportError) as caught:
        sdk.models.image_generation("yandex-art").run_deferred("a cat")
    assert caught.value.code == "UNAVAILABLE"
    assert emu.stats().injected_faults == 3  # retried with its idempotency key, then reported


def test_faults_over_http(rest: httpx.Client, emu: Emulator) -> None:
    url = emu.rest_url + "/_emulator/faults"
    armed = httpx.post(
        url,
        json={
            "unavailable": {"get": 2},
            "latency": {"cancel": 0.01},
            "fail_generations": {"times": 1, "code": 13, "message": "nope"},
            "empty_results": 1,
            "wrong_result_type": {"times": 1},
            "fail_calls": [{"method": "generate", "times": 1, "code": "PERMISSION_DENIED"}],
        },
    )
    assert armed.status_code == 200, armed.text
    snapshot = httpx.get(url).json()
    assert snapshot["calls"]["get"] == [
        {"code": "UNAVAILABLE", "message": snapshot["calls"]["get"][0]["message"], "times": 2}
    ]
    assert snapshot["latency"]["cancel"] == 0.01
    assert [g["kind"] for g in snapshot["generations"]] == ["error", "empty", "wrong_type"]
    assert rest.post(GENERATE, json=body()).status_code == 403
    cleared = httpx.post(url, json={"clear": True})
    assert cleared.json()["generations"] == []


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"unknown": 1},
        {"unavailable": {"nomethod": 1}},
        {"unavailable": {"get": -1}},
        {"unavailable": {"get": "x"}},
        {"latency": {"get": "slow"}},
        {"latency": {"get": 10**400}},
        {"fail_generations": {"code": "NOT_A_CODE"}},
        {"fail_generations": {"code": 0}},
        {"fail_calls": [{"method": "get", "code": 99}]},
        {"wrong_result_type": {"type_url": "nourl"}},
        {"clear": "yes"},
    ],
)
def test_bad_fault_requests_are_400_and_arm_nothing(emu: Emulator, payload: Any) -> None:
    before = emu.faults.snapshot()
    answer = httpx.post(emu.rest_url + "/_emulator/faults", json=payload)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 3
    assert emu.faults.snapshot() == before


def test_faults_api_checks_arguments() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="unknown method"):
        faults.unavailable("delete")
    with pytest.raises(ValueError):
        faults.set_latency("get", -1)
    with pytest.raises(ValueError):
        faults.fail_generations(code="OK")
    faults.unavailable("ImageGenerationAsyncService.Generate")
    assert faults.snapshot()["calls"]["generate"][0]["times"] == 1
    faults.unavailable("get", times=10**12)  # counted, not stored one by one
    assert faults.take_call_fault("get") is not None
    assert faults.snapshot()["calls"]["get"][0]["times"] == 10**12 - 1
    faults.set_latency("get", 0.5)
    faults.apply({"latency": {"get": 0}})
    assert faults.latency("get") == 0


def test_a_repeat_arriving_while_its_first_is_being_drawn_starts_nothing(emu: Emulator) -> None:
    # A batch rerun right after a kill -9 sends the same idempotency-key while the emulator is
    # still drawing the first request's image; both must get one operation (issue 22's flake).
    import asyncio

    async def both() -> list[httpx.Response]:
        headers = {**AUTH, "idempotency-key": "same-key"}
        async with httpx.AsyncClient(timeout=30) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(emu.rest_url + GENERATE, json=body(), headers=headers)
                        for _ in range(4)
                    )
                )
            )

    answers = asyncio.run(both())
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert emu.stats().repeated_generates == 3

"""Long-running operations, authentication, cancel, the read quota and the stats."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from yandex_art._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    ImageGenerationResponse,
)
from yandex_art._gen.proto.yandex.cloud.endpoint import (
    GetApiEndpointRequest,
    ListApiEndpointsRequest,
)
from yandex_art._gen.proto.yandex.cloud.operation import (
    CancelOperationRequest,
    GetOperationRequest,
)
from yandex_art._gen.rest import models as rest_models
from yandex_art.emulator import Emulator

from .conftest import AUTH, Grpc, body, request
from .stubs import generation_stub, operation_stub

GENERATE = "/foundationModels/v1/imageGenerationAsync"
TYPE_URL = (
    "type.googleapis.com/yandex.cloud.ai.foundation_models.v1.image_generation."
    "ImageGenerationResponse"
)


async def _wait_done(grpc: Grpc, operation_id: str) -> Any:
    for _ in range(200):
        operation = await grpc.operations.get(GetOperationRequest(operation_id=operation_id))
        if operation.done:
            return operation
        await asyncio.sleep(0.01)
    raise AssertionError("operation did not finish")


async def test_grpc_operation_runs_then_holds_the_image(grpc: Grpc, emu: Emulator) -> None:
    started = await grpc.generation.generate(request(seed=7))
    assert re.fullmatch(r"[a-z0-9]{20}", started.id)
    assert started.done is False
    assert started.response is None and started.error is None
    assert started.description and started.created_at is not None
    done = await _wait_done(grpc, started.id)
    assert done.error is None
    assert done.response.type_url == TYPE_URL
    result = ImageGenerationResponse.parse(done.response.value)
    assert result.image.startswith(b"\xff\xd8\xff")
    assert result.model_version == emu.config.model_version
    assert done.modified_at >= done.created_at


def test_rest_operation_matches_the_openapi_models(rest: httpx.Client) -> None:
    started = rest.post(GENERATE, json=body(seed="42"))
    assert started.status_code == 200
    assert started.headers["x-request-id"]
    operation = rest_models.Operation.model_validate(started.json())
    assert operation.done is False and operation.created_at is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer = rest.get(f"/operations/{operation.id}")
        assert answer.status_code == 200
        data = answer.json()
        if data["done"]:
            break
        time.sleep(0.01)
    checked = rest_models.Operation.model_validate(data)
    assert checked.response is not None and checked.error is None
    assert data["response"]["@type"] == TYPE_URL
    assert base64.b64decode(data["response"]["image"]).startswith(b"\xff\xd8\xff")
    assert data["response"]["modelVersion"]
    assert data["createdAt"].endswith("Z")


def test_instant_generation_answers_done(start_emulator: Any) -> None:
    emulator = start_emulator(generation_seconds=0)
    with httpx.Client(base_url=emulator.rest_url, headers=AUTH) as client:
        data = client.post(GENERATE, json=body()).json()
    assert data["done"] is True
    assert "image" in data["response"]


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("Api-Key", False),
        ("Token abc", False),
        ("Api-Key two words", False),
        ("Api-Key anything", True),
        ("Bearer t1.anything", True),
        ("bearer lower-case-scheme", True),
    ],
)
def test_rest_auth_by_default_takes_any_well_formed_credential(
    emu: Emulator, header: str | None, accepted: bool
) -> None:
    headers = {} if header is None else {"authorization": header}
    answer = httpx.post(emu.rest_url + GENERATE, json=body(), headers=headers)
    assert answer.status_code == (200 if accepted else 401), answer.text
    if not accepted:
        assert answer.json()["code"] == 16
        assert "Api-Key" in answer.json()["message"]
        assert emu.stats().unauthenticated == 1


async def test_grpc_auth_rejection(emu: Emulator) -> None:
    channel = Channel("127.0.0.1", emu.grpc_port)
    try:
        anonymous = operation_stub(channel)
        with pytest.raises(GRPCError) as caught:
            await anonymous.get(GetOperationRequest(operation_id="x"))
        assert caught.value.status is Status.UNAUTHENTICATED
        malformed = generation_stub(channel, {"authorization": "Basic x"})
        with pytest.raises(GRPCError) as caught:
            await malformed.generate(request())
        assert caught.value.status is Status.UNAUTHENTICATED
        assert "malformed" in (caught.value.message or "")
    finally:
        channel.close()
    assert emu.stats().reads == 0  # refused before the quota counts anything


def test_configured_credentials_only(start_emulator: Any) -> None:
    emulator = start_emulator(api_keys=["good-key"], iam_tokens=["good-token"])
    url = emulator.rest_url + GENERATE
    for header, status in [
        ("Api-Key good-key", 200),
        ("Bearer good-token", 200),
        ("Api-Key other", 401),
        ("Bearer other", 401),
        ("Bearer good-key", 401),
    ]:
        answer = httpx.post(url, json=body(), headers={"authorization": header})
        assert answer.status_code == status, header
    assert emulator.auth == "good-key"


def test_keys_only_refuses_tokens(start_emulator: Any) -> None:
    emulator = start_emulator(api_keys=["k"])
    answer = httpx.post(
        emulator.rest_url + GENERATE, json=body(), headers={"authorization": "Bearer k"}
    )
    assert answer.status_code == 401
    assert "IAM token" in answer.json()["message"]


async def test_unknown_ids_are_not_found(grpc: Grpc, rest: httpx.Client) -> None:
    with pytest.raises(GRPCError) as caught:
        await grpc.operations.get(GetOperationRequest(operation_id="fbvnosuchoperation00"))
    assert caught.value.status is Status.NOT_FOUND
    assert "fbvnosuchoperation00" in (caught.value.message or "")
    with pytest.raises(GRPCError) as caught:
        await grpc.operations.cancel(CancelOperationRequest(operation_id="nope"))
    assert caught.value.status is Status.NOT_FOUND
    with pytest.raises(GRPCError) as caught:
        await grpc.operations.get(GetOperationRequest(operation_id=""))
    assert caught.value.status is Status.INVALID_ARGUMENT
    for path in ("/operations/nope", "/operations/nope:cancel", "/operations/a%20b"):
        answer = rest.get(path)
        assert answer.status_code == 404
        assert answer.json()["code"] == 5


async def test_cancel_running_operation(grpc: Grpc, emu: Emulator, start_emulator: Any) -> None:
    slow = start_emulator(generation_seconds=30)
    with httpx.Client(base_url=slow.rest_url, headers=AUTH) as client:
        started = client.post(GENERATE, json=body()).json()
        cancelled = client.get(f"/operations/{started['id']}:cancel")
        assert cancelled.status_code == 200
        data = cancelled.json()
        assert data["done"] is True
        assert data["error"]["code"] == 1
        assert "response" not in data
        again = client.get(f"/operations/{started['id']}:cancel")
        assert again.status_code == 400
        assert again.json()["code"] == 9  # FAILED_PRECONDITION
        assert client.get(f"/operations/{started['id']}").json()["error"]["code"] == 1
    assert slow.stats().operations[started["id"]].state == "cancelled"
    operation = await grpc.generation.generate(request())
    emu_op = await grpc.operations.cancel(CancelOperationRequest(operation_id=operation.id))
    assert emu_op.done and emu_op.error is not None and emu_op.error.code == 1


async def test_quota_51st_read_in_a_second_is_refused(grpc: Grpc, emu: Emulator) -> None:
    operation = await grpc.generation.generate(request())
    get = GetOperationRequest(operation_id=operation.id)
    results = await asyncio.gather(
        *(grpc.operations.get(get) for _ in range(51)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, GRPCError)]
    assert len(refused) == 1
    assert refused[0].status is Status.RESOURCE_EXHAUSTED
    stats = emu.stats()
    assert stats.reads == 51
    assert stats.resource_exhausted == 1
    assert stats.max_reads_per_window == 50
    assert stats.operations[operation.id].reads == 50


async def test_quota_counts_both_protocols_and_slides(
    grpc: Grpc, rest: httpx.Client, emu: Emulator
) -> None:
    operation = await grpc.generation.generate(request())
    get = GetOperationRequest(operation_id=operation.id)
    await asyncio.gather(*(grpc.operations.get(get) for _ in range(25)))
    for _ in range(25):
        assert rest.get(f"/operations/{operation.id}").status_code == 200
    refused = rest.get(f"/operations/{operation.id}")
    assert refused.status_code == 429
    assert refused.json()["code"] == 8
    with pytest.raises(GRPCError) as caught:
        await grpc.operations.get(get)
    assert caught.value.status is Status.RESOURCE_EXHAUSTED
    await asyncio.sleep(1.05)  # the window slides past the burst
    assert (await grpc.operations.get(get)).id == operation.id
    assert emu.stats().resource_exhausted == 2


def test_quota_can_be_lifted(start_emulator: Any) -> None:
    emulator = start_emulator(read_quota=None, generation_seconds=0)
    with httpx.Client(base_url=emulator.rest_url, headers=AUTH) as client:
        operation_id = client.post(GENERATE, json=body()).json()["id"]
        for _ in range(80):
            assert client.get(f"/operations/{operation_id}").status_code == 200
    assert emulator.stats().max_reads_per_window == 80


async def test_stats_record_done_times(grpc: Grpc, emu: Emulator) -> None:
    before = time.monotonic()
    operation = await grpc.generation.generate(request())
    running = emu.stats().operations[operation.id]
    assert running.state == "running" and running.done_monotonic is None
    await _wait_done(grpc, operation.id)
    done = emu.stats().operations[operation.id]
    assert done.state == "succeeded"
    assert done.done_monotonic is not None and done.done_at is not None
    assert before <= done.created_monotonic < done.done_monotonic <= time.monotonic()
    assert 0.05 <= done.done_monotonic - done.created_monotonic < 0.5  # generation_seconds
    assert done.reads >= 1
    stats = httpx.get(emu.rest_url + "/_emulator/stats").json()
    assert stats["operations"][operation.id]["done_monotonic"] == done.done_monotonic
    assert stats["calls"]["generate"] == 1


def test_jitter_spreads_durations(start_emulator: Any) -> None:
    emulator = start_emulator(generation_seconds=0.2, jitter=0.5, rng_seed=3)
    with httpx.Client(base_url=emulator.rest_url, headers=AUTH) as client:
        ids = [client.post(GENERATE, json=body()).json()["id"] for _ in range(6)]
    time.sleep(0.4)
    stats = emulator.stats().operations
    durations = [stats[i].done_monotonic - stats[i].created_monotonic for i in ids]  # type: ignore[operator]
    assert all(0.099 <= d < 0.6 for d in durations), durations  # 0.2 s +-50 %, plus timer slack
    assert max(durations) - min(durations) > 0.02


def test_reset_forgets_everything(rest: httpx.Client, emu: Emulator) -> None:
    operation_id = rest.post(GENERATE, json=body()).json()["id"]
    emu.faults.unavailable("get", 5)
    assert httpx.post(emu.rest_url + "/_emulator/reset").status_code == 200
    assert emu.stats().operations == {}
    assert emu.stats().calls["generate"] == 0
    assert rest.get(f"/operations/{operation_id}").status_code == 404  # no fault left


def test_retention_drops_old_results(start_emulator: Any) -> None:
    emulator = start_emulator(generation_seconds=0, retention_seconds=0.2)
    with httpx.Client(base_url=emulator.rest_url, headers=AUTH) as client:
        operation_id = client.post(GENERATE, json=body()).json()["id"]
        assert client.get(f"/operations/{operation_id}").status_code == 200
        time.sleep(0.3)
        gone = client.get(f"/operations/{operation_id}")
    assert gone.status_code == 404


async def test_endpoint_service_points_at_the_emulator(grpc: Grpc, emu: Emulator) -> None:
    listed = await grpc.endpoints.list(ListApiEndpointsRequest())
    ids = {e.id: e.address for e in listed.endpoints}
    assert ids["ai-foundation-models"] == emu.grpc_address
    assert ids["operation"] == emu.grpc_address
    one = await grpc.endpoints.get(GetApiEndpointRequest(api_endpoint_id="operation"))
    assert one.address == emu.grpc_address
    with pytest.raises(GRPCError) as caught:
        await grpc.endpoints.get(GetApiEndpointRequest(api_endpoint_id="no-such-api"))
    assert caught.value.status is Status.NOT_FOUND


def test_remote_binding_needs_a_flag() -> None:
    from yandex_art.emulator import EmulatorConfig, EmulatorConfigError

    with pytest.raises(EmulatorConfigError, match="allow_remote"):
        EmulatorConfig(host="0.0.0.0")
    assert EmulatorConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    assert EmulatorConfig(host="localhost").host == "localhost"
    assert EmulatorConfig(host="::1").host == "::1"

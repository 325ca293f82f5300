"""Retries, request ids and failure modes of the transport, against the official-stub server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.contract.official_server import JPEG, OfficialServer, Plan, RunningServer
from yandex_art import AIStudio
from yandex_art._runtime.errors import TransportError
from yandex_art._runtime.retry import RetryPolicy


@pytest.fixture
def server() -> Iterator[OfficialServer]:
    with RunningServer() as state:
        yield state


def test_reads_are_retried_with_the_same_request_id(server: OfficialServer) -> None:
    server.plan = Plan(seconds=0.05)
    with AIStudio(folder_id="f", auth="k", address=server.address, verify=False) as sdk:
        op = sdk.models.image_generation("yandex-art").attach_deferred("missing")
        server.fail_next["Get"] = 2
        model = sdk.models.image_generation("yandex-art")
        started = model.run_deferred("cat")
        assert started.wait().image_bytes == JPEG
    gets = [c for c in server.calls if c.method == "Get"]
    assert len(gets) >= 3  # two injected outages, then an answer
    # the retried read keeps its request id: the first three Gets are one logical call
    assert len({c.metadata["x-client-request-id"] for c in gets[:3]}) == 1
    assert op.id == "missing"


def test_generate_refused_once_is_retried_with_the_same_keys(server: OfficialServer) -> None:
    server.fail_next["Generate"] = 1
    with AIStudio(folder_id="f", auth="k", address=server.address, verify=False) as sdk:
        result = sdk.models.image_generation("yandex-art").run_deferred("cat").wait()
    assert result.image_bytes == JPEG
    generates = [c for c in server.calls if c.method == "Generate"]
    assert len(generates) == 2
    assert len({c.metadata["idempotency-key"] for c in generates}) == 1
    assert len({c.metadata["x-client-request-id"] for c in generates}) == 1
    assert len(server.ops) == 1  # nothing generated twice


def test_generate_gives_up_with_a_clear_error(server: OfficialServer) -> None:
    server.fail_next["Generate"] = 10
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01)
    with AIStudio(
        folder_id="f", auth="k", address=server.address, verify=False, retry_policy=policy
    ) as sdk:
        with pytest.raises(TransportError) as info:
            sdk.models.image_generation("yandex-art").run_deferred("cat")
    err = info.value
    assert err.code == "UNAVAILABLE"
    assert err.endpoint == server.address and "Generate" in err.method
    assert err.request_id and err.request_id in str(err)
    assert [c.method for c in server.calls] == ["Generate", "Generate"]


def test_unknown_operation_is_not_found(server: OfficialServer) -> None:
    with AIStudio(folder_id="f", auth="k", address=server.address, verify=False) as sdk:
        op = sdk.models.image_generation("yandex-art").attach_deferred("nope")
        with pytest.raises(TransportError, match="NOT_FOUND"):
            op.wait(poll_timeout=5)


def test_dead_endpoint_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with AIStudio(
        folder_id="f",
        auth="k",
        address=f"127.0.0.1:{port}",
        verify=False,
        retry_policy=RetryPolicy(max_attempts=3),
    ) as sdk:
        model = sdk.models.image_generation("yandex-art")
        started = time.monotonic()
        with pytest.raises(TransportError, match="UNAVAILABLE"):
            model.attach_deferred("x").wait(timeout=30)
        assert time.monotonic() - started < 3


def test_secrets_never_show(server: OfficialServer) -> None:
    with AIStudio(
        folder_id="f", auth="super-secret-key", address=server.address, verify=False
    ) as sdk:
        assert "super-secret-key" not in repr(sdk)
        server.fail_next["Generate"] = 10
        with pytest.raises(TransportError) as info:
            sdk.models.image_generation("yandex-art").run_deferred("cat")
        assert "super-secret-key" not in str(info.value) + repr(info.value)

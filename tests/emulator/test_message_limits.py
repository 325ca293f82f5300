"""Request size limits, enforced before a message is buffered (issue 22)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from h2.exceptions import StreamClosedError

from yandex_art._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    ImageGenerationRequest,
)
from yandex_art._gen.proto.yandex.cloud.operation import Operation
from yandex_art.emulator import Emulator
from yandex_art.emulator.grpc import MAX_MESSAGE_BYTES

from .conftest import AUTH, Grpc, request

GENERATE = (
    "/yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationAsyncService/Generate"
)


async def _send_raw(channel: Channel, prefix: bytes, body: bytes) -> Status | None:
    """Send a Generate whose 5-byte prefix and body are given; the status it ends with."""
    try:
        async with channel.request(
            GENERATE, Cardinality.UNARY_UNARY, ImageGenerationRequest, Operation, metadata=AUTH
        ) as stream:
            await stream.send_request()
            # The start of the message only (less than a flow-control window, so the send never
            # waits): the server must answer from the prefix, without waiting for the rest.
            try:
                await stream._stream.send_data(prefix + body, end_stream=False)
            except (StreamTerminatedError, StreamClosedError, ConnectionError):
                pass  # refused (the stream reset) while still sending: the answer says why
            stream._end_done = True  # sent by hand, past grpclib's own bookkeeping
            try:
                await stream.recv_message()
            except StreamTerminatedError:
                return None  # reset: the trailers (raised at the exit) carry the status
            return Status.OK
    except GRPCError as error:
        return error.status
    return None


@pytest.mark.parametrize(
    ("length", "sent"),
    [
        pytest.param(0xFFFFFFFF, 16, id="a-4GiB-prefix-with-16-bytes"),
        pytest.param(MAX_MESSAGE_BYTES + 1, 1024 * 1024, id="one-byte-over"),
    ],
)
async def test_a_message_over_the_limit_is_refused_before_it_is_read(
    emu: Emulator, grpc: Grpc, length: int, sent: int
) -> None:
    prefix = b"\x00" + length.to_bytes(4, "big")
    for _ in range(
        5
    ):  # 5 MiB on one connection (a 4 MiB window): each refusal gives its flow-control credit back
        status = await asyncio.wait_for(_send_raw(grpc.channel, prefix, b"\x00" * sent), 30)
        assert status == Status.RESOURCE_EXHAUSTED
    assert emu.stats().operations == {}
    # the connection is not left starved of flow-control credit: a normal call still works
    operation = await grpc.generation.generate(request("a cat"))
    assert operation.id


async def test_a_compressed_flag_is_refused(grpc: Grpc) -> None:
    status = await _send_raw(grpc.channel, b"\x01\x00\x00\x00\x02", b"\x00\x00")
    assert status == Status.UNIMPLEMENTED


def test_an_oversized_rest_body_is_refused_by_its_declared_length(emu: Emulator) -> None:
    with httpx.Client(base_url=emu.rest_url, headers=AUTH, timeout=30) as client:
        answer = client.post(
            "/foundationModels/v1/imageGenerationAsync",
            content=b"{" + b" " * (64 * 1024 * 1024) + b"}",
        )
    assert answer.status_code == 413 and answer.json()["code"] == 3

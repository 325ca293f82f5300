"""Emulators for the tests (loopback only) and raw clients for both protocols."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from grpclib.client import Channel

from yandex_art._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    AspectRatio,
    ImageGenerationOptions,
    ImageGenerationRequest,
    Message,
)
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory

from .stubs import endpoint_stub, generation_stub, operation_stub

KEY = "test-key"
AUTH = {"authorization": f"Api-Key {KEY}"}


@pytest.fixture
def emu(yandex_art_emulator: Emulator) -> Emulator:
    """The shipped pytest plugin's emulator (one per session, reset for each test).

    The emulator's own tests use the fixture users get, rather than a copy of it.
    """
    return yandex_art_emulator


@pytest.fixture
def start_emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Any]:
    """The plugin's factory, with what a test started stopped when the test ends."""
    with contextlib.ExitStack() as started:
        yield lambda **changes: started.enter_context(yandex_art_emulator_factory(**changes))


class Grpc:
    """Raw generated stubs on one channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.generation = generation_stub(channel, AUTH)
        self.operations = operation_stub(channel, AUTH)
        self.endpoints = endpoint_stub(channel)


@pytest.fixture
async def grpc(emu: Emulator) -> AsyncIterator[Grpc]:
    channel = Channel("127.0.0.1", emu.grpc_port)
    try:
        yield Grpc(channel)
    finally:
        channel.close()


@pytest.fixture
def rest(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.rest_url, headers=AUTH, timeout=10) as client:
        yield client


def request(
    text: str | list[str] = "a red cat",
    *,
    folder: str = "b1gemulatorfolder",
    seed: int | None = None,
    ratio: tuple[int, int] | None = None,
    mime_type: str | None = None,
) -> ImageGenerationRequest:
    """A gRPC request."""
    texts = [text] if isinstance(text, str) else text
    message = ImageGenerationRequest(
        model_uri=f"art://{folder}/yandex-art/latest",
        messages=[Message(text=t, weight=1.0) for t in texts],
    )
    if seed is not None or ratio is not None or mime_type is not None:
        options = ImageGenerationOptions(seed=seed or 0, mime_type=mime_type or "")
        if ratio is not None:
            options.aspect_ratio = AspectRatio(width_ratio=ratio[0], height_ratio=ratio[1])
        message.generation_options = options
    return message


def body(
    text: str = "a red cat",
    *,
    folder: str = "b1gemulatorfolder",
    seed: int | str | None = None,
    ratio: tuple[Any, Any] | None = None,
    mime_type: str | None = None,
) -> dict[str, Any]:
    """A REST request body."""
    data: dict[str, Any] = {
        "modelUri": f"art://{folder}/yandex-art/latest",
        "messages": [{"text": text, "weight": 1}],
    }
    options: dict[str, Any] = {}
    if seed is not None:
        options["seed"] = seed
    if ratio is not None:
        options["aspectRatio"] = {"widthRatio": ratio[0], "heightRatio": ratio[1]}
    if mime_type is not None:
        options["mimeType"] = mime_type
    if options:
        data["generationOptions"] = options
    return data

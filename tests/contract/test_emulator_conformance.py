"""The emulator accepts what the service accepts: the official SDK and the documented JSON forms.

The official SDK (yandex-ai-studio-sdk) runs through the emulator with no
configure() at all (it then sends ``aspect_ratio {0, 0}``, which the service
draws as 1:1) and configured; REST bodies are sent in every JSON form the
docs and the proto3 JSON mapping allow. Malformed input gets 4xx or
INVALID_ARGUMENT, never a 5xx, UNKNOWN or a traceback.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from PIL import Image

from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory

GENERATE = "/foundationModels/v1/imageGenerationAsync"
GENERATE_RPC = (
    "/yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationAsyncService/Generate"
)
LONG_SIDE = 64


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(
        generation_seconds=0, image_long_side=LONG_SIDE, read_quota=None
    ) as emu:
        yield emu


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _official(emu: Emulator) -> Any:
    from yandex_ai_studio_sdk import AIStudio as OfficialAIStudio

    return OfficialAIStudio(
        folder_id=emu.folder_id, auth=emu.api_key, endpoint=emu.grpc_address, verify=False
    )


def test_official_sdk_unconfigured_gets_the_default_ratio(emulator: Emulator) -> None:
    model = _official(emulator).models.image_generation("yandex-art")
    result = model.run_deferred("a cat").wait(poll_interval=0.05)
    assert _size(result.image_bytes) == (LONG_SIDE, LONG_SIDE)


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ({"seed": 50, "width_ratio": 1, "height_ratio": 2}, (LONG_SIDE // 2, LONG_SIDE)),
        ({"width_ratio": 2}, (LONG_SIDE, LONG_SIDE // 2)),  # height 0: the default, 1
        ({"height_ratio": 4}, (LONG_SIDE // 4, LONG_SIDE)),
        ({"mime_type": "image/jpeg", "seed": 0}, (LONG_SIDE, LONG_SIDE)),
    ],
    ids=["seed-and-ratio", "width-only", "height-only", "mime-and-zero-seed"],
)
def test_official_sdk_configured(
    emulator: Emulator, options: dict[str, Any], size: tuple[int, int]
) -> None:
    model = _official(emulator).models.image_generation("yandex-art").configure(**options)
    result = model.run_deferred("a cat").wait(poll_interval=0.05)
    assert _size(result.image_bytes) == size


def test_our_sdk_with_one_ratio_side_draws_the_documented_default(emulator: Emulator) -> None:
    for transport in ("grpc", "rest"):
        with emulator.sdk(transport) as sdk:
            model = sdk.models.image_generation("yandex-art").configure(width_ratio=2)
            result = model.run_deferred("a cat").wait()
        assert _size(result.image_bytes) == (LONG_SIDE, LONG_SIDE // 2), transport


def _body(emu: Emulator, messages: Any, options: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {"modelUri": emu.model_uri(), "messages": messages}
    if options is not None:
        data["generationOptions"] = options
    return data


CAT = [{"text": "a lighthouse on a cliff at dawn, watercolor", "weight": "1"}]
# (id, messages, generationOptions, expected pixel size)
JSON_FORMS = [
    (
        "docs-example-strings",
        CAT,
        {
            "mimeType": "image/jpeg",
            "seed": "1863",
            "aspectRatio": {"widthRatio": "2", "heightRatio": "1"},
        },
        (LONG_SIDE, LONG_SIDE // 2),
    ),
    (
        "numbers",
        [{"text": "a cat", "weight": 1}],
        {"seed": 1863, "aspectRatio": {"widthRatio": 2, "heightRatio": 1}},
        (LONG_SIDE, LONG_SIDE // 2),
    ),
    ("weight-decimal-string", [{"text": "a cat", "weight": "0.5"}], None, (LONG_SIDE, LONG_SIDE)),
    ("weight-exponent-string", [{"text": "a cat", "weight": "1e0"}], None, (LONG_SIDE, LONG_SIDE)),
    ("weight-omitted", [{"text": "a cat"}], None, (LONG_SIDE, LONG_SIDE)),
    ("options-omitted", CAT, None, (LONG_SIDE, LONG_SIDE)),
    ("options-empty", CAT, {}, (LONG_SIDE, LONG_SIDE)),
    ("ratio-empty", CAT, {"aspectRatio": {}}, (LONG_SIDE, LONG_SIDE)),
    (
        "ratio-zeros",
        CAT,
        {"aspectRatio": {"widthRatio": "0", "heightRatio": 0}},
        (LONG_SIDE, LONG_SIDE),
    ),
    ("ratio-width-only", CAT, {"aspectRatio": {"widthRatio": "4"}}, (LONG_SIDE, LONG_SIDE // 4)),
    ("ratio-height-only", CAT, {"aspectRatio": {"heightRatio": 2}}, (LONG_SIDE // 2, LONG_SIDE)),
    (
        "nulls-mean-unset",
        [{"text": "a cat", "weight": None}],
        {"seed": None, "aspectRatio": None},
        (LONG_SIDE, LONG_SIDE),
    ),
    (
        "int64-integral-number",
        CAT,
        {"seed": 7.0, "aspectRatio": {"widthRatio": 2.0}},
        (LONG_SIDE, LONG_SIDE // 2),
    ),
    (
        "negative-weight",
        [{"text": "a cat"}, {"text": "rain", "weight": "-0.5"}],
        None,
        (LONG_SIDE, LONG_SIDE),
    ),
]


@pytest.mark.parametrize(
    ("messages", "options", "size"), [pytest.param(*c[1:], id=c[0]) for c in JSON_FORMS]
)
def test_rest_accepts_every_documented_json_form(
    emulator: Emulator, messages: Any, options: Any, size: tuple[int, int]
) -> None:
    headers = {"authorization": f"Api-Key {emulator.api_key}"}
    with httpx.Client(base_url=emulator.rest_url, headers=headers, timeout=10) as client:
        started = client.post(GENERATE, json=_body(emulator, messages, options))
        assert started.status_code == 200, started.text
        operation = client.get(f"/operations/{started.json()['id']}").json()
    assert operation["done"], operation
    import base64

    assert _size(base64.b64decode(operation["response"]["image"])) == size


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            b'{"modelUri": "art://f/yandex-art/latest", "messages": [{"text": "\\ud800"}]}',
            "surrogate",
        ),
        (b'{"modelUri": "\\udfff", "messages": [{"text": "cat"}]}', "surrogate"),
        (b'{"\\ud83d": 1, "messages": [{"text": "cat"}]}', "surrogate"),
    ],
    ids=["in-text", "in-uri", "in-a-key"],
)
def test_lone_surrogates_are_a_400(emulator: Emulator, raw: bytes, problem: str) -> None:
    headers = {"authorization": "Api-Key k", "content-type": "application/json"}
    answer = httpx.post(f"{emulator.rest_url}{GENERATE}", content=raw, headers=headers, timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 3 and problem in answer.json()["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x02\xff\xfe",  # model_uri that is not UTF-8
        b"\x12\x04\x0a\x02\xc3\x28",  # messages[0].text that is not UTF-8
        b"\x0a\x05ab",  # truncated
        b"\x12\x03\x08",  # a sub-message cut short
    ],
    ids=["uri-not-utf8", "text-not-utf8", "truncated", "broken-submessage"],
)
def test_malformed_protobuf_is_invalid_argument(
    emulator: Emulator, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with grpc.insecure_channel(emulator.grpc_address) as channel:
        call = channel.unary_unary(GENERATE_RPC)  # bytes in, bytes out
        with caplog.at_level(logging.WARNING), pytest.raises(grpc.RpcError) as caught:
            call(raw, metadata=[("authorization", "Api-Key k")], timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert "Traceback" not in caplog.text
    time.sleep(0)  # nothing else to wait for: the answer came back

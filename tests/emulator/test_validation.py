"""Bad requests get INVALID_ARGUMENT / HTTP 400 with a message naming the field, on both wires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from yandex_art._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    AspectRatio,
    ImageGenerationOptions,
    ImageGenerationRequest,
    Message,
)
from yandex_art.emulator import Emulator

from .conftest import AUTH, Grpc, body, request


def _set_uri(uri: str) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    def on_grpc(r: ImageGenerationRequest) -> None:
        r.model_uri = uri

    def on_rest(b: dict[str, Any]) -> None:
        b["modelUri"] = uri

    return on_grpc, on_rest


def _texts(*texts: str) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    def on_grpc(r: ImageGenerationRequest) -> None:
        r.messages = [Message(text=t) for t in texts]

    def on_rest(b: dict[str, Any]) -> None:
        b["messages"] = [{"text": t} for t in texts]

    return on_grpc, on_rest


def _ratio(width: int, height: int) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    def on_grpc(r: ImageGenerationRequest) -> None:
        r.generation_options = ImageGenerationOptions(
            aspect_ratio=AspectRatio(width_ratio=width, height_ratio=height)
        )

    def on_rest(b: dict[str, Any]) -> None:
        b["generationOptions"] = {
            "aspectRatio": {"widthRatio": str(width), "heightRatio": str(height)}
        }

    return on_grpc, on_rest


def _mime(mime: str) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    def on_grpc(r: ImageGenerationRequest) -> None:
        r.generation_options = ImageGenerationOptions(mime_type=mime)

    def on_rest(b: dict[str, Any]) -> None:
        b["generationOptions"] = {"mimeType": mime}

    return on_grpc, on_rest


# (case id, mutation, gRPC field path, REST field path, words of the problem)
CASES = [
    ("no-uri", _set_uri(""), "model_uri", "modelUri", "required"),
    ("wrong-scheme", _set_uri("gpt://f/yandex-art/latest"), "model_uri", "modelUri", "art://"),
    ("no-version", _set_uri("art://f/yandex-art"), "model_uri", "modelUri", "art://"),
    ("extra-part", _set_uri("art://f/yandex-art/latest/x"), "model_uri", "modelUri", "art://"),
    ("no-messages", _texts(), "messages", "messages", "at least one"),
    ("empty-text", _texts("ok", ""), "messages[1].text", "messages[1].text", "empty"),
    ("long-text", _texts("x" * 501), "messages[0].text", "messages[0].text", "500"),
    (
        "gif",
        _mime("image/gif"),
        "generation_options.mime_type",
        "generationOptions.mimeType",
        "image/jpeg or image/png",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "grpc_field", "problem"),
    [pytest.param(c[1][0], c[2], c[4], id=c[0]) for c in CASES],
)
async def test_grpc_rejects_bad_requests(
    grpc: Grpc, emu: Emulator, mutate: Callable[[Any], None], grpc_field: str, problem: str
) -> None:
    message = request()
    mutate(message)
    with pytest.raises(GRPCError) as caught:
        await grpc.generation.generate(message)
    assert caught.value.status is Status.INVALID_ARGUMENT
    assert caught.value.message is not None
    assert caught.value.message.startswith(f"{grpc_field}: ")
    assert problem in caught.value.message
    assert emu.stats().operations == {}


@pytest.mark.parametrize(
    ("mutate", "rest_field", "problem"),
    [pytest.param(c[1][1], c[3], c[4], id=c[0]) for c in CASES],
)
def test_rest_rejects_bad_requests(
    rest: httpx.Client, emu: Emulator, mutate: Callable[[Any], None], rest_field: str, problem: str
) -> None:
    data = body()
    mutate(data)
    answer = rest.post("/foundationModels/v1/imageGenerationAsync", json=data)
    assert answer.status_code == 400
    status = answer.json()
    assert status["code"] == 3
    assert status["message"].startswith(f"{rest_field}: ")
    assert problem in status["message"]
    assert emu.stats().operations == {}


async def test_grpc_accepts_the_limits(grpc: Grpc) -> None:
    message = request(["x" * 500, "y"], seed=-(2**63), ratio=(2**63 - 1, 1), mime_type="image/png")
    operation = await grpc.generation.generate(message)
    assert operation.id


async def test_grpc_accepts_what_the_service_does_not_refuse(grpc: Grpc) -> None:
    """No invented rules: a zero or negative ratio side and any weight go through."""
    for ratio in ((0, 1), (2, -3), (0, 0)):
        assert (await grpc.generation.generate(request(ratio=ratio))).id
    message = request()
    message.messages[0].weight = float("nan")
    assert (await grpc.generation.generate(message)).id


def test_folder_must_match_when_configured(start_emulator: Any) -> None:
    emulator = start_emulator(folder_id="b1gmine")
    with httpx.Client(base_url=emulator.rest_url, headers=AUTH) as client:
        url = "/foundationModels/v1/imageGenerationAsync"
        wrong = client.post(url, json=body(folder="b1gother"))
        assert wrong.status_code == 400
        assert wrong.json()["message"].startswith("modelUri: folder 'b1gother'")
        assert "b1gmine" in wrong.json()["message"]
        assert client.post(url, json=body(folder="b1gmine")).status_code == 200


@pytest.mark.parametrize(
    ("payload", "field", "problem"),
    [
        pytest.param(
            {"seed": "9223372036854775808"},
            "generationOptions.seed",
            "int64 range",
            id="seed-range",
        ),
        pytest.param(
            {"seed": "-9223372036854775809"},
            "generationOptions.seed",
            "int64 range",
            id="seed-range-neg",
        ),
        pytest.param(
            {"seed": 2**64}, "generationOptions.seed", "int64 range", id="seed-number-range"
        ),
        pytest.param({"seed": "12ab"}, "generationOptions.seed", "int64", id="seed-text"),
        pytest.param({"seed": 1.5}, "generationOptions.seed", "int64", id="seed-fraction"),
        pytest.param({"seed": True}, "generationOptions.seed", "int64", id="seed-bool"),
        pytest.param({"mimeType": 5}, "generationOptions.mimeType", "string", id="mime-number"),
        pytest.param(
            {"aspectRatio": "16:9"}, "generationOptions.aspectRatio", "object", id="ratio-text"
        ),
        pytest.param(
            {"aspectRatio": {"widthRatio": "x", "heightRatio": 1}},
            "generationOptions.aspectRatio.widthRatio",
            "int64",
            id="ratio-part-text",
        ),
    ],
)
def test_rest_checks_option_types(
    rest: httpx.Client, payload: dict[str, Any], field: str, problem: str
) -> None:
    data = body()
    data["generationOptions"] = payload
    answer = rest.post("/foundationModels/v1/imageGenerationAsync", json=data)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(f"{field}: ")
    assert problem in answer.json()["message"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"messages": "cat"}, "messages", id="messages-text"),
        pytest.param({"messages": ["cat"]}, "messages[0]", id="message-text"),
        pytest.param({"messages": [{"text": 1}]}, "messages[0].text", id="text-number"),
        pytest.param(
            {"messages": [{"text": "a", "weight": "one"}]}, "messages[0].weight", id="weight-text"
        ),
        pytest.param({"messages": [{"text": None}]}, "messages[0].text", id="text-null"),
        pytest.param(
            {"messages": [{"text": "a", "weight": 10**400}]}, "messages[0].weight", id="weight-huge"
        ),
        pytest.param({"modelUri": ["x"]}, "modelUri", id="uri-array"),
        pytest.param({"generationOptions": []}, "generationOptions", id="options-array"),
    ],
)
def test_rest_checks_shapes(rest: httpx.Client, data: dict[str, Any], field: str) -> None:
    payload = {**body(), **data}
    answer = rest.post("/foundationModels/v1/imageGenerationAsync", json=payload)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 3
    assert answer.json()["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "raw",
    [b"", b"[1, 2]", b'"cat"', b"{", b"\xff\xfe", b'{"seed": NaN}', b"null"],
    ids=["empty", "array", "string", "truncated", "not-utf8", "nan", "null"],
)
def test_rest_rejects_bodies_that_are_not_a_request(rest: httpx.Client, raw: bytes) -> None:
    answer = rest.post(
        "/foundationModels/v1/imageGenerationAsync",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["code"] == 3
    assert "body" in answer.json()["message"]


def test_rest_ignores_unknown_keys(rest: httpx.Client) -> None:
    data = body()
    data["futureField"] = {"x": 1}
    data["messages"][0]["note"] = "ignored"
    answer = rest.post("/foundationModels/v1/imageGenerationAsync", json=data)
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("header", "value"),
    [("x-client-request-id", "not-a-uuid"), ("x-data-logging-enabled", "maybe")],
)
def test_rest_checks_declared_headers(rest: httpx.Client, header: str, value: str) -> None:
    answer = rest.post(
        "/foundationModels/v1/imageGenerationAsync", json=body(), headers={header: value}
    )
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(f"{header}: ")
    fine = rest.post(
        "/foundationModels/v1/imageGenerationAsync",
        json=body(),
        headers={
            "x-client-request-id": "3f1c3c1e-6f1a-4a57-9a3e-2f0c4f3b1a11",
            "x-data-logging-enabled": "false",
        },
    )
    assert fine.status_code == 200


def test_a_zero_or_missing_option_takes_its_documented_default() -> None:
    """The field contract's zero (``fields.is_zero``) is "not set": a 0 ratio side means 1."""
    from yandex_art.emulator.validation import validate_request

    def params(options: ImageGenerationOptions | None) -> Any:
        return validate_request(
            ImageGenerationRequest(
                model_uri="art://b1g/yandex-art/latest",
                messages=[Message(text="a cat")],
                generation_options=options,
            )
        )

    zero = params(ImageGenerationOptions(aspect_ratio=AspectRatio(width_ratio=0, height_ratio=3)))
    assert (zero.width_ratio, zero.height_ratio) == (1, 3)
    assert dict(zero.options)["width_ratio"] == 1
    missing = params(None)
    assert (missing.width_ratio, missing.height_ratio, missing.mime_type) == (1, 1, "image/jpeg")
    assert (missing.folder_id, missing.model, missing.version) == ("b1g", "yandex-art", "latest")
    assert missing.texts == ("a cat",)

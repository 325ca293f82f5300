"""`cassette verify`: what a recording holds that today's specs lack, named by message and
field, with a non-zero exit code."""

from __future__ import annotations

import io
from pathlib import Path

from yandex_art._gen import image_generation_rules as RULES
from yandex_art._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    ImageGenerationRequest,
    ImageGenerationResponse,
    Message,
)
from yandex_art._gen.proto.yandex.cloud.operation import GetOperationRequest, Operation
from yandex_art.cassette import Cassette, Interaction, Recorded, load, save, verify
from yandex_art.cassette.format import METHODS
from yandex_art.cassette.messages import decode
from yandex_art.cli import EXIT_OK, EXIT_OPERATION, main

GENERATE = next(path for path in METHODS if path.endswith("/Generate"))
GET = "/yandex.cloud.operation.OperationService/Get"
RESULT_URL = RULES.RESULT_TYPE_URL
REQUEST = ImageGenerationRequest(
    model_uri="art://b1g/yandex-art/latest", messages=[Message(text="a cat")]
)


def _varint_field(number: int, value: int) -> bytes:
    """One varint field on the wire (small numbers only)."""
    return bytes([number << 3 | 0, value]) if number < 16 else bytes([(number << 3 | 0) & 0x7F | 0x80, number >> 4, value])  # fmt: skip


def _generate(response: bytes) -> Interaction:
    return Interaction(
        GENERATE, decode(ImageGenerationRequest, bytes(REQUEST)), decode(Operation, response)
    )


def _run_verify(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["cassette", "verify", str(path)], stdout=out, stderr=err)
    return code, out.getvalue()


def test_a_field_number_the_specs_lack_in_the_generate_answer_is_named(tmp_path: Path) -> None:
    answer = bytes(Operation(id="op1", description="Image generation")) + _varint_field(42, 1)
    interaction = _generate(answer)
    assert interaction.response is not None and interaction.response.wire == answer  # kept
    path = tmp_path / "drift.json"
    save(Cassette([interaction]), path)
    code, out = _run_verify(path)
    assert code == EXIT_OPERATION
    assert "interaction #0 response: yandex.cloud.operation.Operation.#42: field number 42 (varint) is not in the specs" in out  # fmt: skip
    # The recording still replays byte for byte: the wire is what is served.
    assert load(path).interactions[0].response.wire == answer  # type: ignore[union-attr]


def test_a_field_number_inside_the_result_any_is_named(tmp_path: Path) -> None:
    image = bytes(ImageGenerationResponse(image=b"\xff\xd8\xff", model_version="v")) + _varint_field(3, 5)  # fmt: skip
    from yandex_art._gen.proto.google.protobuf import Any

    done = Operation(id="op1", done=True, response=Any(type_url=RESULT_URL, value=image))
    interaction = Interaction(GET, decode(GetOperationRequest, bytes(GetOperationRequest(operation_id="op1"))), decode(Operation, bytes(done)))  # fmt: skip
    found = [str(f) for f in verify(Cassette([interaction]))]
    assert found == [
        "interaction #0 response: yandex.cloud.ai.foundation_models.v1.image_generation."
        "ImageGenerationResponse.response.#3: field number 3 (varint) is not in the specs"
    ]


def test_an_any_of_a_type_the_specs_lack_on_the_wire_is_named() -> None:
    from yandex_art._gen.proto.google.protobuf import Any

    done = Operation(id="op1", done=True, response=Any(type_url="type.googleapis.com/x.New", value=b"\x08\x01"))  # fmt: skip
    recorded = decode(Operation, bytes(done))
    assert recorded.wire == bytes(done)  # proto3 JSON cannot hold it: the bytes are kept
    interaction = Interaction(GET, Recorded("yandex.cloud.operation.GetOperationRequest", {"operationId": "op1"}), recorded)  # fmt: skip
    found = [str(f) for f in verify(Cassette([interaction]))]
    assert "interaction #0 response: google.protobuf.Any.response: type 'type.googleapis.com/x.New' is not in the specs" in found  # fmt: skip


def test_json_keys_enum_values_types_and_refusals_are_named() -> None:
    request = Recorded(
        "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationRequest",
        {"modelUri": "art://b1g/yandex-art/latest", "messages": [{"text": ""}],
         "generationOptions": {"seed": "x", "style": "anime"}},
    )  # fmt: skip
    response = Recorded(
        "yandex.cloud.operation.Operation",
        {"id": "op1", "done": "yes", "response": {"@type": "type.googleapis.com/x.New", "a": 1}},
    )
    empty = Recorded(request.type, {"modelUri": "art://b1g/yandex-art/latest", "messages": [{"text": ""}]})  # fmt: skip
    cassette = Cassette([Interaction(GENERATE, request, response), Interaction(GENERATE, empty, None)])  # fmt: skip
    found = [str(f) for f in verify(cassette)]
    prefix = "interaction #0 request: yandex.cloud.ai.foundation_models.v1.image_generation."
    assert prefix + "ImageGenerationOptions.generationOptions.seed: must be an integer (int64), got 'x'" in found  # fmt: skip
    assert prefix + "ImageGenerationOptions.generationOptions.style: this JSON key is not a field in the specs" in found  # fmt: skip
    assert prefix + "ImageGenerationRequest: the emulator refuses this request (INVALID_ARGUMENT: generationOptions.seed: must be an int64 (an integer or a decimal string), got the string 'x')" in found  # fmt: skip
    assert "interaction #1 request: yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationRequest: the emulator refuses this request (INVALID_ARGUMENT: messages[0].text: must not be empty)" in found  # fmt: skip
    assert "interaction #0 response: yandex.cloud.operation.Operation.done: must be true or false, got 'yes'" in found  # fmt: skip
    assert "interaction #0 response: google.protobuf.Any.response: type 'type.googleapis.com/x.New' is not in the specs" in found  # fmt: skip


def test_an_answer_of_another_type_than_the_specs_say() -> None:
    request = Recorded("yandex.cloud.operation.GetOperationRequest", {"operationId": "op1"})
    response = Recorded("yandex.cloud.endpoint.ApiEndpoint", {"id": "x"})
    found = [str(f) for f in verify(Cassette([Interaction(GET, request, response)]))]
    assert found == [
        "interaction #0 response: yandex.cloud.endpoint.ApiEndpoint: "
        "the specs answer this method with yandex.cloud.operation.Operation"
    ]


def test_a_clean_cassette_passes(tmp_path: Path) -> None:
    path = tmp_path / "clean.json"
    save(Cassette([_generate(bytes(Operation(id="op1")))]), path)
    assert _run_verify(path) == (EXIT_OK, "")

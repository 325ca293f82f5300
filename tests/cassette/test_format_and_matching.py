"""The cassette format (stable, versioned, credentials never kept), matching by method and
body, the order of operation reads, and --shrink-images."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

import yandex_art.cassette
from yandex_art.cassette import Cassette, CassetteError, Interaction, Recorded, load, save
from yandex_art.cassette.format import FORMAT, VERSION, dumps, parse
from yandex_art.cassette.images import shrink, shrink_image
from yandex_art.cassette.matcher import Matcher, NoMatch, canonical
from yandex_art.cassette.messages import kept_headers

GENERATE = "/yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationAsyncService/Generate"  # fmt: skip
GET = "/yandex.cloud.operation.OperationService/Get"
REQUEST = "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationRequest"
GET_REQUEST = "yandex.cloud.operation.GetOperationRequest"
OPERATION = "yandex.cloud.operation.Operation"


def _get(operation_id: str, done: bool) -> Interaction:
    answer = Recorded(OPERATION, {"id": operation_id, "done": done})
    return Interaction(GET, Recorded(GET_REQUEST, {"operationId": operation_id}), answer)


def _generate(seed: str) -> Interaction:
    body = {"modelUri": "art://b1g/yandex-art/latest", "messages": [{"text": "cat"}],
            "generationOptions": {"seed": seed}}  # fmt: skip
    return Interaction(GENERATE, Recorded(REQUEST, body), Recorded(OPERATION, {"id": "op1"}))


def test_the_file_is_versioned_sorted_and_round_trips(tmp_path: Path) -> None:
    cassette = Cassette([_generate("7"), _get("op1", True)])
    cassette.interactions[0].request_headers = {"x-client-request-id": "r1"}
    path = tmp_path / "c.json"
    save(cassette, path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert (data["format"], data["version"]) == (FORMAT, VERSION)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert dumps(load(path)) == text  # read back and written again: the same bytes


def test_a_newer_version_or_another_format_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="version 99 is newer"):
        parse({"format": FORMAT, "version": 99, "interactions": []})
    with pytest.raises(CassetteError, match="unknown cassette format 'vcr'"):
        parse({"format": "vcr", "version": 1, "interactions": []})
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(CassetteError, match=r"cannot read the cassette .*bad\.json"):
        load(tmp_path / "bad.json")


def test_credentials_are_never_kept_whatever_the_header_name() -> None:
    headers = [
        ("Authorization", "Api-Key AQVNsecret"), ("x-api-key", "k"), ("cookie", "c=1"),
        ("x-client-secret", "s"), ("x-iam-token", "t"), ("X-Client-Request-Id", "r1"),
        ("idempotency-key", "i1"), ("user-agent", "ua"),
    ]  # fmt: skip
    assert kept_headers(headers) == {"idempotency-key": "i1", "x-client-request-id": "r1"}


def test_bodies_match_in_their_canonical_form() -> None:
    # int64 as a number or a string, an empty sub-message or none: the same request.
    written = {"modelUri": "u", "messages": [{"text": "a", "weight": 0}],
               "generationOptions": {"seed": 7, "aspectRatio": {}}}  # fmt: skip
    canonical_form = {"modelUri": "u", "messages": [{"text": "a"}], "generationOptions": {"seed": "7"}}  # fmt: skip
    assert canonical(REQUEST, written) == canonical_form


def test_reads_are_served_in_the_recorded_order_then_the_last_again() -> None:
    matcher = Matcher([Cassette([_generate("7"), _get("op1", False), _get("op1", True)])])
    assert matcher.answer(GENERATE, REQUEST, _generate("7").request.message).response is not None
    answers = [
        matcher.answer(GET, GET_REQUEST, {"operationId": "op1"}).response.message["done"]  # type: ignore[union-attr]
        for _ in range(3)
    ]
    assert answers == [False, True, True]
    assert matcher.unused() == [] and matcher.misses == []


def test_a_miss_names_the_closest_request_and_the_fields_that_differ() -> None:
    matcher = Matcher([Cassette([_generate("7"), _get("op1", True)])])
    with pytest.raises(NoMatch) as caught:
        matcher.answer(GENERATE, REQUEST, _generate("8").request.message)
    assert str(caught.value) == (
        "no recorded Generate request matches: the closest (interaction #0) differs in "
        "generationOptions.seed: recorded '7', got '8'"
    )
    with pytest.raises(NoMatch, match=r"no recorded .*Cancel call in the cassette"):
        matcher.answer(GET.replace("Get", "Cancel"), GET_REQUEST, {"operationId": "op1"})
    assert len(matcher.misses) == 2
    assert matcher.unused() == [
        "interaction #0 (Generate {'modelUri': 'art://b1g/yandex-art/latest', 'messages': "
        "[{'text': 'cat'}], 'gene...) was never requested",
        "interaction #1 (Get {'operationId': 'op1'}) was never requested",
    ]


def _image(kind: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format=kind)
    return out.getvalue()


@pytest.mark.parametrize(("kind", "size"), [("JPEG", (1024, 512)), ("PNG", (300, 600))])
def test_shrunk_images_keep_their_type_and_proportions(kind: str, size: tuple[int, int]) -> None:
    big = _image(kind, size)
    operation = {"id": "op1", "done": True, "response": {"@type": "x", "image": base64.b64encode(big).decode()}}  # fmt: skip
    small_b64 = shrink(Recorded(OPERATION, operation, wire=b"x")).message["response"]["image"]
    small = base64.b64decode(small_b64)
    assert len(small) < len(big) and small == shrink_image(big)
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == kind
        assert image.size[0] / image.size[1] == pytest.approx(size[0] / size[1])


def test_the_schema_describes_every_key_written() -> None:
    schema_path = Path(yandex_art.cassette.__file__).parent / "cassette.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    interaction = _generate("7")
    interaction.response = Recorded(OPERATION, {"id": "op1"}, wire=b"\x08\x01")
    interaction.http_status = 200
    data = Cassette([interaction]).to_json()
    assert set(data) == set(schema["properties"]) == set(schema["required"])
    assert schema["properties"]["format"]["const"] == FORMAT
    written = data["interactions"][0]
    described = schema["$defs"]["interaction"]
    assert set(written) == set(described["properties"])
    assert set(described["required"]) == set(written) - {"httpStatus"}  # REST calls only
    assert set(written["response"]) == set(schema["$defs"]["message"]["properties"])
    assert set(written["status"]) == set(described["properties"]["status"]["properties"])

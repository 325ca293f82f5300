"""Our generated messages against the official ``yandexcloud`` stubs, byte for byte.

Every message of the specs is filled with non-default values in every field,
serialised by us, parsed by the official stubs, serialised again and compared;
then the other way round. JSON (proto3 mapping) is compared as well.
"""

from __future__ import annotations

import datetime
import importlib
from typing import Any

import pytest
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message as PbMessage

from yandex_art._gen.proto.google import protobuf as our_wkt
from yandex_art._gen.proto.google import rpc as our_rpc
from yandex_art._gen.proto.yandex.cloud import api as our_api
from yandex_art._gen.proto.yandex.cloud import endpoint as our_ep
from yandex_art._gen.proto.yandex.cloud import operation as our_op
from yandex_art._gen.proto.yandex.cloud.ai.foundation_models.v1 import image_generation as our_ig

ig_pb = importlib.import_module(
    "yandex.cloud.ai.foundation_models.v1.image_generation.image_generation_pb2"
)
igs_pb = importlib.import_module(
    "yandex.cloud.ai.foundation_models.v1.image_generation.image_generation_service_pb2"
)
op_pb = importlib.import_module("yandex.cloud.operation.operation_pb2")
ops_pb = importlib.import_module("yandex.cloud.operation.operation_service_pb2")
api_op_pb = importlib.import_module("yandex.cloud.api.operation_pb2")
ep_pb = importlib.import_module("yandex.cloud.endpoint.api_endpoint_pb2")
eps_pb = importlib.import_module("yandex.cloud.endpoint.api_endpoint_service_pb2")

TS = datetime.datetime(2026, 11, 25, 10, 30, 15, 123456, tzinfo=datetime.timezone.utc)
RESPONSE = our_ig.ImageGenerationResponse(
    image=b"\xff\xd8\xff\xe0jpeg-bytes\xff\xd9", model_version="2.0"
)
OPTIONS = our_ig.ImageGenerationOptions(
    mime_type="image/jpeg",
    seed=-9223372036854775808,
    aspect_ratio=our_ig.AspectRatio(width_ratio=16, height_ratio=9223372036854775807),
)
REQUEST = our_ig.ImageGenerationRequest(
    model_uri="art://b1gfolder/yandex-art/latest",
    messages=[
        our_ig.Message(text="a red cat", weight=1.5),
        our_ig.Message(text="кот в сапогах ✓", weight=-0.25),
    ],
    generation_options=OPTIONS,
)


def _op(**result: Any) -> our_op.Operation:
    return our_op.Operation(
        id="fbveu1ccgl5hv4ak9qd6",
        description="Image generation",
        created_at=TS,
        created_by="ajeabc",
        modified_at=TS + datetime.timedelta(seconds=3),
        done=True,
        metadata=our_wkt.Any.pack(our_ig.AspectRatio(width_ratio=1, height_ratio=2)),
        **result,
    )


# (name, our message, official class)
CASES: list[tuple[str, Any, type[PbMessage]]] = [
    ("Message", our_ig.Message(text="hello", weight=0.5), ig_pb.Message),
    ("AspectRatio", our_ig.AspectRatio(width_ratio=2, height_ratio=1), ig_pb.AspectRatio),
    ("ImageGenerationOptions", OPTIONS, ig_pb.ImageGenerationOptions),
    ("ImageGenerationRequest", REQUEST, igs_pb.ImageGenerationRequest),
    ("ImageGenerationResponse", RESPONSE, igs_pb.ImageGenerationResponse),
    (
        "GetOperationRequest",
        our_op.GetOperationRequest(operation_id="abc"),
        ops_pb.GetOperationRequest,
    ),
    (
        "CancelOperationRequest",
        our_op.CancelOperationRequest(operation_id="abc"),
        ops_pb.CancelOperationRequest,
    ),
    ("Operation/response", _op(response=our_wkt.Any.pack(RESPONSE)), op_pb.Operation),
    (
        "Operation/error",
        _op(
            error=our_rpc.Status(
                code=3, message="messages[0].text: too long", details=[our_wkt.Any.pack(RESPONSE)]
            )
        ),
        op_pb.Operation,
    ),
    (
        "Operation/running",
        our_op.Operation(id="x", description="running", created_at=TS),
        op_pb.Operation,
    ),
    (
        "api.Operation",
        our_api.Operation(metadata="Meta", response="ImageGenerationResponse"),
        api_op_pb.Operation,
    ),
    ("ApiEndpoint", our_ep.ApiEndpoint(id="operation", address="127.0.0.1:1"), ep_pb.ApiEndpoint),
    (
        "ListApiEndpointsResponse",
        our_ep.ListApiEndpointsResponse(
            endpoints=[our_ep.ApiEndpoint(id="a", address="b")], next_page_token="t"
        ),
        eps_pb.ListApiEndpointsResponse,
    ),
    (
        "ListApiEndpointsRequest",
        our_ep.ListApiEndpointsRequest(page_size=10, page_token="p"),
        eps_pb.ListApiEndpointsRequest,
    ),
    (
        "GetApiEndpointRequest",
        our_ep.GetApiEndpointRequest(api_endpoint_id="operation"),
        eps_pb.GetApiEndpointRequest,
    ),
]
IDS = [c[0] for c in CASES]


def _unset_fields(msg: PbMessage, prefix: str = "") -> list[str]:
    """Fields of an official message left at their default (oneof siblings excepted)."""
    missing = []
    for field in msg.DESCRIPTOR.fields:
        if field.containing_oneof is not None and msg.WhichOneof(
            field.containing_oneof.name
        ) not in (None, field.name):
            continue
        if field.is_repeated:
            if not len(getattr(msg, field.name)):
                missing.append(prefix + field.name)
        elif field.message_type is not None:
            if not msg.HasField(field.name):
                missing.append(prefix + field.name)
            elif field.message_type.full_name not in (
                "google.protobuf.Any",
                "google.protobuf.Timestamp",
            ):
                missing.extend(_unset_fields(getattr(msg, field.name), f"{prefix}{field.name}."))
        elif getattr(msg, field.name) == field.default_value:
            missing.append(prefix + field.name)
    return missing


@pytest.mark.parametrize(("name", "ours", "official_cls"), CASES, ids=IDS)
def test_ours_to_official_and_back(name: str, ours: Any, official_cls: type[PbMessage]) -> None:
    data = bytes(ours)
    official = official_cls.FromString(data)
    if not name.endswith("running"):
        assert _unset_fields(official) == [], "the sample must exercise every field"
    assert official.SerializeToString(deterministic=True) == data
    again = type(ours).parse(official.SerializeToString())
    assert bytes(again) == data
    assert again == ours


@pytest.mark.parametrize(("name", "ours", "official_cls"), CASES, ids=IDS)
def test_json_mapping_matches_official(name: str, ours: Any, official_cls: type[PbMessage]) -> None:
    official = official_cls.FromString(bytes(ours))
    expected = json_format.MessageToDict(official, descriptor_pool=_pool())
    assert ours.to_dict() == expected
    assert bytes(type(ours).from_dict(expected)) == bytes(ours)


def _pool() -> Any:
    from google.protobuf import descriptor_pool

    return descriptor_pool.Default()


def test_operation_any_response_unpacks_in_both() -> None:
    op = _op(response=our_wkt.Any.pack(RESPONSE))
    official = op_pb.Operation.FromString(bytes(op))
    assert official.WhichOneof("result") == "response"
    assert official.response.type_url == (
        "type.googleapis.com/yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationResponse"
    )
    unpacked = igs_pb.ImageGenerationResponse()
    assert official.response.Unpack(unpacked)
    assert unpacked.image == RESPONSE.image and unpacked.model_version == "2.0"
    # and the official side packs, we unpack
    packed = any_pb2.Any()
    packed.Pack(igs_pb.ImageGenerationResponse(image=b"\x89PNG", model_version="3"))
    theirs = op_pb.Operation(id="y", done=True, response=packed)
    ours = our_op.Operation.parse(theirs.SerializeToString())
    assert ours.response is not None
    assert ours.response.unpack() == our_ig.ImageGenerationResponse(
        image=b"\x89PNG", model_version="3"
    )


def test_operation_error_status_round_trips() -> None:
    theirs = op_pb.Operation(id="z", done=True)
    theirs.error.code = 8
    theirs.error.message = "quota"
    detail = theirs.error.details.add()
    detail.Pack(igs_pb.ImageGenerationResponse(model_version="x"))
    ours = our_op.Operation.parse(theirs.SerializeToString())
    assert ours.error is not None and ours.response is None
    assert (ours.error.code, ours.error.message) == (8, "quota")
    assert ours.error.details[0].unpack() == our_ig.ImageGenerationResponse(model_version="x")
    assert bytes(ours) == theirs.SerializeToString(deterministic=True)

"""A model service with another name, package and URI scheme regenerates into a working model.

Nothing in the generator names the image-generation service: the fixture
``fixtures/other_service`` adds ``VideoGenerationAsyncService`` beside it, and
its model class, configuration, rules table and transports come out of the
same templates, and call a gRPC server as the image model does.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2

from codegen import openapi_derive, pipeline
from tests.codegen.variant import import_generated, submodule
from yandex_art import AIStudio
from yandex_art._runtime.errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "other_service"
PACKAGE = "yandex.cloud.ai.foundation_models.v1.video_generation"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(64)


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("other_service")
    specs = tmp / "specs"
    shutil.copytree(ROOT / "specs", specs)
    with tempfile.TemporaryDirectory() as scratch:
        before = pipeline.descriptor_set(pipeline.stage_specs(specs), Path(scratch))
        shutil.copytree(FIXTURE, specs, dirs_exist_ok=True)
        after = pipeline.descriptor_set(pipeline.stage_specs(specs), Path(scratch))
    assert isinstance(before, descriptor_pb2.FileDescriptorSet)
    openapi_derive.update(specs / "openapi" / "image_generation.yaml", before, after)
    pipeline.generate(specs, tmp / "out", strict=True)  # the smoke stage included
    return import_generated(tmp / "out")


class _Server:
    """Generate and OperationService.Get of the video service, with the variant's messages."""

    def __init__(self, variant: str) -> None:
        self.proto = submodule(variant, f"proto.{PACKAGE}")
        self.ops = submodule(variant, "proto.yandex.cloud.operation")
        self.any = submodule(variant, "proto.google.protobuf")
        self.requests: list[Any] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {
            f"/{PACKAGE}.VideoGenerationAsyncService/Generate": self._generate,
            "/yandex.cloud.operation.OperationService/Get": self._get,
        }
        self.server.add_generic_rpc_handlers([_Handlers(handlers)])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _generate(self, data: bytes) -> bytes:
        self.requests.append(self.proto.VideoGenerationRequest.parse(data))
        return bytes(self.ops.Operation(id="vid-1", done=False))

    def _get(self, data: bytes) -> bytes:
        response = self.any.Any(
            type_url=f"type.googleapis.com/{PACKAGE}.VideoGenerationResponse",
            value=bytes(self.proto.VideoGenerationResponse(video=MP4)),
        )
        return bytes(self.ops.Operation(id="vid-1", done=True, response=response))


class _Handlers(grpc.GenericRpcHandler):
    def __init__(self, methods: dict[str, Any]) -> None:
        self.methods = methods

    def service(self, details: Any) -> Any:
        method = self.methods.get(details.method)
        if method is None:
            return None
        return grpc.unary_unary_rpc_method_handler(lambda request, _context: method(request))


@pytest.fixture
def server(variant: str) -> Iterator[_Server]:
    running = _Server(variant)
    yield running
    running.server.stop(0)


def test_the_other_service_gets_its_own_module_rules_and_transport(variant: str) -> None:
    rules = submodule(variant, "video_generation_rules")
    assert rules.SERVICE == f"{PACKAGE}.VideoGenerationAsyncService"
    assert rules.URI_SCHEME == "vid"  # from the comment of model_uri
    assert [r.name for r in rules.OPTION_RULES] == ["fps", "length"]
    assert rules.OPTION_RULES[1].construct == "duration"
    transport = submodule(variant, "transports.video_generation_async_service")
    assert f"/{PACKAGE}.VideoGenerationAsyncService/Generate" in transport.GRPC_METHODS
    # and the image service is still there, untouched
    assert submodule(variant, "image_generation_rules").URI_SCHEME == "art"


def test_the_other_model_generates_through_grpc(variant: str, server: _Server) -> None:
    module = submodule(variant, "video_generation")
    # The facade knows only the image service: the variant's model gets a core of its own,
    # with every service at the test server's address (no endpoint discovery).
    sdk = AIStudio(
        folder_id="b1gfolder", auth="test-key", address=f"127.0.0.1:{server.port}", env={}
    )
    core = sdk._core
    try:
        factory = module.VideoGeneration(core)
        model = factory("yandex-video").configure(fps=24, length=datetime.timedelta(seconds=4))
        assert model.uri == "vid://b1gfolder/yandex-video/latest"
        with pytest.raises(InvalidArgumentError, match="at least one message"):
            model.run_deferred([])
        result = model.run_deferred("a cat walks in").wait(poll_timeout=10)
    finally:
        core.close()
    assert result.video_bytes == MP4
    (request,) = server.requests
    assert request.model_uri == "vid://b1gfolder/yandex-video/latest"
    assert [scene.text for scene in request.scenes] == ["a cat walks in"]
    assert request.video_options.fps == 24
    assert request.video_options.length == datetime.timedelta(seconds=4)

"""``python -m codegen upstream DIR [--apply]`` on small upstream changes.

The upstream tree is built from specs/ with today's upstream image-generation
protos (``history/2026-05-21``) laid over it, then changed the way a release
could change it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from codegen import openapi_derive, pipeline, protodiff, tools, upstream
from codegen.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
TODAY = Path(__file__).parent / "history" / "2026-05-21"
PKG = "yandex.cloud.ai.foundation_models.v1.image_generation"
IMAGE = "yandex/cloud/ai/foundation_models/v1/image_generation/image_generation.proto"
SERVICE = "yandex/cloud/ai/foundation_models/v1/image_generation/image_generation_service.proto"


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of specs/, a cloudapi-like tree at today's release)."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    cloudapi = tmp_path / "cloudapi"
    shutil.copytree(ROOT / "specs" / "yandex", cloudapi / "yandex")
    shutil.copytree(TODAY, cloudapi, dirs_exist_ok=True)
    return specs, cloudapi


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _snapshot(specs: Path) -> dict[str, bytes]:
    return {
        p.relative_to(specs).as_posix(): p.read_bytes() for p in specs.rglob("*") if p.is_file()
    }


def _schema(specs: Path, name: str) -> dict[str, object]:
    doc = yaml.safe_load((specs / "openapi" / "image_generation.yaml").read_text())
    schema: dict[str, object] = doc["components"]["schemas"][name]
    return schema


def _text_options(specs: Path) -> dict[str, str]:
    fds = protodiff.compile_files(tools.include_roots(specs), upstream.spec_protos(specs))
    (file,) = [f for f in fds.file if f.name == IMAGE]
    message = next(m for m in file.message_type if m.name == "Message")
    return protodiff.OptionReader(fds).read(message.field[0].options)


def test_today_upstream_is_specs_and_apply_changes_nothing(
    trees: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    specs, cloudapi = trees
    report = upstream.diff(specs, cloudapi)
    assert report.identical
    assert {d.where for d, _ in report.kept} == set(upstream.project_differences(specs)) - {
        f"yandex.cloud.endpoint.ApiEndpointService.{rpc} option [google.api.http]"
        for rpc in ("Get", "List")  # this tree's endpoint file comes from specs/
    }
    before = _snapshot(specs)
    assert upstream.apply(specs, cloudapi).written == []
    assert _snapshot(specs) == before
    assert main(["upstream", str(cloudapi), "--specs", str(specs)]) == 0
    assert "0 difference(s) to bring in" in capsys.readouterr().out


def test_comments_and_layout_are_no_difference(trees: tuple[Path, Path]) -> None:
    specs, cloudapi = trees
    path = cloudapi / IMAGE
    text = (
        path.read_text()
        .replace("// ", "// Reworded: ")
        .replace("  int64 seed = 2;", "int64   seed=2 ;")
    )
    path.write_text("// a new file comment\n" + text)
    assert upstream.diff(specs, cloudapi).to_apply == []


def test_a_new_field_is_reported_applied_and_generated(
    trees: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs, cloudapi = trees
    _edit(
        cloudapi / IMAGE,
        "  AspectRatio aspect_ratio = 3;\n",
        "  AspectRatio aspect_ratio = 3;\n\n  // Number of denoising steps.\n  int64 steps = 4;\n",
    )
    assert main(["upstream", str(cloudapi), "--specs", str(specs)]) == 1
    out = capsys.readouterr().out
    assert (
        f"+ {PKG}.ImageGenerationOptions.steps: only upstream: field steps = 4 (optional int64)"
        in out
    )

    assert main(["upstream", str(cloudapi), "--specs", str(specs), "--apply"]) == 0
    taken = (specs / IMAGE).read_text()
    assert "int64 steps = 4;" in taken
    # upstream's comment on what is new; ours (with its sources) on what did not change
    assert "  // Number of denoising steps.\n  int64 steps = 4;" in taken
    assert "// Text of the prompt, at most 500 characters" in taken
    assert "// Text describing the image." not in taken
    steps = _schema(specs, "ImageGenerationOptions")["properties"]["steps"]  # type: ignore[index]
    assert steps["x-proto-number"] == 4 and steps["x-proto-type"] == "int64"
    assert steps["description"] == "Number of denoising steps."
    assert {t["type"] for t in steps["anyOf"]} == {"integer", "string"}
    # what the project adds survives, on both transports
    assert _text_options(specs) == {
        "[yandex.cloud.length]": '"<=500"',
        "[yandex.cloud.required]": "true",
    }
    assert _schema(specs, "Message")["properties"]["text"]["maxLength"] == 500  # type: ignore[index]
    # unchanged properties keep their hand-written keys
    ratio = _schema(specs, "AspectRatio")["properties"]["widthRatio"]  # type: ignore[index]
    assert ratio["default"] == 1
    # the result passes codegen's strict consistency check and reaches configure()
    pipeline.generate(specs, tmp_path / "out")
    model = (tmp_path / "out" / "yandex_art" / "_gen" / "image_generation" / "model.py").read_text()
    assert "steps: UndefinedOr[int | None]" in model
    # and nothing is left to bring in
    assert main(["upstream", str(cloudapi), "--specs", str(specs)]) == 0


def test_removed_and_changed_fields(trees: tuple[Path, Path]) -> None:
    specs, cloudapi = trees
    _edit(cloudapi / IMAGE, "  int64 seed = 2;\n", "")
    _edit(cloudapi / IMAGE, "int64 height_ratio = 2;", "int32 height_ratio = 5;")
    report = upstream.diff(specs, cloudapi)
    found = {d.where: d for d in report.to_apply}
    assert found[f"{PKG}.ImageGenerationOptions.seed"].upstream is None
    assert (
        found[f"{PKG}.AspectRatio.height_ratio number"].ours,
        found[f"{PKG}.AspectRatio.height_ratio number"].upstream,
    ) == ("2", "5")
    assert found[f"{PKG}.AspectRatio.height_ratio type"].upstream == "TYPE_INT32"
    done = upstream.apply(specs, cloudapi)
    assert "- ImageGenerationOptions.seed" in done.openapi
    options = _schema(specs, "ImageGenerationOptions")["properties"]
    assert "seed" not in options  # type: ignore[operator]
    height = _schema(specs, "AspectRatio")["properties"]["heightRatio"]  # type: ignore[index]
    assert (height["x-proto-number"], height["type"], height["format"]) == (5, "integer", "int32")
    assert "description" in height  # the hand-written text is kept
    taken = (specs / IMAGE).read_text()
    assert (
        "  // Weight of height in image.\n  int32 height_ratio = 5;" in taken
    )  # changed: upstream's
    assert "// Width part of the ratio. 0 or not set means 1" in taken  # unchanged: ours
    assert "default" not in height  # a default of the old type is not carried over


def test_new_constructs_get_their_json_forms(trees: tuple[Path, Path]) -> None:
    """Enum, repeated bytes, map, oneof, wrapper and Duration: the proto3 JSON forms."""
    specs, cloudapi = trees
    _edit(
        cloudapi / IMAGE,
        "package yandex.cloud.ai.foundation_models.v1.image_generation;\n",
        "package yandex.cloud.ai.foundation_models.v1.image_generation;\n\n"
        'import "google/protobuf/duration.proto";\nimport "google/protobuf/wrappers.proto";\n',
    )
    _edit(
        cloudapi / IMAGE,
        "  AspectRatio aspect_ratio = 3;\n",
        "  AspectRatio aspect_ratio = 3;\n"
        "  enum Style { STYLE_UNSPECIFIED = 0; PHOTO = 1; }\n"
        "  Style style = 4;\n"
        "  repeated bytes references = 5;\n"
        "  map<string, string> labels = 6;\n"
        "  oneof size { int64 width = 7; Palette palette = 8; }\n"
        "  google.protobuf.Int64Value quality = 9;\n"
        "  google.protobuf.Duration timeout = 10;\n"
        "}\n\nmessage Palette {\n  repeated string colors = 1;\n",
    )
    upstream.apply(specs, cloudapi)
    props = _schema(specs, "ImageGenerationOptions")["properties"]
    assert props["style"]["enum"] == ["STYLE_UNSPECIFIED", "PHOTO"]  # type: ignore[index]
    assert props["references"]["items"] == {"type": "string", "format": "byte"}  # type: ignore[index]
    assert props["labels"]["type"] == "object"  # type: ignore[index]
    assert props["labels"]["additionalProperties"] == {"type": "string"}  # type: ignore[index]
    assert props["width"]["x-proto-oneof"] == "size"  # type: ignore[index]
    assert props["palette"]["allOf"] == [{"$ref": "#/components/schemas/Palette"}]  # type: ignore[index]
    assert props["quality"]["x-proto-message"] == "google.protobuf.Int64Value"  # type: ignore[index]
    assert props["timeout"]["type"] == "string"  # type: ignore[index]
    palette = _schema(specs, "Palette")
    assert palette["properties"]["colors"]["type"] == "array"  # type: ignore[index]


def test_a_new_http_rpc_gets_its_operation(trees: tuple[Path, Path]) -> None:
    specs, cloudapi = trees
    _edit(
        cloudapi / SERVICE,
        "service ImageGenerationAsyncService {\n",
        "service ImageGenerationAsyncService {\n"
        "  // Draws an image and answers with it.\n"
        "  rpc GenerateSync(ImageGenerationRequest) returns (ImageGenerationResponse) {\n"
        '    option (google.api.http) = {post: "/foundationModels/v1/imageGeneration" body: "*"};\n'
        "  }\n",
    )
    done = upstream.apply(specs, cloudapi)
    assert (
        "+ POST /foundationModels/v1/imageGeneration (ImageGenerationAsyncService_GenerateSync)"
        in done.openapi
    )
    doc = yaml.safe_load((specs / "openapi" / "image_generation.yaml").read_text())
    op = doc["paths"]["/foundationModels/v1/imageGeneration"]["post"]
    assert op["operationId"] == "ImageGenerationAsyncService_GenerateSync"
    assert op["summary"] == "Draws an image and answers with it."
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImageGenerationRequest"
    }
    # the consistency check of codegen accepts the derived document
    from codegen import consistency

    consistency.check(pipeline.load_api(specs), specs / "openapi" / "image_generation.yaml")


def test_the_derived_document_is_deterministic(trees: tuple[Path, Path]) -> None:
    specs, _ = trees
    path = specs / "openapi" / "image_generation.yaml"
    doc = yaml.safe_load(path.read_text())
    once = openapi_derive.dump(doc)
    assert openapi_derive.dump(yaml.safe_load(once)) == once


def test_not_a_checkout_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstream", str(tmp_path)]) == 1
    assert "not a cloudapi checkout" in capsys.readouterr().err


def test_a_removed_upstream_option_stays_removed(trees: tuple[Path, Path]) -> None:
    """The endpoint service's http rules (``ours: null``) are left out again after apply."""
    specs, cloudapi = trees
    endpoint = cloudapi / "yandex/cloud/endpoint/api_endpoint_service.proto"
    # upstream's form: http rules on both rpcs; and a new field to bring in
    _edit(endpoint, "import ", 'import "google/api/annotations.proto";\nimport ')
    _edit(
        endpoint,
        "rpc Get (GetApiEndpointRequest) returns (ApiEndpoint);",
        "rpc Get (GetApiEndpointRequest) returns (ApiEndpoint) {\n"
        '    option (google.api.http) = { get: "/endpoints/{api_endpoint_id}" };\n  }',
    )
    _edit(
        endpoint,
        "rpc List (ListApiEndpointsRequest) returns (ListApiEndpointsResponse);",
        "rpc List (ListApiEndpointsRequest) returns (ListApiEndpointsResponse) {\n"
        '    option (google.api.http) = { get: "/endpoints" };\n  }',
    )
    _edit(
        endpoint,
        "  string api_endpoint_id = 1;\n",
        "  string api_endpoint_id = 1;\n  string zone = 2;\n",
    )
    done = upstream.apply(specs, cloudapi)
    assert "yandex.cloud.endpoint.ApiEndpointService.Get option [google.api.http]" in done.reapplied
    taken = (specs / "yandex/cloud/endpoint/api_endpoint_service.proto").read_text()
    assert "string zone = 2;" in taken and "google.api.http" not in taken
    report = upstream.diff(specs, cloudapi)
    assert report.identical and len(report.kept) == 4
    assert done.openapi == []  # no http rule, no OpenAPI change


def test_a_project_option_on_an_rpc_is_put_back(trees: tuple[Path, Path]) -> None:
    """Statement options (here an invented one on an rpc) are re-added too, not only field ones."""
    specs, cloudapi = trees
    where = f"{PKG}.ImageGenerationAsyncService.Generate option deprecated"
    _edit(
        specs / SERVICE,
        '    option (yandex.cloud.api.operation) = { response: "ImageGenerationResponse" };\n',
        '    option (yandex.cloud.api.operation) = { response: "ImageGenerationResponse" };\n'
        "    option deprecated = true;\n",
    )
    listed = specs / upstream.DIFFERENCES_FILE
    listed.write_text(
        listed.read_text() + f"  - where: {where}\n    ours: 'true'\n    reason: a test.\n"
    )
    _edit(
        cloudapi / SERVICE,
        "  string model_version = 2;\n",
        "  string model_version = 2;\n  int64 took_ms = 3;\n",
    )
    done = upstream.apply(specs, cloudapi)
    assert where in done.reapplied
    report = upstream.diff(specs, cloudapi)
    assert report.identical and where in {d.where for d, _ in report.kept}
    assert "+ ImageGenerationResponse.tookMs (field took_ms = 3)" in done.openapi


def test_new_enum_values_reach_the_document(trees: tuple[Path, Path]) -> None:
    """A field whose own shape is unchanged is derived again when its enum gains a value."""
    specs, cloudapi = trees
    _edit(
        cloudapi / IMAGE,
        "  AspectRatio aspect_ratio = 3;\n",
        "  AspectRatio aspect_ratio = 3;\n  enum Style { STYLE_UNSPECIFIED = 0; PHOTO = 1; }\n"
        "  // The style.\n  Style style = 4;\n",
    )
    upstream.apply(specs, cloudapi)
    _edit(cloudapi / IMAGE, "PHOTO = 1;", "PHOTO = 1; SKETCH = 2;")
    done = upstream.apply(specs, cloudapi)
    assert "~ ImageGenerationOptions.style (field style = 4)" in done.openapi
    style = _schema(specs, "ImageGenerationOptions")["properties"]["style"]  # type: ignore[index]
    assert style["enum"] == ["STYLE_UNSPECIFIED", "PHOTO", "SKETCH"]
    assert style["description"] == "The style."


def test_the_prompt_limit_survives_a_change_of_the_prompt_field(trees: tuple[Path, Path]) -> None:
    """Re-derived from the options apply puts back, the REST limit stays with the gRPC one."""
    specs, cloudapi = trees
    _edit(cloudapi / IMAGE, "  string text = 1;", "  string text = 1 [deprecated = true];")
    done = upstream.apply(specs, cloudapi)
    assert "~ Message.text (field text = 1)" in done.openapi
    text = _schema(specs, "Message")["properties"]["text"]  # type: ignore[index]
    assert (text["minLength"], text["maxLength"], text["deprecated"]) == (1, 500, True)
    assert _text_options(specs)["[yandex.cloud.length]"] == '"<=500"'
    # and a new string field with a length option gets its maxLength from it
    _edit(
        cloudapi / IMAGE,
        "  double weight = 2;",
        '  double weight = 2;\n  string negative = 3 [(yandex.cloud.length) = "1-200"];',
    )
    _edit(
        cloudapi / IMAGE,
        "package yandex.cloud.ai.foundation_models.v1.image_generation;\n",
        'package yandex.cloud.ai.foundation_models.v1.image_generation;\n\nimport "yandex/cloud/validation.proto";\n',
    )
    upstream.apply(specs, cloudapi)
    negative = _schema(specs, "Message")["properties"]["negative"]  # type: ignore[index]
    assert (negative["minLength"], negative["maxLength"]) == (1, 200)

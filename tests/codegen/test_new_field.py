"""A field added to ImageGenerationOptions in the specs reaches the SDK with no hand edit."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
import yaml

from codegen import consistency, pipeline
from tests.codegen.variant import free_field_number, import_generated, submodule
from yandex_art import AIStudio
from yandex_art._runtime.auth import APIKeyAuth
from yandex_art._runtime.client_core import ClientCore
from yandex_art._runtime.errors import InvalidArgumentError
from yandex_art._runtime.undefined import UNDEFINED

ROOT = Path(__file__).resolve().parents[2]
OPTIONS_PROTO = "yandex/cloud/ai/foundation_models/v1/image_generation/image_generation.proto"
OPTIONS = "yandex.cloud.ai.foundation_models.v1.image_generation.ImageGenerationOptions"
NEW_FIELD = """
  // How closely the picture follows the prompt, from 1 to 20.
  int64 guidance = {number} [(value) = "1-20"];
"""


def _copy_specs(tmp: Path, *, openapi: bool) -> Path:
    specs = tmp / "specs"
    shutil.copytree(ROOT / "specs", specs)
    number = free_field_number(specs, OPTIONS)  # so a field the specs gain breaks nothing here
    proto = specs / OPTIONS_PROTO
    text = proto.read_text()
    anchor = "message ImageGenerationOptions {\n"
    assert anchor in text
    proto.write_text(text.replace(anchor, anchor + NEW_FIELD.format(number=number)))
    if openapi:
        doc_path = specs / "openapi" / "image_generation.yaml"
        doc = yaml.safe_load(doc_path.read_text())
        props = doc["components"]["schemas"]["ImageGenerationOptions"]["properties"]
        props["guidance"] = {
            "anyOf": [
                {"type": "string", "format": "int64"},
                {"type": "integer", "format": "int64"},
            ],
            "x-proto-type": "int64",
            "x-proto-number": number,
        }
        doc_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return specs


_SDK = AIStudio(folder_id="b1gfolder", auth=APIKeyAuth("test-key"), env={})


def _core() -> ClientCore:
    return _SDK._core  # the client stays open: a collected one closes its core


def test_new_option_reaches_config_configure_and_request(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path, openapi=True)
    pipeline.generate(specs, tmp_path / "out", strict=True)
    package = import_generated(tmp_path / "out")
    config_mod = submodule(package, "image_generation.config")
    model_mod = submodule(package, "image_generation.model")
    rest = submodule(package, "rest.models")

    # the config dataclass has the field, documented from the proto comment
    config = config_mod.ImageGenerationModelConfig()
    assert config.guidance is None
    assert "How closely the picture follows the prompt" in inspect.getsource(config_mod)

    # configure() has it as a keyword-only parameter defaulting to UNDEFINED
    param = inspect.signature(model_mod.ImageGenerationModel.configure).parameters["guidance"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY
    assert param.default is UNDEFINED

    model = model_mod.ImageGenerationModel(uri="art://b1gfolder/yandex-art/latest", core=_core())
    configured = model.configure(guidance=7, seed=0)
    assert configured.config.guidance == 7
    request = configured._build_request("a red cat")
    assert request.generation_options.guidance == 7
    assert bytes(request)  # serialises with the new field number
    assert type(request).parse(bytes(request)).generation_options.guidance == 7

    # bounds come from the (value) option, errors name the parameter
    with pytest.raises(InvalidArgumentError, match="guidance"):
        model.configure(guidance=0)
    with pytest.raises(InvalidArgumentError, match="guidance"):
        model.configure(guidance=21)

    # and the REST model, from the OpenAPI side, carries it too
    body = rest.ImageGenerationRequest.model_validate(request.to_dict())
    assert (
        body.model_dump(mode="json", by_alias=True, exclude_none=True)["generationOptions"][
            "guidance"
        ]
        == "7"
    )


def test_one_field_touches_only_the_files_that_depend_on_it(tmp_path: Path) -> None:
    """Issue 13's measure: at most 7 generated files change, and no header-only churn."""
    pipeline.generate(_copy_specs(tmp_path, openapi=True), tmp_path / "out", strict=True)
    before, after = ROOT / "generated", tmp_path / "out"
    changed = sorted(
        str(path.relative_to(after))
        for path in after.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and (before / path.relative_to(after)).read_bytes() != path.read_bytes()
    )
    assert 0 < len(changed) <= 7, changed
    assert not [name for name in changed if "/google/" in name or "operation" in name], changed


def test_new_option_reaches_the_emulator_and_the_cli(tmp_path: Path) -> None:
    """The emulator's validation and the CLI flags come from the generated rules table."""
    import argparse

    from yandex_art import cli
    from yandex_art.emulator.errors import EmulatorError
    from yandex_art.emulator.rest import parse_generation_request
    from yandex_art.emulator.validation import validate_request

    specs = _copy_specs(tmp_path, openapi=True)
    pipeline.generate(specs, tmp_path / "out")
    package = import_generated(tmp_path / "out")
    rules = submodule(package, "image_generation_rules")
    proto = submodule(package, "proto.yandex.cloud.ai.foundation_models.v1.image_generation")
    model_mod = submodule(package, "image_generation.model")

    # the table has the field, its bounds from the (value) option and its JSON name
    (rule,) = [r for r in rules.OPTION_RULES if r.name == "guidance"]
    assert (rule.kind, rule.minimum, rule.maximum, rule.json_path) == (
        "int64",
        1,
        20,
        ("guidance",),
    )

    # the emulator validates it, by the table, over both wire forms
    def request(guidance: int) -> object:
        return proto.ImageGenerationRequest(
            model_uri="art://b1gfolder/yandex-art/latest",
            messages=[proto.Message(text="a red cat")],
            generation_options=proto.ImageGenerationOptions(guidance=guidance),
        )

    params = validate_request(request(7), rules=rules)
    assert dict(params.options)["guidance"] == 7
    with pytest.raises(EmulatorError, match=r"^generation_options\.guidance: must be at most 20"):
        validate_request(request(21), rules=rules)
    body = {
        "modelUri": "art://b1gfolder/yandex-art/latest",
        "messages": [{"text": "a red cat", "weight": "1"}],
        "generationOptions": {"guidance": "7"},
    }
    parsed = parse_generation_request(body, rules=rules, request_type=proto.ImageGenerationRequest)
    assert parsed.generation_options.guidance == 7
    body["generationOptions"] = {"guidance": "seven"}
    with pytest.raises(EmulatorError, match=r"^generationOptions\.guidance: must be an int64"):
        parse_generation_request(body, rules=rules, request_type=proto.ImageGenerationRequest)
    body["generationOptions"] = {"guidance": 0.5e2}
    parsed = parse_generation_request(body, rules=rules, request_type=proto.ImageGenerationRequest)
    with pytest.raises(EmulatorError, match="guidance"):
        validate_request(parsed, json_names=True, rules=rules)

    # the CLI has a --guidance flag, and what it parses is what configure() takes
    parser = argparse.ArgumentParser()
    cli.add_generation_flags(parser, rules)
    args = parser.parse_args(["--guidance", "7", "--ratio", "1:2", "--mime-type", "png"])
    options = cli.generation_options(args, rules)
    assert options == {
        "guidance": 7,
        "width_ratio": 1,
        "height_ratio": 2,
        "mime_type": "image/png",
    }
    model = model_mod.ImageGenerationModel(uri="art://b1gfolder/yandex-art/latest", core=_core())
    built = model.configure(**options)._build_request("a red cat")
    assert built.generation_options.guidance == 7
    assert "--guidance" in parser.format_help()


def test_consistency_check_catches_a_field_missing_from_openapi(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path, openapi=False)
    with pytest.raises(consistency.SpecMismatch, match="guidance"):
        pipeline.generate(specs, tmp_path / "strict", strict=True)
    # --no-strict never lets a field reach gRPC and not REST: refused all the same
    with pytest.raises(consistency.SpecMismatch, match="guidance") as caught:
        pipeline.generate(specs, tmp_path / "lenient", strict=False)
    assert caught.value.wire
    assert not (tmp_path / "lenient").exists()


def test_comment_with_odd_characters_becomes_a_valid_docstring(tmp_path: Path) -> None:
    """Quotes, backslashes and non-ASCII text in a proto comment must not break the output."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    proto = specs / OPTIONS_PROTO
    odd = 'Seed: """quoted""", C:\\path, ends with a quote " — сид'
    text = proto.read_text()
    anchor = "  // Seed of the random generator; with 0 or no seed the server picks one.\n"
    assert anchor in text
    proto.write_text(text.replace(anchor, f"  // {odd}\n"))
    pipeline.generate(specs, tmp_path / "out", strict=True)
    package = import_generated(tmp_path / "out")
    config_mod = submodule(package, "image_generation.config")
    source = inspect.getsource(config_mod)
    compile(source, "config.py", "exec")
    model_mod = submodule(package, "image_generation.model")
    doc = model_mod.ImageGenerationModel.configure.__doc__ or ""
    assert odd in doc

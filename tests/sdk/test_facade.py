"""The public surface without a network: construction, models, configure, results."""

from __future__ import annotations

from pathlib import Path

import pytest

from yandex_art import (
    UNDEFINED,
    AIStudio,
    AsyncAIStudio,
    ClientClosedError,
    ConfigurationError,
    ImageGenerationModelResult,
    InvalidArgumentError,
)

ENV = {"YC_FOLDER_ID": "b1genv", "YC_API_KEY": "env-key"}


def _sdk(**kwargs: object) -> AIStudio:
    kwargs.setdefault("env", {})
    return AIStudio(**{"folder_id": "b1gfolder", "auth": "key", **kwargs})  # type: ignore[arg-type]


def test_missing_folder_id_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="YC_FOLDER_ID"):
        AIStudio(auth="key", env={})


def test_missing_credentials_name_the_variables() -> None:
    with pytest.raises(ConfigurationError, match="YC_API_KEY") as info:
        AIStudio(folder_id="f", env={})
    assert "auth=" in str(info.value)


def test_environment_supplies_folder_and_key() -> None:
    sdk = AIStudio(env=ENV)
    assert sdk.folder_id == "b1genv"
    assert "env-key" not in repr(sdk)
    sdk.close()


def test_plaintext_only_for_loopback() -> None:
    with pytest.raises(ConfigurationError, match="plaintext"):
        _sdk(address="llm.api.cloud.yandex.net:443", verify=False)
    _sdk(address="127.0.0.1:5000", verify=False).close()
    _sdk(address="localhost:5000", verify=False).close()
    _sdk(address="example.com:5000", verify=False, allow_insecure=True).close()


def test_service_map_and_endpoint_validation() -> None:
    with pytest.raises(ConfigurationError, match="unknown service"):
        _sdk(service_map={"nope": "127.0.0.1:1"})
    with pytest.raises(ConfigurationError, match="host:port"):
        _sdk(address="https://example.com")
    with pytest.raises(ConfigurationError, match="port"):
        _sdk(address="127.0.0.1:99999")
    with pytest.raises(ConfigurationError, match="verify"):
        _sdk(verify="/no/such/ca.pem")
    sdk = _sdk(service_map={"operation": "127.0.0.1:7000"}, address="127.0.0.1:6000", verify=False)
    assert str(sdk._core.endpoints["operation"]) == "127.0.0.1:7000"
    assert str(sdk._core.endpoints["ai-foundation-models"]) == "127.0.0.1:6000"
    assert sdk._core.rest_base("operation") == "http://127.0.0.1:7000"
    sdk.close()


def test_default_endpoints_use_tls() -> None:
    sdk = _sdk()
    assert str(sdk._core.endpoints["ai-foundation-models"]) == "llm.api.cloud.yandex.net:443"
    assert str(sdk._core.endpoints["operation"]) == "operation.api.cloud.yandex.net:443"
    assert sdk._core.rest_base("operation") == "https://operation.api.cloud.yandex.net"
    sdk.close()


def test_model_uri_and_its_parts() -> None:
    sdk = _sdk()
    model = sdk.models.image_generation("yandex-art")
    assert model.uri == "art://b1gfolder/yandex-art/latest"
    assert (model.name, model.version, model.owner, model.fine_tuned) == (
        "yandex-art",
        "latest",
        "b1gfolder",
        False,
    )
    tuned = sdk.models.image_generation("art://other/yandex-art/rc@tun123")
    assert (tuned.owner, tuned.version, tuned.fine_tuned) == ("other", "rc@tun123", True)
    assert sdk.models.image_generation("yandex-art", model_version="rc").uri.endswith("/rc")
    for bad in ("", "   ", "art://", "art://f/", "art://f/m/v/extra"):
        with pytest.raises(ValueError):
            sdk.models.image_generation(bad)
    sdk.close()


def test_configure_is_immutable_and_tells_unset_from_none_from_zero() -> None:
    sdk = _sdk()
    base = sdk.models.image_generation("yandex-art")
    a = base.configure(seed=50, width_ratio=1, height_ratio=2)
    assert base.config.seed is None
    b = a.configure(mime_type="image/png")
    assert (b.config.seed, b.config.width_ratio, b.config.mime_type) == (50, 1, "image/png")
    c = b.configure(seed=None, mime_type=UNDEFINED)
    assert c.config.seed is None and c.config.mime_type == "image/png"
    zero = c.configure(seed=0)
    assert zero.config.seed == 0
    request = zero._build_request("cat")
    assert request.generation_options is not None and request.generation_options.seed == 0
    sdk.close()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"width_ratio": 2**63}, "width_ratio"),
        ({"height_ratio": -(2**63) - 1}, "height_ratio"),
        ({"seed": 2**63}, "seed"),
    ],
)
def test_configure_rejects_bad_values_naming_the_parameter(
    kwargs: dict[str, object], name: str
) -> None:
    sdk = _sdk()
    with pytest.raises(InvalidArgumentError, match=name):
        sdk.models.image_generation("yandex-art").configure(**kwargs)  # type: ignore[arg-type]
    sdk.close()


def test_configure_accepts_what_the_service_accepts() -> None:
    """No invented bounds: 0 means the documented default (1) and is sent as is."""
    sdk = _sdk()
    model = sdk.models.image_generation("yandex-art").configure(width_ratio=2, height_ratio=0)
    options = model._build_request("cat").generation_options
    assert options is not None and options.aspect_ratio is not None
    assert (options.aspect_ratio.width_ratio, options.aspect_ratio.height_ratio) == (2, 0)
    assert model.configure(mime_type="").config.mime_type == ""
    sdk.close()


def test_configure_rejects_wrong_types() -> None:
    sdk = _sdk()
    model = sdk.models.image_generation("yandex-art")
    with pytest.raises(TypeError, match="seed"):
        model.configure(seed="50")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="width_ratio"):
        model.configure(width_ratio=True)
    sdk.close()


class _Prompt:
    def __init__(self, text: str, weight: float | None = None) -> None:
        self.text = text
        self.weight = weight


def test_message_shapes() -> None:
    sdk = _sdk()
    model = sdk.models.image_generation("yandex-art")
    from yandex_art import ImageMessage

    request = model._build_request(
        [
            "plain",
            ImageMessage("dataclass", weight=2.0),
            {"text": "dict", "weight": 0.5},
            _Prompt("object", 1.0),
        ]
    )
    assert [(m.text, m.weight) for m in request.messages] == [
        ("plain", 0.0),
        ("dataclass", 2.0),
        ("dict", 0.5),
        ("object", 1.0),
    ]
    assert len(model._build_request(_Prompt("single")).messages) == 1
    assert len(model._build_request("x" * 500).messages) == 1
    with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.text"):
        model._build_request("x" * 501)
    with pytest.raises(InvalidArgumentError, match=r"messages\[1\]"):
        model._build_request(["ok", {"txt": "typo"}])
    with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.text"):
        model._build_request({"text": ""})
    sdk.close()


def test_result_repr_and_notebook_hooks(tmp_path: Path) -> None:
    jpeg = ImageGenerationModelResult(image_bytes=b"\xff\xd8\xff" + b"0" * 5000, model_version="v1")
    assert "5003 bytes" in repr(jpeg) and "image/jpeg" in repr(jpeg) and "000" not in repr(jpeg)
    assert jpeg._repr_jpeg_() == jpeg.image_bytes and jpeg._repr_png_() is None
    png = ImageGenerationModelResult(image_bytes=b"\x89PNG\r\n\x1a\n....", model_version="v1")
    assert png._repr_png_() == png.image_bytes and png._repr_jpeg_() is None
    assert png.save(tmp_path / "x.png").read_bytes() == png.image_bytes


async def test_async_client_context_manager_closes() -> None:
    async with AsyncAIStudio(folder_id="f", auth="k", env={}) as sdk:
        model = sdk.models.image_generation("yandex-art")
        assert model.uri == "art://f/yandex-art/latest"
    with pytest.raises(ClientClosedError, match="closed"):
        await (await sdk.models.image_generation("yandex-art").run_deferred("cat"))

import pytest

from yandex_art._runtime.errors import ConfigurationError, InvalidArgumentError
from yandex_art._runtime.uri import ModelUri, parse_model_uri, resolve_model_uri


def resolve(name: str, **kw: object) -> str:
    args: dict[str, object] = {"model_version": "latest", "folder_id": "b1g", "scheme": "art"}
    args.update(kw)
    return resolve_model_uri(name, **args)  # type: ignore[arg-type]


def test_builds_uri_from_name() -> None:
    assert resolve("yandex-art") == "art://b1g/yandex-art/latest"
    assert resolve("yandex-art", model_version="rc") == "art://b1g/yandex-art/rc"


def test_generic_scheme() -> None:
    assert resolve("m", scheme="gpt") == "gpt://b1g/m/latest"


def test_full_uri_is_taken_as_is() -> None:
    uri = "art://other-folder/yandex-art/rc"
    assert resolve(uri, folder_id=None, model_version="ignored") == uri
    assert resolve("art://f/m") == "art://f/m"


def test_full_uri_with_wrong_scheme_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="gpt") as info:
        resolve("gpt://f/m/latest")
    assert info.value.argument == "model_name"


@pytest.mark.parametrize("uri", ["art://", "art:///m", "art://f/", "art://f/m/v/x", "art://f/m v"])
def test_malformed_full_uri(uri: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        resolve(uri)
    assert isinstance(info.value, ValueError)
    assert info.value.argument == "model_name"
    assert repr(uri) in str(info.value)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        resolve(name)
    assert info.value.argument == "model_name"


@pytest.mark.parametrize("name", ["a/b", "yandex art", "x\t"])
def test_bad_name(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        resolve(name)
    assert info.value.argument == "model_name"


@pytest.mark.parametrize("version", ["", "a/b", "la test", "@x", "x@"])
def test_bad_version(version: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        resolve("yandex-art", model_version=version)
    assert info.value.argument == "model_version"


@pytest.mark.parametrize("folder_id", [None, "", "  "])
def test_missing_folder(folder_id: str | None) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve("yandex-art", folder_id=folder_id)
    assert "folder_id=" in str(info.value)
    assert "YC_FOLDER_ID" in str(info.value)


def test_bad_folder() -> None:
    with pytest.raises(ConfigurationError):
        resolve("yandex-art", folder_id="a/b")


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match="model_name"):
        resolve(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model_version"):
        resolve("m", model_version=1)


def test_parse_full() -> None:
    assert parse_model_uri("art://b1g/yandex-art/latest") == ModelUri(
        uri="art://b1g/yandex-art/latest",
        scheme="art",
        owner="b1g",
        name="yandex-art",
        version="latest",
        fine_tuned=False,
    )


def test_parse_without_version() -> None:
    parsed = parse_model_uri("art://b1g/yandex-art")
    assert parsed.version is None
    assert parsed.fine_tuned is False
    assert parsed.name == "yandex-art"


def test_parse_fine_tuned() -> None:
    parsed = parse_model_uri("art://b1g/yandex-art/latest@tamr123")
    assert parsed.fine_tuned is True
    assert parsed.version == "latest@tamr123"


def test_parse_roundtrips_resolve() -> None:
    uri = resolve("yandex-art", model_version="rc@abc")
    parsed = parse_model_uri(uri)
    assert (parsed.owner, parsed.name, parsed.version, parsed.fine_tuned) == (
        "b1g",
        "yandex-art",
        "rc@abc",
        True,
    )


@pytest.mark.parametrize(
    "uri",
    [
        "b1g/yandex-art/latest",
        "://b1g/yandex-art",
        "ART://b1g/m",
        "art://b1g",
        "art:///yandex-art",
        "art://b1g//latest",
        "art://b1g/m/",
        "art://b1g/m/v/extra",
        "art://b 1g/m",
        " art://b1g/m",
        "art://b1g/m/v\n",
        "art://b1g/m/a@b@c",
        "",
    ],
)
def test_parse_malformed(uri: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_model_uri(uri)
    assert info.value.argument == "model_uri"
    assert repr(uri) in str(info.value)


def test_model_uri_is_frozen() -> None:
    parsed = parse_model_uri("art://b1g/m")
    with pytest.raises(AttributeError):
        parsed.name = "x"  # type: ignore[misc]

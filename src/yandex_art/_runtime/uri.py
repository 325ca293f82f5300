"""Model URIs: build ``<scheme>://<folder>/<name>/<version>`` and parse it back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigurationError, InvalidArgumentError

__all__ = ["ModelUri", "parse_model_uri", "resolve_model_uri"]

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_SEGMENT = re.compile(r"[^/\s]+")
_EXPECTED = "expected <scheme>://<owner>/<name>[/<version>]"


@dataclass(frozen=True)
class ModelUri:
    """The parts of a model URI; ``version`` is None when absent, ``base@tuning`` is fine-tuned."""

    uri: str
    scheme: str
    owner: str
    name: str
    version: str | None
    fine_tuned: bool


def parse_model_uri(uri: str) -> ModelUri:
    """Split ``<scheme>://<owner>/<name>[/<version>]`` into its parts."""
    if not isinstance(uri, str):
        raise TypeError(f"model_uri must be a str, not {type(uri).__name__}")

    def bad(problem: str) -> InvalidArgumentError:
        return InvalidArgumentError("model_uri", f"malformed model URI {uri!r}: {problem}")

    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise bad(f"no scheme; {_EXPECTED}")
    if not _SCHEME.fullmatch(scheme):
        raise bad(f"invalid scheme {scheme!r}; {_EXPECTED}")
    parts = rest.split("/")
    if len(parts) < 2:
        raise bad(f"missing model name; {_EXPECTED}")
    if len(parts) > 3:
        raise bad(f"too many path segments; {_EXPECTED}")
    for label, part in zip(("owner", "name", "version"), parts, strict=False):
        if not part:
            raise bad(f"empty {label}; {_EXPECTED}")
        if not _SEGMENT.fullmatch(part):
            raise bad(f"{label} {part!r} contains whitespace")
    version = parts[2] if len(parts) == 3 else None
    fine_tuned = version is not None and "@" in version
    if fine_tuned and not re.fullmatch(r"[^@]+@[^@]+", version or ""):
        raise bad(f"fine-tuned version must look like <base>@<tuning>, got {version!r}")
    return ModelUri(uri, scheme, parts[0], parts[1], version, fine_tuned)


def resolve_model_uri(
    model_name: str,
    *,
    model_version: str,
    folder_id: str | None,
    scheme: str,
) -> str:
    """``<scheme>://<folder_id>/<name>/<model_version>``, or a name with ``://`` as given
    once it parses with the right scheme."""
    if not isinstance(model_name, str):
        raise TypeError(f"model_name must be a str, not {type(model_name).__name__}")
    if not isinstance(model_version, str):
        raise TypeError(f"model_version must be a str, not {type(model_version).__name__}")
    if not model_name.strip():
        raise InvalidArgumentError("model_name", "must be a model name or URI, got an empty string")

    if "://" in model_name:
        return _checked_uri(model_name, scheme)
    if not _SEGMENT.fullmatch(model_name):
        raise InvalidArgumentError(
            "model_name", f"{model_name!r} must not contain '/' or whitespace"
        )
    if not _SEGMENT.fullmatch(model_version):
        raise InvalidArgumentError(
            "model_version",
            f"{model_version!r} must be non-empty and contain no '/' or whitespace",
        )
    if folder_id is None or not folder_id.strip():
        raise ConfigurationError(
            f"a folder id is needed to build the URI of model {model_name!r}: "
            "pass folder_id= to the client or set YC_FOLDER_ID"
        )
    if not _SEGMENT.fullmatch(folder_id):
        raise ConfigurationError(f"folder id {folder_id!r} must not contain '/' or whitespace")
    uri = f"{scheme}://{folder_id}/{model_name}/{model_version}"
    try:
        parse_model_uri(uri)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError("model_version", exc.problem) from None
    return uri


def _checked_uri(model_name: str, scheme: str) -> str:
    """A model name given as a whole URI: it must parse, with this model's scheme."""
    try:
        parsed = parse_model_uri(model_name)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError("model_name", exc.problem) from None
    if parsed.scheme != scheme:
        raise InvalidArgumentError(
            "model_name",
            f"model URI {model_name!r} has scheme {parsed.scheme!r}; this model needs {scheme}://",
        )
    return model_name

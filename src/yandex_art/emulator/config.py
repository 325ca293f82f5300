"""Settings of the emulator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from .._runtime.validation import Bounds, check_within
from .images import DEFAULT_LONG_SIDE, MAX_SIDE

__all__ = [
    "EmulatorSettings",
    "DEFAULT_API_KEY",
    "DEFAULT_FOLDER_ID",
    "EmulatorConfig",
    "EmulatorConfigError",
    "is_loopback_host",
]

DEFAULT_API_KEY = "emulator-api-key"
"""The key :attr:`Emulator.api_key` hands out when no keys are configured."""

DEFAULT_FOLDER_ID = "b1gemulatorfolder"
"""The folder :attr:`Emulator.folder_id` hands out when no folder is configured."""

THREE_DAYS = 3 * 24 * 3600.0


class EmulatorConfigError(ValueError):
    """The emulator was configured wrongly (bad value, non-loopback host, bad state file)."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names a loopback address (``localhost``, 127.0.0.0/8, ``::1``).

    The SDK's own test, the one that lets a client speak plaintext to a local emulator:
    what the emulator binds without ``allow_remote`` is what a client trusts as local.
    """
    # Imported here: the configuration stays importable without loading the client.
    from .._runtime.client_core import Endpoint

    return Endpoint(host.strip("[]"), 0).is_loopback


def _keys(value: Iterable[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise EmulatorConfigError(f"{name} must be a collection of strings, not one string")
    keys = frozenset(value)
    for key in keys:
        if not isinstance(key, str) or not key or any(ch.isspace() for ch in key):
            raise EmulatorConfigError(f"{name}: {key!r} is not a usable credential")
    return keys


class EmulatorSettings(TypedDict, total=False):
    """The fields of :class:`EmulatorConfig` as keyword arguments (``Emulator(seconds=...)``).

    Lets type checkers check ``Emulator(**overrides)``; a test keeps its keys
    equal to the dataclass's fields.
    """

    host: str
    grpc_port: int
    rest_port: int
    allow_remote: bool
    folder_id: str | None
    api_keys: Iterable[str] | None
    iam_tokens: Iterable[str] | None
    generation_seconds: float
    jitter: float
    read_quota: int | None
    read_quota_window: float
    retention_seconds: float
    state_file: str | Path | None
    state_flush_seconds: float
    model_version: str
    image_long_side: int
    rng_seed: int | None
    endpoint_ids: tuple[str, ...]


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator listens and behaves. Every field has a usable default.

    ``api_keys``/``iam_tokens``: None for both accepts any well-formed
    ``Api-Key <x>`` or ``Bearer <x>``; once either is given, only the listed
    credentials are accepted (a scheme left at None accepts none).
    """

    host: str = "127.0.0.1"
    """Address to bind; anything but loopback needs ``allow_remote=True``."""
    grpc_port: int = 0
    """gRPC port; 0 picks a free one."""
    rest_port: int = 0
    """REST port; 0 picks a free one."""
    allow_remote: bool = False
    """Allow binding a non-loopback address."""
    folder_id: str | None = None
    """When set, model URIs must name this folder."""
    api_keys: Iterable[str] | None = None
    """Accepted API keys (None: any, unless ``iam_tokens`` is set)."""
    iam_tokens: Iterable[str] | None = None
    """Accepted IAM tokens (None: any, unless ``api_keys`` is set)."""
    generation_seconds: float = 2.0
    """How long a generation runs; 0 finishes it before Generate answers."""
    jitter: float = 0.0
    """Relative spread of the duration: 0.2 draws it from +-20 % around the mean."""
    read_quota: int | None = 50
    """Operation reads (OperationService.Get, both protocols) allowed per window; None: no limit."""
    read_quota_window: float = 1.0
    """Length of the sliding window of the read quota, in seconds."""
    retention_seconds: float = THREE_DAYS
    """How long finished operations stay readable."""
    state_file: str | Path | None = None
    """JSON file that keeps operations across restarts (written atomically)."""
    state_flush_seconds: float = 0.2
    """How often pending changes are written to ``state_file``."""
    model_version: str = "emulator-1.0"
    """The ``model_version`` of every result."""
    image_long_side: int = DEFAULT_LONG_SIDE
    """Pixel length of the longer side of the images."""
    rng_seed: int | None = None
    """Seed for operation ids, random image seeds and jitter (None: unpredictable)."""
    endpoint_ids: tuple[str, ...] = field(
        default=(
            "ai-foundation-models",
            "operation",
            "endpoint",
            "iam",
            "ai-llm",
            "ai-assistants",
            "ai-files",
            "ai-vision",
            "ai-vision-ocr",
            "ai-stt-v3",
            "ai-tts-v3",
            "ai-translate",
            "searchapi",
        )
    )
    """Ids ApiEndpointService answers with the emulator's own gRPC address."""

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise EmulatorConfigError("host must be a non-empty string")
        if not self.allow_remote and not is_loopback_host(self.host):
            raise EmulatorConfigError(
                f"host {self.host!r} is not a loopback address; the emulator accepts any "
                "credential and speaks plaintext, so binding elsewhere needs allow_remote=True "
                "(--allow-remote)"
            )
        for name in ("grpc_port", "rest_port"):
            port = getattr(self, name)
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
                raise EmulatorConfigError(f"{name} must be an int in 0..65535, got {port!r}")
        _number("generation_seconds", self.generation_seconds)
        _number("jitter", self.jitter)
        if self.jitter > 1:
            raise EmulatorConfigError(f"jitter must be within 0..1, got {self.jitter!r}")
        _number("retention_seconds", self.retention_seconds)
        _number("state_flush_seconds", self.state_flush_seconds)
        _number("read_quota_window", self.read_quota_window)
        if self.read_quota_window <= 0:
            raise EmulatorConfigError("read_quota_window must be > 0")
        quota = self.read_quota
        if quota is not None and (
            isinstance(quota, bool) or not isinstance(quota, int) or quota < 1
        ):
            raise EmulatorConfigError(f"read_quota must be a positive int or None, got {quota!r}")
        side = self.image_long_side
        if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
            raise EmulatorConfigError(
                f"image_long_side must be an int in 1..{MAX_SIDE}, got {side!r}"
            )
        if self.folder_id is not None and (not self.folder_id or "/" in self.folder_id):
            raise EmulatorConfigError(f"folder_id {self.folder_id!r} is not a folder id")
        object.__setattr__(self, "api_keys", _keys(self.api_keys, "api_keys"))
        object.__setattr__(self, "iam_tokens", _keys(self.iam_tokens, "iam_tokens"))
        object.__setattr__(self, "endpoint_ids", tuple(self.endpoint_ids))


def _number(name: str, value: object) -> None:
    """A finite number >= 0, checked by the SDK's one number check."""
    try:
        check_within(name, value, Bounds(minimum=0))
    except (TypeError, ValueError) as exc:
        raise EmulatorConfigError(str(exc)) from None

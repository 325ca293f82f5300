"""Typed SDK for Yandex AI Studio image generation (YandexART).

>>> from yandex_art import AIStudio
>>> sdk = AIStudio(folder_id="...", auth="<API key>")
>>> model = sdk.models.image_generation("yandex-art").configure(width_ratio=1, height_ratio=2)
>>> model.run_deferred("a red cat").wait().save("cat.jpeg")

Names are imported lazily, so ``import yandex_art`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AIStudio": "._client",
    "AsyncAIStudio": "._client",
    "ImageGenerationModel": "._gen.image_generation",
    "AsyncImageGenerationModel": "._gen.image_generation",
    "ImageGenerationModelConfig": "._gen.image_generation",
    "ImageGenerationModelResult": "._gen.image_generation",
    "ImageMessage": "._gen.image_generation",
    "ImageMessageDict": "._gen.image_generation",
    "AnyMessage": "._gen.image_generation",
    "Operation": "._runtime.operation",
    "AsyncOperation": "._runtime.operation",
    "OperationStatus": "._runtime.operation",
    "BatchItem": "._runtime.batch",
    "BatchRequest": "._runtime.batch",
    "UNDEFINED": "._runtime.undefined",
    "Undefined": "._runtime.undefined",
    "UndefinedOr": "._runtime.undefined",
    "is_defined": "._runtime.undefined",
    "RetryPolicy": "._runtime.retry",
    "APIKeyAuth": "._runtime.auth",
    "IAMTokenAuth": "._runtime.auth",
    "OAuthTokenAuth": "._runtime.auth",
    "EnvIAMTokenAuth": "._runtime.auth",
    "MetadataAuth": "._runtime.auth",
    "YcCliAuth": "._runtime.auth",
    "YandexCloudCLIAuth": "._runtime.auth",
    "NoAuth": "._runtime.auth",
    "NoRetryPolicy": "._runtime.retry",
    "UnknownEndpointError": "._runtime.errors",
    "AIStudioError": "._runtime.errors",
    "ClientClosedError": "._runtime.errors",
    "ConfigurationError": "._runtime.errors",
    "InvalidArgumentError": "._runtime.errors",
    "TransportError": "._runtime.errors",
    "OperationError": "._runtime.errors",
    "OperationFailedError": "._runtime.errors",
    "OperationTimeoutError": "._runtime.errors",
    "UnexpectedOperationResultError": "._runtime.errors",
    "QuotaPausedError": "._runtime.errors",
}

__all__ = [
    "AIStudio",
    "AIStudioError",
    "APIKeyAuth",
    "AnyMessage",
    "AsyncAIStudio",
    "AsyncImageGenerationModel",
    "AsyncOperation",
    "ClientClosedError",
    "BatchItem",
    "BatchRequest",
    "ConfigurationError",
    "EnvIAMTokenAuth",
    "IAMTokenAuth",
    "ImageGenerationModel",
    "ImageGenerationModelConfig",
    "ImageGenerationModelResult",
    "ImageMessage",
    "ImageMessageDict",
    "InvalidArgumentError",
    "MetadataAuth",
    "NoAuth",
    "NoRetryPolicy",
    "OAuthTokenAuth",
    "Operation",
    "OperationError",
    "OperationFailedError",
    "OperationStatus",
    "QuotaPausedError",
    "OperationTimeoutError",
    "RetryPolicy",
    "TransportError",
    "UNDEFINED",
    "Undefined",
    "UndefinedOr",
    "UnexpectedOperationResultError",
    "UnknownEndpointError",
    "YandexCloudCLIAuth",
    "YcCliAuth",
    "is_defined",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'yandex_art' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from ._client import AIStudio, AsyncAIStudio
    from ._gen.image_generation import (
        AnyMessage,
        AsyncImageGenerationModel,
        ImageGenerationModel,
        ImageGenerationModelConfig,
        ImageGenerationModelResult,
        ImageMessage,
        ImageMessageDict,
    )
    from ._runtime.auth import (
        APIKeyAuth,
        EnvIAMTokenAuth,
        IAMTokenAuth,
        MetadataAuth,
        NoAuth,
        OAuthTokenAuth,
        YandexCloudCLIAuth,
        YcCliAuth,
    )
    from ._runtime.batch import BatchItem, BatchRequest
    from ._runtime.errors import (
        AIStudioError,
        ClientClosedError,
        ConfigurationError,
        InvalidArgumentError,
        OperationError,
        OperationFailedError,
        OperationTimeoutError,
        QuotaPausedError,
        TransportError,
        UnexpectedOperationResultError,
        UnknownEndpointError,
    )
    from ._runtime.operation import AsyncOperation, Operation, OperationStatus
    from ._runtime.retry import NoRetryPolicy, RetryPolicy
    from ._runtime.undefined import UNDEFINED, Undefined, UndefinedOr, is_defined

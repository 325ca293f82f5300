"""The SDK's errors, under the official SDK's module path (``yandex_ai_studio_sdk.exceptions``).

The official names are aliases where the meaning is the same: ``AIStudioConfigurationError``
is :class:`ConfigurationError`, ``AsyncOperationError`` is :class:`OperationError`, ``RunError``
(a finished operation's error: code, message, details, operation id) is
:class:`OperationFailedError`. ``AioRpcError`` is not offered: failed calls raise
:class:`TransportError`, whose ``code`` is a status name (an attribute, not a method).
"""

from ._runtime.errors import (
    AIStudioError,
    ClientClosedError,
    ConfigurationError,
    InvalidArgumentError,
    OperationError,
    OperationFailedError,
    OperationTimeoutError,
    TransportError,
    UnexpectedOperationResultError,
    UnknownEndpointError,
)

AIStudioConfigurationError = ConfigurationError
AsyncOperationError = OperationError
RunError = OperationFailedError

__all__ = [
    "AIStudioConfigurationError",
    "AIStudioError",
    "AsyncOperationError",
    "ClientClosedError",
    "ConfigurationError",
    "InvalidArgumentError",
    "OperationError",
    "OperationFailedError",
    "OperationTimeoutError",
    "RunError",
    "TransportError",
    "UnexpectedOperationResultError",
    "UnknownEndpointError",
]

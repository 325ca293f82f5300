"""One exception hierarchy for everything the SDK raises on purpose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AIStudioError",
    "ConfigurationError",
    "InvalidArgumentError",
    "OperationError",
    "OperationFailedError",
    "OperationTimeoutError",
    "TransportError",
    "UnexpectedOperationResultError",
]


class AIStudioError(Exception):
    """Base class of every error the SDK raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(AIStudioError, ValueError):
    """The client was set up wrongly (missing folder id, credentials, bad endpoint)."""


class InvalidArgumentError(AIStudioError, ValueError):
    """A value passed by the caller was rejected before anything was sent.

    ``argument`` names the parameter (``"seed"``) or the position
    (``"messages[2].text"``) that was wrong.
    """

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")


class TransportError(AIStudioError):
    """A call failed on its way to or from the server.

    ``code`` is the gRPC status name (``"UNAVAILABLE"``) or, for REST, ``"HTTP 503"``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        endpoint: str,
        method: str = "",
        request_id: str | None = None,
        server_request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.endpoint = endpoint
        self.method = method
        self.request_id = request_id
        self.server_request_id = server_request_id
        self.retry_after = retry_after
        parts = [f"{code}: {message}"]
        where = f"{method} at {endpoint}" if method else endpoint
        parts.append(f"[{where}")
        if request_id:
            parts[-1] += f", x-client-request-id={request_id}"
        if server_request_id:
            parts[-1] += f", x-request-id={server_request_id}"
        parts[-1] += "]"
        super().__init__(" ".join(parts))
        self.detail = message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.detail!r}, "
            f"endpoint={self.endpoint!r}, method={self.method!r}, "
            f"request_id={self.request_id!r})"
        )


class OperationError(AIStudioError):
    """Base of the errors that concern one long-running operation."""

    def __init__(self, message: str, *, operation_id: str) -> None:
        self.operation_id = operation_id
        super().__init__(f"{message} (operation {operation_id})")


class OperationFailedError(OperationError):
    """The operation finished with an error status."""

    def __init__(
        self,
        *,
        operation_id: str,
        code: int,
        message: str,
        details: Sequence[Any] = (),
        cancelled: bool = False,
    ) -> None:
        self.code = code
        self.error_message = message
        self.details = tuple(details)
        self.cancelled = cancelled
        what = "was cancelled" if cancelled else "failed"
        text = f"operation {what} with code {code}: {message or '(no message)'}"
        if self.details:
            text += f"; details: {list(self.details)!r}"
        super().__init__(text, operation_id=operation_id)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation_id={self.operation_id!r}, code={self.code!r}, "
            f"message={self.error_message!r}, details={self.details!r})"
        )


class UnexpectedOperationResultError(OperationError):
    """The server said the operation is done but its result is unusable."""


class OperationTimeoutError(OperationError, TimeoutError):
    """Waiting ran out of time; the operation keeps running on the server."""

    def __init__(self, *, operation_id: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            f"operation did not finish within {timeout:g} s; it keeps running on the "
            "server and can be re-attached with attach_deferred()",
            operation_id=operation_id,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation_id={self.operation_id!r}, timeout={self.timeout!r})"
        )

"""One exception hierarchy for everything the SDK raises on purpose."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

# google.rpc.Code by number, and the HTTP statuses the REST gateways answer
# them with (code.proto's mapping; 502 is a gateway failing like 503).
_RPC_CODES = (
    "OK CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND ALREADY_EXISTS "
    "PERMISSION_DENIED RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE "
    "UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS UNAUTHENTICATED"
).split()
_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def code_name(http_status: int, rpc_code: object = None) -> str:
    """The canonical status name of an HTTP error (the body's gRPC code wins when valid)."""
    if isinstance(rpc_code, int) and not isinstance(rpc_code, bool) and 0 < rpc_code < 17:
        return _RPC_CODES[rpc_code]
    if http_status in _HTTP_CODES:
        return _HTTP_CODES[http_status]
    return "FAILED_PRECONDITION" if 400 <= http_status < 500 else "UNKNOWN"


def http_error_fields(response: Any) -> tuple[str, dict[str, Any]]:
    """The message and the TransportError fields of an HTTP answer (an ``httpx.Response``)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    rpc_code = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        message, rpc_code = data["message"][:200], data.get("code")
    else:
        message = json.dumps(data)[:200] if data is not None else response.reason_phrase
    try:
        retry_after: float | None = max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        retry_after = None  # absent, or an HTTP date
    return message or "error", {
        "code": code_name(response.status_code, rpc_code),
        "http_status": response.status_code,
        "server_request_id": response.headers.get("x-request-id"),
        "retry_after": retry_after,
    }


class AIStudioError(Exception):
    """Base class of every error the SDK raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors cannot be re-called with ``args``: rebuild
        # from the attributes instead, so errors cross process boundaries.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(cls: type[AIStudioError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(AIStudioError, ValueError):
    """The client was set up wrongly (missing folder id, credentials, bad endpoint)."""


class InvalidArgumentError(AIStudioError, ValueError):
    """A value passed by the caller was rejected before anything was sent.

    ``argument`` names the parameter (``"seed"``) or position (``"messages[2].text"``).
    """

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")


@dataclass(eq=False, repr=False)
class TransportError(AIStudioError):
    """A call failed on its way to or from the server.

    ``code`` is the canonical gRPC status name (``"UNAVAILABLE"``) in both
    transports; over REST, ``http_status`` keeps the HTTP status (503).
    ``sent`` is False when the request provably never left (connection
    refused, name resolution failed). ``operation_id`` names the operation a
    failed read or cancel was about.
    """

    detail: str
    _: KW_ONLY
    code: str
    endpoint: str
    method: str = ""
    request_id: str | None = None
    server_request_id: str | None = None
    retry_after: float | None = None
    http_status: int | None = None
    sent: bool = True
    operation_id: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self._text())

    def _text(self) -> str:
        status = f"{self.code} (HTTP {self.http_status})" if self.http_status else self.code
        where = f"{self.method} at {self.endpoint}" if self.method else self.endpoint
        if self.operation_id:
            where = f"operation {self.operation_id}, {where}"
        if self.request_id:
            where += f", x-client-request-id={self.request_id}"
        if self.server_request_id:
            where += f", x-request-id={self.server_request_id}"
        return f"{status}: {self.detail} [{where}]"

    def for_operation(self, operation_id: str) -> TransportError:
        """This error, naming the operation it concerns."""
        if self.operation_id != operation_id:
            self.operation_id = operation_id
            self.message = self._text()
            self.args = (self.message,)
        return self


class ClientClosedError(AIStudioError):
    """The client was closed while this call or wait was still going on."""

    def __init__(self, message: str = "the client is closed", *, operation_id: str | None = None):
        self.operation_id = operation_id
        if operation_id:
            message = f"{message} (operation {operation_id}; it keeps running on the server)"
        super().__init__(message)


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

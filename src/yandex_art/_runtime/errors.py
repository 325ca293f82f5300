"""One exception hierarchy for everything the SDK raises on purpose."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, replace
from typing import Any

RPC_CODES: tuple[tuple[str, int], ...] = (
    ("OK", 200),
    ("CANCELLED", 499),
    ("UNKNOWN", 500),
    ("INVALID_ARGUMENT", 400),
    ("DEADLINE_EXCEEDED", 504),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("PERMISSION_DENIED", 403),
    ("RESOURCE_EXHAUSTED", 429),
    ("FAILED_PRECONDITION", 400),
    ("ABORTED", 409),
    ("OUT_OF_RANGE", 400),
    ("UNIMPLEMENTED", 501),
    ("INTERNAL", 500),
    ("UNAVAILABLE", 503),
    ("DATA_LOSS", 500),
    ("UNAUTHENTICATED", 401),
)
"""google.rpc.Code by number: each code's name and the HTTP status code.proto maps it to.

The one table of status codes: the REST reader below and the emulator's REST face
both derive their mapping from it."""

HTTP_STATUS_OF_CODE: dict[str, int] = dict(RPC_CODES)
"""A gRPC status name -> the HTTP status a REST gateway answers with."""


def _code_of_http_status() -> dict[int, str]:
    """The inverse of the table, for an HTTP error whose body carries no code."""
    # Where several codes share a status, a bare status means the generic one of them.
    generic = {"INVALID_ARGUMENT", "ABORTED", "INTERNAL"}  # of 400, 409 and 500
    inverse: dict[int, str] = {}
    for name, status in RPC_CODES[1:]:  # OK is no error
        if name in generic or status not in inverse:
            inverse[status] = name
    inverse[502] = "UNAVAILABLE"  # a gateway failing, as 503
    return inverse


CODE_OF_HTTP_STATUS: dict[int, str] = _code_of_http_status()
"""An HTTP status -> the gRPC status name it reads as (others: 4xx FAILED_PRECONDITION,
else UNKNOWN)."""


def http_error_fields(response: Any) -> tuple[str, dict[str, Any]]:
    """The message and the TransportError fields of an ``httpx.Response`` that failed."""
    try:
        data = response.json()
    except ValueError:
        data = None
    body = data if isinstance(data, dict) else {}
    message, rpc_code, status = body.get("message"), body.get("code"), response.status_code
    if not isinstance(message, str):
        message = response.reason_phrase if data is None else json.dumps(data)
    if type(rpc_code) is int and 0 < rpc_code < len(RPC_CODES):
        code = RPC_CODES[rpc_code][0]
    else:  # the body has no valid code: read the status
        other = "FAILED_PRECONDITION" if 400 <= status < 500 else "UNKNOWN"
        code = CODE_OF_HTTP_STATUS.get(status, other)
    retry_after = response.headers.get("retry-after", "")
    return message[:200] or "error", {
        "code": code,
        "http_status": status,
        "server_request_id": response.headers.get("x-request-id"),
        "retry_after": float(retry_after) if retry_after.isdigit() else None,  # not a date
    }


class AIStudioError(Exception):
    """Base class of every error the SDK raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the attributes: the keyword-only constructors cannot take ``args``.
        return (type(self).__new__, (type(self),), {**self.__dict__, "args": self.args})


class ConfigurationError(AIStudioError, ValueError):
    """The client was set up wrongly (missing folder id, credentials, bad endpoint)."""


class InvalidArgumentError(AIStudioError, ValueError):
    """Rejected before anything was sent; ``argument`` names it (``seed``, ``messages[2].text``)."""

    def __init__(self, argument: str, problem: str) -> None:
        self.argument: str = argument
        self.problem: str = problem
        super().__init__(f"{argument}: {problem}")


@dataclass(eq=False, repr=False)
class TransportError(AIStudioError):
    """A call failed in transport: ``code`` is the gRPC status name in both transports,
    ``http_status`` the REST one; ``sent`` is False if it provably never left."""

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
        status = f"{self.code} (HTTP {self.http_status})" if self.http_status else self.code
        where = f"{self.method} at {self.endpoint}" if self.method else self.endpoint
        if self.operation_id:
            where = f"operation {self.operation_id}, {where}"
        ids = {"x-client-request-id": self.request_id, "x-request-id": self.server_request_id}
        where += "".join(f", {header}={value}" for header, value in ids.items() if value)
        super().__init__(f"{status}: {self.detail} [{where}]")

    def for_operation(self, operation_id: str) -> TransportError:
        """A copy of this error that names the operation it concerns."""
        return replace(self, operation_id=operation_id)


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
    """The operation finished with an error status (``code``, ``error_message``, ``details``)."""

    def __init__(
        self,
        *,
        operation_id: str,
        code: int,
        message: str,
        details: Sequence[Any] = (),
        cancelled: bool = False,
    ) -> None:
        self.code: int = code
        self.error_message: str = message
        self.details: tuple[Any, ...] = tuple(details)
        self.cancelled: bool = cancelled
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
        message = f"operation did not finish within {timeout:g} s; it keeps running on the server"
        message += " and can be re-attached with attach_deferred()"
        super().__init__(message, operation_id=operation_id)


class UnknownEndpointError(ConfigurationError):
    """The endpoint discovery (``endpoint=``) did not list a service this SDK calls."""


class QuotaPausedError(AIStudioError):
    """A batch item not started: the folder's Generate quota for the day is used up.

    Nothing was generated for it; run it again after ``resume_after`` seconds (None:
    unknown), at ``resume_at`` (POSIX time). ``yandex-art batch`` reruns resume it."""

    def __init__(self, message: str, *, resume_after: float | None) -> None:
        import time

        self.resume_after = resume_after
        self.resume_at = None if resume_after is None else time.time() + resume_after
        super().__init__(message)

"""The exit codes, and how an error becomes a message and one of them.

Every command raises :class:`CliError` for what it refuses, and hands any other exception
to :func:`classify`; :func:`report` prints the result (stderr, and the ``error`` event
with ``--json``). The codes are listed in the README's CLI section, which a test keeps equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .flags import flag, generation_rules
from .output import PROG, Output

__all__ = [
    "EXIT_DISK",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OPERATION",
    "EXIT_TIMEOUT",
    "EXIT_TRANSPORT",
    "EXIT_USAGE",
    "CliError",
    "classify",
    "describe",
    "report",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_OPERATION = 3
EXIT_TRANSPORT = 4
EXIT_TIMEOUT = 5
EXIT_DISK = 6  # batch: paused, an image or the journal could not be written
EXIT_INTERRUPTED = 130

_USAGE_CODES = frozenset(
    {
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "NOT_FOUND",
    }
)
_HINTS = {
    "UNAUTHENTICATED": "check the credential in YC_API_KEY, YC_IAM_TOKEN or YC_OAUTH_TOKEN",
    "PERMISSION_DENIED": "check the folder id and that the account may use YandexART in it",
    "NOT_FOUND": "check the operation id; results are kept for 3 days",
    "UNAVAILABLE": "check --endpoint and the network, then retry",
    "RESOURCE_EXHAUSTED": "a quota was exceeded; wait a little and retry",
}


class CliError(Exception):
    """A failure with an exit code and a message for the user."""

    def __init__(self, message: str, code: int, *, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = dict(details or {})


def _cli_argument(name: str) -> str:
    """The flag or operand of an SDK parameter (``width_ratio`` -> ``--width-ratio``)."""
    if name.startswith("messages"):
        return "PROMPT"
    if name in ("model_name", "model_version", "model_uri"):
        return "--model"
    if name == "operation_id":
        return "OPERATION_ID"
    rules = generation_rules()
    return flag(name) if any(rule.name == name for rule in rules.OPTION_RULES) else name


def describe(exc: BaseException) -> str:
    """An SDK error in the command line's words (flags, not Python parameters)."""
    from .._runtime.errors import InvalidArgumentError, OperationTimeoutError

    if isinstance(exc, OperationTimeoutError):
        return f"operation {exc.operation_id} did not finish within {exc.timeout:g} s"
    if isinstance(exc, InvalidArgumentError):
        return f"{_cli_argument(exc.argument)}: {exc.problem}"
    return str(exc)


def _transport_error(exc: Any) -> CliError:
    """A call the service refused or could not take: usage (2) or transport (4), with a hint."""
    code = EXIT_USAGE if exc.code in _USAGE_CODES else EXIT_TRANSPORT
    message = str(exc)
    if hint := _HINTS.get(exc.code):
        message += f"\nhint: {hint}"
    return CliError(
        message, code, details={"type": "TransportError", "code": exc.code, "message": exc.detail}
    )


def classify(exc: BaseException) -> CliError:
    """An SDK error as a message and an exit code."""
    from .._runtime.errors import (
        ConfigurationError,
        InvalidArgumentError,
        OperationFailedError,
        OperationTimeoutError,
        TransportError,
        UnexpectedOperationResultError,
    )

    if isinstance(exc, CliError):
        return exc
    kind = {"type": type(exc).__name__}
    if isinstance(exc, ConfigurationError | InvalidArgumentError):
        return CliError(describe(exc), EXIT_USAGE, details=kind)
    if isinstance(exc, OperationTimeoutError):
        timeout = {"type": "OperationTimeoutError", "timeout": exc.timeout}
        return CliError(describe(exc), EXIT_TIMEOUT, details=timeout)
    if isinstance(exc, OperationFailedError):
        failure = {"code": exc.code, "message": exc.error_message, "cancelled": exc.cancelled}
        return CliError(str(exc), EXIT_OPERATION, details={**kind, **failure})
    if isinstance(exc, UnexpectedOperationResultError):
        return CliError(str(exc), EXIT_OPERATION, details=kind)
    if isinstance(exc, TransportError):
        return _transport_error(exc)
    if isinstance(exc, TypeError | ValueError):
        return CliError(str(exc), EXIT_USAGE, details=kind)
    return CliError(f"{type(exc).__name__}: {exc}", EXIT_FAILURE, details=kind)


def report(error: CliError, out: Output, operation_id: str | None = None) -> int:
    """Print ``error`` (stderr; the ``error`` event with ``--json``); returns its exit code."""
    print(f"{PROG}: error: {error.message}", file=out.stderr, flush=True)
    out.event(
        event="error",
        operation_id=operation_id,
        exit_code=error.code,
        error={"message": error.message, **error.details},
    )
    return error.code

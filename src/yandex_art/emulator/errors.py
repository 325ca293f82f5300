"""An error answer of the emulator, with its gRPC status and the HTTP status REST gives it."""

from __future__ import annotations

from grpclib.const import Status

from .._runtime.errors import HTTP_STATUS_OF_CODE

__all__ = ["HTTP_STATUS", "EmulatorError", "invalid", "short"]

HTTP_STATUS: dict[Status, int] = {
    status: HTTP_STATUS_OF_CODE[status.name] for status in Status if status is not Status.OK
}
"""HTTP status of each gRPC status, as the REST gateway answers it: the SDK's one table of
codes (``_runtime.errors``), which the SDK's REST reader inverts."""


class EmulatorError(Exception):
    """A call answered with an error status."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.status, 500)

    def __repr__(self) -> str:
        return f"EmulatorError({self.status.name}, {self.message!r})"


def invalid(path: str, problem: str) -> EmulatorError:
    """INVALID_ARGUMENT naming the field (``path``) and what is wrong with it."""
    return EmulatorError(Status.INVALID_ARGUMENT, f"{path}: {problem}")


def short(value: str, limit: int = 80) -> str:
    """``value`` quoted for an error message, cut after ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "...")

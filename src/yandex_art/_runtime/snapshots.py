"""The small protocol between the runtime and the generated transports.

The runtime never imports generated code: generated transports implement
:class:`OperationReader`, and the poller works over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .retry import BeforeRetry

__all__ = ["OperationReader", "OperationSnapshot", "RpcStatus"]

T = TypeVar("T")


@dataclass(frozen=True)
class RpcStatus:
    """A ``google.rpc.Status`` as the runtime sees it."""

    code: int
    message: str
    details: tuple[Any, ...] = ()


@dataclass(frozen=True)
class OperationSnapshot(Generic[T]):
    """One read of an operation.

    ``response`` is the decoded result when the operation is done and its
    response has the expected type; ``response_type_url`` is the type URL the
    server sent (also when it was not the expected one, in which case
    ``response`` stays ``None``). ``created_at`` and ``modified_at`` are the
    server's timestamps in POSIX seconds (None when the server sent none).
    """

    id: str
    done: bool
    error: RpcStatus | None = None
    response: T | None = None
    response_type_url: str | None = None
    expected_type_url: str | None = None
    description: str = ""
    created_at: float | None = None
    modified_at: float | None = None


class OperationReader(Protocol[T]):
    """Reads and cancels operations whose result decodes to ``T``."""

    async def get(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]: ...

    async def cancel(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]: ...

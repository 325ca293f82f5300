"""What one read of a long-running operation says: the snapshot, its status, and the reader
of ``yandex.cloud.operation.Operation`` messages that makes snapshots of them."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from .retry import RetryHooks

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RpcStatus:
    code: int
    message: str
    details: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class OperationSnapshot(Generic[T]):
    """One read: ``response`` is set only for the expected type; times are POSIX seconds."""

    id: str
    done: bool
    error: RpcStatus | None = None
    response: T | None = None
    response_type_url: str | None = None
    expected_type_url: str | None = None
    created_at: float | None = None
    modified_at: float | None = None


class OperationReader(Protocol[T]):
    async def get(
        self, operation_id: str, *, timeout: float, retry_hooks: RetryHooks | None = None
    ) -> OperationSnapshot[T]: ...

    async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[T]: ...


class OperationMessage(Protocol):  # what is read of a generated yandex.cloud.operation.Operation
    id: str
    done: bool
    error: Any  # google.rpc.Status: code, message, details
    response: Any  # google.protobuf.Any: type_url, value
    created_at: datetime.datetime | None
    modified_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class OperationMessageReader(Generic[T]):
    call_get: Callable[[str, float, RetryHooks | None], Awaitable[OperationMessage]]
    call_cancel: Callable[[str, float, RetryHooks | None], Awaitable[OperationMessage]]
    type_url: str
    decode: Callable[[bytes], T]

    async def get(
        self, operation_id: str, *, timeout: float, retry_hooks: RetryHooks | None = None
    ) -> OperationSnapshot[T]:
        return self.snapshot(await self.call_get(operation_id, timeout, retry_hooks))

    async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[T]:
        return self.snapshot(await self.call_cancel(operation_id, timeout, None))

    def snapshot(self, op: OperationMessage) -> OperationSnapshot[T]:
        error = None
        if op.error is not None:
            details = tuple(_unpacked(d) for d in op.error.details)
            error = RpcStatus(op.error.code, op.error.message, details)
        type_url = op.response.type_url if op.response is not None else None
        response = self.decode(op.response.value) if type_url == self.type_url else None
        times = _seconds(op.created_at), _seconds(op.modified_at)
        return OperationSnapshot(op.id, op.done, error, response, type_url, self.type_url, *times)


def _unpacked(any_: object) -> object:
    try:  # an error detail of a known type, decoded
        return any_.unpack()  # type: ignore[attr-defined]
    except Exception:
        return any_


def _seconds(moment: datetime.datetime | None) -> float | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=moment.tzinfo or datetime.timezone.utc).timestamp()


@dataclass(frozen=True, slots=True)
class OperationStatus:
    """What one read said; an end without the expected response is ``failed``, UNKNOWN (2)."""

    state: Literal["running", "succeeded", "failed", "cancelled"]
    error: RpcStatus | None = None

    @classmethod
    def from_snapshot(cls, snapshot: OperationSnapshot[Any]) -> OperationStatus:
        if not snapshot.done:
            return cls("running")
        if snapshot.error and snapshot.error.code:  # 1: CANCELLED
            return cls("cancelled" if snapshot.error.code == 1 else "failed", snapshot.error)
        if snapshot.response is not None:
            return cls("succeeded")
        url = snapshot.response_type_url
        got = f"a response of type {url!r}" if url else "neither a response nor an error"
        message = f"operation finished with {got}, expected {snapshot.expected_type_url!r}"
        return cls("failed", RpcStatus(2, message))  # 2: UNKNOWN

    @property
    def done(self) -> bool:
        return self.state != "running"

    is_finished = done

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    @property
    def is_succeeded(self) -> bool:
        return self.state == "succeeded"

    @property
    def is_failed(self) -> bool:
        """Failed or cancelled."""
        return self.state in ("failed", "cancelled")

    @property
    def is_cancelled(self) -> bool:
        return self.state == "cancelled"

    @property
    def status_name(self) -> str:
        return self.state

    @property
    def code(self) -> int | None:
        return self.error.code if self.error else None

    @property
    def message(self) -> str | None:
        return self.error.message if self.error else None

    @property
    def details(self) -> tuple[Any, ...]:
        return self.error.details if self.error else ()

    def __repr__(self) -> str:
        error = "" if self.error is None else f" code={self.code} message={self.message!r}"
        return f"OperationStatus<{self.state}{error}>"

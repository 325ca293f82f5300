"""Reading ``yandex.cloud.operation.Operation`` messages into :class:`OperationSnapshot`.

:class:`OperationMessageReader` is the generated operation service bound to
one result type: the generated code hands it the calls that fetch and cancel
an operation, the response message type, its type URL and the factory that
turns the decoded response into the SDK's result. Messages are read through
the small protocols below, so nothing here imports generated code.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from .retry import BeforeRetry
from .snapshots import OperationSnapshot, RpcStatus

__all__ = ["OperationMessage", "OperationMessageReader"]

M = TypeVar("M")
T = TypeVar("T")
M_co = TypeVar("M_co", covariant=True)


class _AnyMessage(Protocol):
    @property
    def type_url(self) -> str: ...
    @property
    def value(self) -> bytes: ...


class _StatusMessage(Protocol):
    @property
    def code(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def details(self) -> Sequence[object]: ...


class OperationMessage(Protocol):
    """The fields of ``yandex.cloud.operation.Operation`` read here."""

    @property
    def id(self) -> str: ...
    @property
    def done(self) -> bool: ...
    @property
    def description(self) -> str: ...
    @property
    def error(self) -> _StatusMessage | None: ...
    @property
    def response(self) -> _AnyMessage | None: ...
    @property
    def created_at(self) -> datetime.datetime | None: ...
    @property
    def modified_at(self) -> datetime.datetime | None: ...


class ResponseType(Protocol[M_co]):
    """A generated message class: decodes its wire bytes."""

    def parse(self, data: bytes) -> M_co: ...


Call = Callable[[str, float, BeforeRetry | None], Awaitable[OperationMessage]]
"""(operation id, timeout, before_retry) -> the operation as the server answered."""


class OperationMessageReader(Generic[M, T]):
    """Reads and cancels operations whose response is an ``M``, decoded to a ``T``.

    A response of another type than ``type_url`` is reported by its type URL,
    not decoded.
    """

    def __init__(
        self,
        *,
        get: Call,
        cancel: Call,
        response_type: ResponseType[M],
        type_url: str,
        result: Callable[[M], T],
    ) -> None:
        self._get = get
        self._cancel = cancel
        self._response_type = response_type
        self._type_url = type_url
        self._result = result

    async def get(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]:
        return self.snapshot(await self._get(operation_id, timeout, before_retry))

    async def cancel(
        self, operation_id: str, *, timeout: float, before_retry: BeforeRetry | None = None
    ) -> OperationSnapshot[T]:
        return self.snapshot(await self._cancel(operation_id, timeout, before_retry))

    def snapshot(self, op: OperationMessage) -> OperationSnapshot[T]:
        """One read of an operation, as the runtime's poller sees it."""
        error = None
        if op.error is not None:
            error = RpcStatus(
                code=op.error.code,
                message=op.error.message,
                details=tuple(_detail(d) for d in op.error.details),
            )
        response: T | None = None
        type_url: str | None = None
        if op.response is not None:
            type_url = op.response.type_url
            if type_url == self._type_url:
                response = self._result(self._response_type.parse(op.response.value))
        return OperationSnapshot(
            id=op.id,
            done=op.done,
            error=error,
            response=response,
            response_type_url=type_url,
            expected_type_url=self._type_url,
            description=op.description,
            created_at=_seconds(op.created_at),
            modified_at=_seconds(op.modified_at),
        )


def _detail(any_: object) -> object:
    """An error detail decoded when its type is known, else the ``Any`` as it came."""
    try:
        return any_.unpack()  # type: ignore[attr-defined]
    except Exception:
        return any_


def _seconds(moment: datetime.datetime | None) -> float | None:
    """A server timestamp as POSIX seconds (None when unset)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()

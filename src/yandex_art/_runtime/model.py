"""What every generated model shares: URI, configuration, one operation factory, batches,
and the model factory; generated subclasses add what the spec gives."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any, Generic, TypeVar

from typing_extensions import Self

from .batch import BatchItem, BatchRequest, run_batch
from .client_core import ClientCore
from .errors import InvalidArgumentError
from .operation import (
    AsyncOperation,
    Operation,
    OperationMessage,
    OperationMessageReader,
    OperationSnapshot,
)
from .uri import ModelUri, parse_model_uri, resolve_model_uri
from .validation import check_idempotency_key, check_path_segment

__all__ = ["AsyncModelBase", "ModelBase", "ModelFactory", "SyncModelBase"]

ConfigT = TypeVar("ConfigT")
InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")
T = TypeVar("T")


class ModelBase(ABC, Generic[ConfigT, InputT, ResultT]):
    """One concrete model: its URI and its configuration."""

    _config_type: type[ConfigT]

    def __init__(self, *, uri: str, core: ClientCore, config: ConfigT | None = None) -> None:
        self._parsed: ModelUri = parse_model_uri(uri)
        self._core = core
        self._config = config if config is not None else self._config_type()

    @property
    def uri(self) -> str:
        """The model URI sent with every request."""
        return self._parsed.uri

    @property
    def config(self) -> ConfigT:
        """The current configuration; change it with :meth:`configure`."""
        return self._config

    @property
    def name(self) -> str | None:
        return self._parsed.name

    @property
    def version(self) -> str | None:
        return self._parsed.version

    @property
    def owner(self) -> str | None:
        """The folder that owns the model, from the URI."""
        return self._parsed.owner

    @property
    def fine_tuned(self) -> bool | None:
        """Whether the URI names a fine-tuned version (``version@tuning``)."""
        return self._parsed.fine_tuned

    @abstractmethod
    def configure(self, *args: Any, **kwargs: Any) -> Self: ...

    def _with_config(self, config: ConfigT) -> Self:
        return type(self)(uri=self.uri, core=self._core, config=config)

    @abstractmethod
    def _build_request(self, messages: InputT) -> Any: ...

    @abstractmethod
    async def _send(
        self, request: Any, timeout: float | None, key: str | None
    ) -> OperationMessage: ...

    @abstractmethod
    def _reader(self) -> OperationMessageReader[ResultT]: ...

    async def _start(
        self, messages: InputT, timeout: float | None, idempotency_key: str | None = None
    ) -> AsyncOperation[ResultT]:
        request = self._build_request(messages)
        send = self._send(request, timeout, idempotency_key)
        return await self._start_call(send, self._reader(), None, idempotency_key)

    def _operation(
        self,
        operation_id: str,
        initial: OperationSnapshot[ResultT] | None = None,
        sent_at: float | None = None,
    ) -> AsyncOperation[ResultT]:
        """The one operation factory: an operation just started, or attached by id."""
        return self._operation_of(operation_id, self._reader(), self.uri, initial, sent_at)

    def _operation_of(
        self,
        operation_id: str,
        reader: OperationMessageReader[T],
        duration_key: str,
        initial: OperationSnapshot[T] | None = None,
        sent_at: float | None = None,
    ) -> AsyncOperation[T]:
        if not isinstance(operation_id, str):
            raise InvalidArgumentError("operation_id", "must be a non-empty string")
        return self._core.async_operation(
            check_path_segment("operation_id", operation_id),
            reader=reader,
            duration_key=duration_key,
            initial=initial,
            sent_at=sent_at,
        )

    async def _start_call(
        self,
        send: Awaitable[OperationMessage],
        reader: OperationMessageReader[T],
        rpc: str | None,
        idempotency_key: str | None,
    ) -> AsyncOperation[T]:
        """The operation ``send`` (not yet awaited) starts. ``rpc`` names an operation rpc
        other than the main one (None), whose durations are learned apart from the main's."""
        if idempotency_key is not None:
            try:
                check_idempotency_key("idempotency_key", idempotency_key)
            except BaseException:
                if inspect.iscoroutine(send):
                    send.close()
                raise
        sent_at = self._core.now()
        initial = reader.snapshot(await send)
        duration_key = self.uri if rpc is None else f"{self.uri}#{rpc}"
        return self._operation_of(initial.id, reader, duration_key, initial, sent_at)

    async def _batch_start(self, request: BatchRequest) -> AsyncOperation[ResultT]:
        model = self.configure(**request.options) if request.options else self
        if request.operation_id:
            return model._operation(request.operation_id)
        return await model._start(request.messages, None, request.idempotency_key)

    def _batch(
        self, prompts: Iterable[InputT | BatchRequest], **options: Any
    ) -> AsyncIterator[BatchItem[ResultT]]:
        requests = (p if isinstance(p, BatchRequest) else BatchRequest(p) for p in prompts)
        # The folder's Generate quotas, shared through the client's quota store.
        options.setdefault("generate_quota", self._core.generate_quota())
        return run_batch(requests, start=self._batch_start, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r}, config={self._config!r})"


class AsyncModelBase(ModelBase[ConfigT, InputT, ResultT]):
    """The asyncio face of a model."""

    async def attach_deferred(
        self, operation_id: str, timeout: float | None = None
    ) -> AsyncOperation[ResultT]:
        """Attaches to the operation ``operation_id`` started earlier (no request is made;
        ``timeout`` is kept for compatibility, reads take theirs from ``wait()``)."""
        return self._operation(operation_id)


class SyncModelBase(ModelBase[ConfigT, InputT, ResultT]):
    """The blocking face of a model; calls run on the client's event-loop thread."""

    def attach_deferred(
        self, operation_id: str, timeout: float | None = None
    ) -> Operation[ResultT]:
        """Attaches to the operation ``operation_id`` started earlier (no request is made;
        ``timeout`` is kept for compatibility, reads take theirs from ``wait()``)."""
        return self._blocking(self._operation(operation_id))

    def _blocking(self, operation: AsyncOperation[T]) -> Operation[T]:
        return Operation(operation, run=self._core.run_sync)


ModelT = TypeVar("ModelT", bound=ModelBase[Any, Any, Any])


class ModelFactory(Generic[ModelT]):
    """Makes model objects from model names (``sdk.models.<kind>(name)``)."""

    _model_type: type[ModelT]
    _uri_scheme: str

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    def __call__(self, model_name: str, *, model_version: str = "latest") -> ModelT:
        """The model ``model_name`` at ``model_version``, in the client's folder; a name
        with ``://`` is taken as a complete URI."""
        uri = resolve_model_uri(
            model_name,
            model_version=model_version,
            folder_id=self._core.folder_id,
            scheme=self._uri_scheme,
        )
        return self._model_type(uri=uri, core=self._core)

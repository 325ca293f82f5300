"""The emulated service, independent of the wire: checks, operations, quota, stats.

The gRPC and REST front ends call :meth:`EmulatorService.enter` for every
call (latency and call faults, authentication, the read quota) and then the
method itself. Errors are :class:`EmulatorError` with a gRPC status; the REST
side maps it to an HTTP status with :data:`HTTP_STATUS`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from grpclib.const import Status

from .._gen import image_generation_rules as RULES
from .._runtime import fields
from .._runtime.errors import HTTP_STATUS_OF_CODE
from .._runtime.validation import INT64_MAX
from .config import EmulatorConfig
from .faults import METHODS, Faults, GenerationFault
from .images import SUPPORTED_MIME_TYPES, image_size, prompt_digest, render_prompt
from .state import Outcome, Record

__all__ = [
    "HTTP_STATUS",
    "RESPONSE_TYPE_URL",
    "EmulatorError",
    "EmulatorService",
    "EmulatorStats",
    "GenerationParams",
    "OperationStats",
    "OperationView",
    "ResultView",
]

RESPONSE_TYPE_URL = RULES.RESULT_TYPE_URL
DESCRIPTION = "Async image generation"
DEFAULT_MIME_TYPE = "image/jpeg"
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_PURGE_EVERY = 1.0

HTTP_STATUS: dict[Status, int] = {
    status: HTTP_STATUS_OF_CODE[status.name] for status in Status if status is not Status.OK
}
"""HTTP status of each gRPC status, as the REST gateway answers it: the SDK's one table of
codes (``_runtime.errors``), which the SDK's REST reader inverts."""


_MAX_KEYS = 100_000
"""Idempotency keys remembered (oldest forgotten first)."""


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


def _invalid(path: str, problem: str) -> EmulatorError:
    return EmulatorError(Status.INVALID_ARGUMENT, f"{path}: {problem}")


def _short(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass(frozen=True)
class GenerationParams:
    """A checked generation request."""

    texts: tuple[str, ...]
    seed: int
    width_ratio: int
    height_ratio: int
    mime_type: str
    folder_id: str
    model: str
    version: str
    options: tuple[tuple[str, Any], ...] = ()
    """Every option of the rules table, after defaults (new spec fields included)."""


def result_values(image: bytes, model_version: str) -> dict[str, Any]:
    """The result message's fields the emulator fills, by proto name: its bytes field (the
    image) and, when the specs have it, ``model_version``."""
    values: dict[str, Any] = {}
    for rule in RULES.RESULT_RULES:
        if rule.kind == "bytes" and rule.label == "single" and image:
            values[rule.path[-1]] = image
        elif rule.path[-1] == "model_version" and model_version:
            values[rule.path[-1]] = model_version
    return values


def result_json(image: bytes, model_version: str) -> dict[str, Any]:
    """The same fields in the proto3 JSON mapping (camelCase names, base64 bytes)."""
    names = {rule.path[-1]: rule.json_path[-1] for rule in RULES.RESULT_RULES}
    out: dict[str, Any] = {}
    for name, value in result_values(image, model_version).items():
        text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        out[names[name]] = text
    return out


@dataclass(frozen=True)
class ResultView:
    """The ``response`` Any of a finished operation."""

    type_url: str
    image: bytes = b""
    model_version: str = ""


@dataclass(frozen=True)
class OperationView:
    """An operation as the wire shows it."""

    id: str
    description: str
    created_at: float
    created_by: str
    modified_at: float
    done: bool
    error: tuple[int, str] | None = None
    response: ResultView | None = None


@dataclass(frozen=True)
class OperationStats:
    """What happened to one operation (times: see :class:`EmulatorStats`)."""

    id: str
    state: str
    """``running``, ``succeeded``, ``failed`` (including the faulty results) or ``cancelled``."""
    reads: int
    """OperationService.Get calls answered for it."""
    created_at: float
    created_monotonic: float
    done_at: float | None
    """``time.time()`` when it became done."""
    done_monotonic: float | None
    """``time.monotonic()`` of the emulator's process when it became done."""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class EmulatorStats:
    """Counters since start or the last reset.

    ``reads`` counts every OperationService.Get that reached the quota check
    (both protocols), ``resource_exhausted`` those refused by it, and
    ``max_reads_per_window`` the most reads accepted within any sliding
    ``read_quota_window`` (1 s by default). Monotonic times are the
    emulator process's ``time.monotonic()``, comparable with the caller's
    when the emulator runs in the same process.
    """

    calls: dict[str, int]
    reads: int
    resource_exhausted: int
    unauthenticated: int
    injected_faults: int
    repeated_generates: int
    """Generate calls answered with the operation their idempotency-key already started."""
    max_reads_per_window: int
    read_quota: int | None
    read_quota_window: float
    operations: dict[str, OperationStats]

    def operation(self, operation_id: str) -> OperationStats:
        return self.operations[operation_id]

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "operations"}
        data["calls"] = dict(self.calls)
        data["operations"] = {k: v.to_dict() for k, v in self.operations.items()}
        return data


def _read(message: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` (proto names), or None when a message on the way is not set."""
    value = message
    for part in path:
        if value is None:
            return None
        value = getattr(value, part)
    return value


def _check(rule: fields.FieldRule, value: Any, where: str) -> None:
    """Check one received value by its rule from the specs (the SDK's own field contract)."""
    try:
        fields.check_wire(rule, value, where)
    except fields.WireError as exc:
        raise _invalid(exc.where, exc.problem) from None


def _plain(value: Any) -> Any:
    """A received value as plain, comparable data (enum members by name, lists as tuples)."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, list | tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _plain(item)) for key, item in value.items()))
    return value


def validate_request(
    request: Any,
    *,
    json_names: bool = False,
    folder_id: str | None = None,
    rules: Any = RULES,
    rpc: fields.RpcRule | None = None,
) -> GenerationParams:
    """Check a request as the service does, by the field contract codegen derives from the specs.

    Only what the service documents is refused (the 500-character prompt, a
    model URI it can route); a field at its zero value takes its documented
    default (0 or a missing side of the aspect ratio means 1). Errors name the
    field, with proto or JSON names. ``rules`` is the generated table
    (``yandex_art._gen.image_generation_rules``); tests pass one made from
    modified specs. ``rpc`` is the rpc of that table the request came to
    (the main one by default); its own fields are checked by their rules too.
    """
    rpc = rpc if rpc is not None else rules.RPCS[0]

    def name(proto: str, json: str) -> str:
        return json if json_names else proto

    def where(rule: fields.FieldRule, prefix: str = "") -> str:
        path = ".".join(rule.json_path if json_names else rule.path)
        return f"{prefix}.{path}" if prefix else path

    folder, model, version = folder_id or "", "", ""
    if rpc.uri_field is not None:
        uri_name = name(*rules.MODEL_URI)
        uri = _read(request, (rpc.uri_field,))
        if not uri:
            raise _invalid(
                uri_name, f"is required, e.g. {rules.URI_SCHEME}://<folder_id>/yandex-art/latest"
            )
        scheme = re.escape(rules.URI_SCHEME)
        match = re.fullmatch(rf"{scheme}://([^/\s]+)/([^/\s]+)/([^/\s]+)", uri)
        if match is None:
            raise _invalid(
                uri_name,
                f"must look like {rules.URI_SCHEME}://<folder_id>/<model>/<version>, "
                f"got {_short(uri)}",
            )
        folder, model, version = match.groups()
        if folder_id is not None and folder != folder_id:
            raise _invalid(
                uri_name, f"folder {_short(folder)} is not served here; use folder {folder_id!r}"
            )
    texts = []
    if rpc.takes_messages:
        messages_name = name(*rules.MESSAGES)
        messages = _read(request, (rules.MESSAGES[0],)) or []
        if not messages:
            raise _invalid(messages_name, "at least one message is required")
        text_rule = next(r for r in rules.MESSAGE_RULES if r.required and r.kind == "string")
        for index, message in enumerate(messages):
            for rule in rules.MESSAGE_RULES:
                _check(rule, _read(message, rule.path), where(rule, f"{messages_name}[{index}]"))
            texts.append(_read(message, text_rule.path))
    values: dict[str, Any] = {}
    for rule in rpc.params:
        value = _read(request, rule.path)
        _check(rule, value, where(rule))
        values[rule.name] = _plain(value)
    options_name = name(*rules.OPTIONS)
    options = _read(request, (rules.OPTIONS[0],)) if rpc.takes_options else None
    for rule in rules.OPTION_RULES if rpc.takes_options else ():
        value = _read(options, rule.path)
        _check(rule, value, where(rule, options_name))
        if (value is None or _plain(value) in ("", 0, False)) and rule.default is not None:
            value = rule.default
        values[rule.name] = _plain(value)
    mime_type = values.get("mime_type") or DEFAULT_MIME_TYPE
    if mime_type not in SUPPORTED_MIME_TYPES:
        rule = next(r for r in rules.OPTION_RULES if r.name == "mime_type")
        raise _invalid(
            where(rule, options_name),
            f"the emulator draws only {' or '.join(SUPPORTED_MIME_TYPES)}, not {_short(mime_type)}",
        )
    return GenerationParams(
        texts=tuple(texts),
        seed=_int_or(values.get("seed"), 0),
        width_ratio=_int_or(values.get("width_ratio"), 1),
        height_ratio=_int_or(values.get("height_ratio"), 1),
        mime_type=mime_type,
        folder_id=folder,
        model=model,
        version=version,
        options=tuple(sorted(values.items())),
    )


def _int_or(value: Any, default: int) -> int:
    """An option the emulator draws with, when the specs still have it as an integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value else default


class EmulatorService:
    """State and behaviour of the emulated service. Thread-safe; timers need a running loop."""

    def __init__(
        self,
        config: EmulatorConfig,
        faults: Faults,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.faults = faults
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.RLock()
        self._rng = random.Random(config.rng_seed)
        self._records: dict[str, Record] = {}
        self._api_keys = None if config.api_keys is None else frozenset(config.api_keys)
        self._iam_tokens = None if config.iam_tokens is None else frozenset(config.iam_tokens)
        self._strict_auth = self._api_keys is not None or self._iam_tokens is not None
        self._version = 0
        self.commit: Callable[[int], Awaitable[None]] | None = None
        """Set by the server with a state file: awaited before a generation is acknowledged."""
        self._last_purge = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_key: dict[tuple[str | None, str], str] = {}
        """(authorization, idempotency-key) -> the operation it started."""
        self._starting: dict[tuple[str | None, str], asyncio.Future[None]] = {}
        """Keys whose Generate is being started now (their record does not exist yet)."""
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._repeats = 0
        self._calls = dict.fromkeys((*METHODS, "endpoints"), 0)
        self._reads = 0
        self._exhausted = 0
        self._unauthenticated = 0
        self._injected = 0
        self._window: deque[float] = deque()
        self._max_window = 0

    # -- lifecycle ------------------------------------------------------------

    def load(self, records: list[Record]) -> None:
        """Take over records from a state file (before serving)."""
        with self._lock:
            for record in records:
                self._records[record.id] = record
            self._purge(force=True)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the completion of running operations on ``loop``."""
        with self._lock:
            self._loop = loop
            for record in self._records.values():
                if not record.done:
                    self._schedule(record)

    @property
    def version(self) -> int:
        """A counter bumped by every change worth persisting."""
        with self._lock:
            return self._version

    def changes(self, since: int) -> tuple[int, list[dict[str, Any]]] | None:
        """``(version, records)`` to persist when anything changed after ``since``, else None."""
        with self._lock:
            if self._version == since:
                return None
            return self._version, [r.to_json() for r in self._records.values()]

    def reset(self) -> None:
        """Forget all operations and counters and disarm faults (configuration stays)."""
        with self._lock:
            self._records.clear()
            self._by_key.clear()
            self._reset_counters()
            self._version += 1
        self.faults.clear()

    # -- per-call checks ------------------------------------------------------

    async def enter(self, method: str, authorization: str | None) -> None:
        """Latency, injected call faults, authentication and (for ``get``) the read quota."""
        with self._lock:
            self._calls[method] = self._calls.get(method, 0) + 1
        if method not in METHODS:
            return
        delay = self.faults.latency(method)
        if delay > 0:
            await asyncio.sleep(delay)
        fault = self.faults.take_call_fault(method)
        if fault is not None:
            with self._lock:
                self._injected += 1
            raise EmulatorError(fault.status, fault.message)
        self.check_auth(authorization)
        if method == "get":
            self._count_read()

    def check_auth(self, header: str | None) -> None:
        """Accept a well-formed ``Api-Key``/``Bearer`` header (only the configured ones, if any)."""
        problem = self._auth_problem(header)
        if problem is not None:
            with self._lock:
                self._unauthenticated += 1
            raise EmulatorError(Status.UNAUTHENTICATED, problem)

    def _auth_problem(self, header: str | None) -> str | None:
        hint = "send 'Authorization: Api-Key <API key>' or 'Authorization: Bearer <IAM token>'"
        if not header or not header.strip():
            return f"the request has no credentials; {hint}"
        scheme, _, secret = header.strip().partition(" ")
        secret = secret.strip()
        kind = scheme.lower()
        if kind not in ("api-key", "bearer") or not secret or any(c.isspace() for c in secret):
            return f"malformed Authorization header; {hint}"
        if not self._strict_auth:
            return None
        if kind == "api-key":
            if self._api_keys is None or secret not in self._api_keys:
                return "the API key is not valid"
        elif self._iam_tokens is None or secret not in self._iam_tokens:
            return "the IAM token is not valid or has expired"
        return None

    def _count_read(self) -> None:
        quota, window = self.config.read_quota, self.config.read_quota_window
        with self._lock:
            self._reads += 1
            now = self._clock()
            while self._window and self._window[0] <= now - window:
                self._window.popleft()
            if quota is not None and len(self._window) >= quota:
                self._exhausted += 1
                raise EmulatorError(
                    Status.RESOURCE_EXHAUSTED,
                    f"quota exceeded: at most {quota} operation reads per {window:g} s; "
                    "slow down and retry",
                )
            self._window.append(now)
            self._max_window = max(self._max_window, len(self._window))

    # -- methods ----------------------------------------------------------------

    def validate(
        self, request: Any, *, json_names: bool, rpc: fields.RpcRule | None = None
    ) -> GenerationParams:
        return validate_request(
            request, json_names=json_names, folder_id=self.config.folder_id, rpc=rpc
        )

    async def generate(
        self,
        params: GenerationParams,
        authorization: str | None,
        *,
        idempotency_key: str | None = None,
        result_type_url: str = RESPONSE_TYPE_URL,
    ) -> OperationView:
        """Start a generation (already checked) and return its operation.

        A request repeating the ``idempotency-key`` of one this emulator already
        started (a client retrying, a batch resumed after a crash) gets that
        operation back; nothing is generated twice. An rpc whose operation ends
        with another message type than the image (``result_type_url``) ends
        with an empty message of that type: the emulator draws images only.
        """
        if not idempotency_key:
            return await self._start(params, authorization, None, result_type_url)
        slot = (authorization, idempotency_key)
        while True:
            with self._lock:
                known = self._by_key.get(slot)
                record = self._records.get(known) if known else None
                if record is not None:
                    self._repeats += 1
                    return self._view(record)
                starting = self._starting.get(slot)
                if starting is None:
                    # WHY: the image is drawn between the key's check and its record; a
                    # repeat arriving then (a batch rerun right after a kill -9) must wait
                    # for this start, not begin a second generation.
                    mine = self._starting[slot] = asyncio.get_running_loop().create_future()
                    break
            with contextlib.suppress(Exception):
                await asyncio.shield(starting)  # then look again: started, or failed
        try:
            return await self._start(params, authorization, idempotency_key, result_type_url)
        finally:
            with self._lock:
                self._starting.pop(slot, None)
            if not mine.done():
                mine.set_result(None)

    async def _start(
        self,
        params: GenerationParams,
        authorization: str | None,
        idempotency_key: str | None,
        result_type_url: str,
    ) -> OperationView:
        loop = asyncio.get_running_loop()
        with self._lock:
            seed = params.seed or self._rng.randrange(1, INT64_MAX)
            duration = self._duration()
        fault = self.faults.take_generation_fault()
        if fault is None and result_type_url != RESPONSE_TYPE_URL:
            fault = GenerationFault("wrong_type", type_url=result_type_url)
        digest = prompt_digest(params.texts)
        width, height = image_size(
            params.width_ratio, params.height_ratio, self.config.image_long_side
        )
        image = None
        if fault is None:
            image = await loop.run_in_executor(
                None, render_prompt, digest, seed, width, height, params.mime_type
            )
        now, now_mono = self._wall(), self._clock()
        with self._lock:
            record = Record(
                id=self._new_id(),
                created_at=now,
                modified_at=now,
                created_by=_subject(authorization),
                prompt_sha256=digest,
                seed=seed,
                width=width,
                height=height,
                mime_type=params.mime_type,
                model_version=self.config.model_version,
                outcome=_outcome(fault),
                finish_at=now + duration,
                error_code=fault.code if fault else 0,
                error_message=fault.message if fault else "",
                type_url=fault.type_url if fault else "",
                created_monotonic=now_mono,
                finish_monotonic=now_mono + duration,
                image=image,
            )
            self._records[record.id] = record
            if idempotency_key:
                self._by_key[(authorization, idempotency_key)] = record.id
                while len(self._by_key) > _MAX_KEYS:
                    self._by_key.pop(next(iter(self._by_key)))
            self._version += 1
            if duration <= 0:
                self._finish(record)
            else:
                self._loop = loop
                self._schedule(record)
            self._purge()
            view, version = self._view(record), self._version
        if self.commit is not None:
            await self.commit(version)  # on disk before it is acknowledged
        return view

    async def finished(self, operation_id: str, *, poll: float = 0.02) -> OperationView:
        """The operation once done, for an rpc that answers with the result itself
        (``GenerateSync``); waiting here is not a read of the operation."""
        while True:
            with self._lock:
                done = self._lookup(operation_id).done
            if done:
                return await self.get(operation_id, count=False)
            await asyncio.sleep(poll)

    async def get(self, operation_id: str, *, count: bool = True) -> OperationView:
        """The operation's current state (a read already counted by :meth:`enter`)."""
        with self._lock:
            record = self._lookup(operation_id)
            record.reads += 1 if count else 0
            if not self._needs_image(record):
                return self._view(record)
        image = await asyncio.get_running_loop().run_in_executor(
            None,
            render_prompt,
            record.prompt_sha256,
            record.seed,
            record.width,
            record.height,
            record.mime_type,
        )
        with self._lock:
            record.image = image
            return self._view(record)

    def cancel(self, operation_id: str) -> OperationView:
        """Stop a running operation: it becomes done with error CANCELLED (1)."""
        with self._lock:
            record = self._lookup(operation_id)
            if record.done:
                raise EmulatorError(
                    Status.FAILED_PRECONDITION,
                    f"operation {record.id} is already done and cannot be cancelled",
                )
            record.outcome = "error"
            record.error_code = Status.CANCELLED.value
            record.error_message = "the operation was cancelled"
            record.cancelled = True
            self._finish(record)
            return self._view(record)

    def endpoint_ids(self) -> tuple[str, ...]:
        return self.config.endpoint_ids

    # -- stats --------------------------------------------------------------------

    def stats(self) -> EmulatorStats:
        with self._lock:
            self._sweep_due()
            return EmulatorStats(
                calls=dict(self._calls),
                reads=self._reads,
                resource_exhausted=self._exhausted,
                unauthenticated=self._unauthenticated,
                injected_faults=self._injected,
                repeated_generates=self._repeats,
                max_reads_per_window=self._max_window,
                read_quota=self.config.read_quota,
                read_quota_window=self.config.read_quota_window,
                operations={r.id: _op_stats(r) for r in self._records.values()},
            )

    # -- internals ----------------------------------------------------------------

    def _duration(self) -> float:
        base = float(self.config.generation_seconds)
        if base <= 0:
            return 0.0
        if self.config.jitter:
            base *= 1 + self.config.jitter * self._rng.uniform(-1.0, 1.0)
        return max(base, 0.0)

    def _new_id(self) -> str:
        while True:
            tail = "".join(self._rng.choice(_ID_ALPHABET) for _ in range(17))
            candidate = "fbv" + tail
            if candidate not in self._records:
                return candidate

    def _schedule(self, record: Record) -> None:
        loop = self._loop
        if loop is None:
            return
        delay = max(record.finish_monotonic - self._clock(), 0.0)
        loop.call_later(delay, self._finish_due, record.id)

    def _finish_due(self, operation_id: str) -> None:
        with self._lock:
            record = self._records.get(operation_id)
            if record is not None and not record.done:
                self._finish(record)

    def _finish(self, record: Record) -> None:
        now = self._wall()
        record.done = True
        record.done_at = now
        record.modified_at = now
        record.done_monotonic = self._clock()
        self._version += 1

    def _sweep_due(self) -> None:
        now = self._clock()
        for record in self._records.values():
            if not record.done and record.finish_monotonic <= now:
                self._finish(record)

    def _lookup(self, operation_id: str) -> Record:
        if not operation_id:
            raise _invalid("operation_id", "is required")
        self._purge()
        record = self._records.get(operation_id)
        if record is not None and self._expired(record):
            del self._records[operation_id]
            self._version += 1
            record = None
        if record is None:
            raise EmulatorError(
                Status.NOT_FOUND,
                f"operation {_short(operation_id)} not found (finished operations are kept "
                f"for {_duration_text(self.config.retention_seconds)})",
            )
        if not record.done and record.finish_monotonic <= self._clock():
            self._finish(record)
        return record

    def _purge(self, *, force: bool = False) -> None:
        now_mono = self._clock()
        if not force and now_mono - self._last_purge < _PURGE_EVERY:
            return
        self._last_purge = now_mono
        expired = [r.id for r in self._records.values() if self._expired(r)]
        for operation_id in expired:
            del self._records[operation_id]
        if expired:
            self._version += 1

    def _expired(self, record: Record) -> bool:
        limit = self._wall() - self.config.retention_seconds
        return record.done and record.done_at is not None and record.done_at < limit

    @staticmethod
    def _needs_image(record: Record) -> bool:
        return record.done and record.outcome == "image" and record.image is None

    @staticmethod
    def _view(record: Record) -> OperationView:
        error: tuple[int, str] | None = None
        response: ResultView | None = None
        if record.done:
            if record.outcome == "error":
                error = (record.error_code, record.error_message)
            elif record.outcome == "image":
                response = ResultView(RESPONSE_TYPE_URL, record.image or b"", record.model_version)
            elif record.outcome == "wrong_type":
                response = ResultView(record.type_url)
        return OperationView(
            id=record.id,
            description=DESCRIPTION,
            created_at=record.created_at,
            created_by=record.created_by,
            modified_at=record.modified_at,
            done=record.done,
            error=error,
            response=response,
        )


def _duration_text(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _outcome(fault: GenerationFault | None) -> Outcome:
    return "image" if fault is None else fault.kind


def _subject(authorization: str | None) -> str:
    digest = hashlib.sha256((authorization or "").encode("utf-8")).digest()
    return "aje" + "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest[:17])


def _op_stats(record: Record) -> OperationStats:
    if not record.done:
        state = "running"
    elif record.cancelled:
        state = "cancelled"
    elif record.outcome == "image":
        state = "succeeded"
    else:
        state = "failed"
    return OperationStats(
        id=record.id,
        state=state,
        reads=record.reads,
        created_at=record.created_at,
        created_monotonic=record.created_monotonic,
        done_at=record.done_at,
        done_monotonic=record.done_monotonic,
    )

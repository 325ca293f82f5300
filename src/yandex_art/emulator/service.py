"""The emulated service, independent of the wire: what one call does, in front of its parts.

The gRPC and REST front ends call :meth:`EmulatorService.enter` for every
call (latency and call faults, authentication, the read quota) and then the
method itself. Errors are :class:`~.errors.EmulatorError` with a gRPC status;
the REST side maps it to an HTTP status with :data:`~.errors.HTTP_STATUS`.

The parts, a module each: ``validation`` (a request checked as the service
checks it), ``operations`` (the operations and their lifecycle),
``idempotency`` (a repeated key gets its operation back), ``auth`` (who may
call), ``read_quota`` (reads per window), ``stats`` (the counters) and
``views`` (what the wire shows of an operation).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from grpclib.const import Status

from .._runtime import fields
from .._runtime.validation import INT64_MAX
from .auth import Credentials
from .config import EmulatorConfig
from .errors import HTTP_STATUS, EmulatorError
from .faults import METHODS, Faults, GenerationFault
from .idempotency import IdempotencyKeys
from .images import image_size, prompt_digest, render_prompt
from .operations import Drawing, Operations
from .read_quota import ReadQuota
from .state import Record
from .stats import CallCounters, EmulatorStats, OperationStats, emulator_stats
from .validation import GenerationParams, validate_request
from .views import RESPONSE_TYPE_URL, OperationView, ResultView, view_of

# The names this module held before it was split, still importable from here.
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
    "validate_request",
]


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
        self._lock = threading.RLock()
        # WHY one generator for seeds, durations and ids: with ``rng_seed`` a run repeats.
        self._rng = random.Random(config.rng_seed)
        self._operations = Operations(
            config, self._rng, self._lock, clock=clock, wall_clock=wall_clock
        )
        self._credentials = Credentials(config.api_keys, config.iam_tokens)
        self._keys = IdempotencyKeys()
        self.commit: Callable[[int], Awaitable[None]] | None = None
        """Set by the server with a state file: awaited before a generation is acknowledged."""
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._counters = CallCounters()
        self._quota = ReadQuota(self.config.read_quota, self.config.read_quota_window, self._clock)

    # -- lifecycle ------------------------------------------------------------

    def load(self, records: list[Record]) -> None:
        """Take over records from a state file (before serving)."""
        with self._lock:
            self._operations.load(records)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the completion of running operations on ``loop``."""
        with self._lock:
            self._operations.bind_loop(loop)

    @property
    def version(self) -> int:
        """A counter bumped by every change worth persisting."""
        with self._lock:
            return self._operations.version

    def changes(self, since: int) -> tuple[int, list[dict[str, Any]]] | None:
        """``(version, records)`` to persist when anything changed after ``since``, else None."""
        with self._lock:
            if self._operations.version == since:
                return None
            return self._operations.version, self._operations.to_json()

    def reset(self) -> None:
        """Forget all operations and counters and disarm faults (configuration stays)."""
        with self._lock:
            self._operations.clear()
            self._keys.forget_all()
            self._reset_counters()
        self.faults.clear()

    # -- per-call checks ------------------------------------------------------

    async def enter(self, method: str, authorization: str | None) -> None:
        """Latency, injected call faults, authentication and (for ``get``) the read quota."""
        with self._lock:
            calls = self._counters.calls
            calls[method] = calls.get(method, 0) + 1
        if method not in METHODS:
            return
        delay = self.faults.latency(method)
        if delay > 0:
            await asyncio.sleep(delay)
        fault = self.faults.take_call_fault(method)
        if fault is not None:
            with self._lock:
                self._counters.injected_faults += 1
            raise EmulatorError(fault.status, fault.message)
        self.check_auth(authorization)
        if method == "get":
            with self._lock:
                self._quota.count()

    def check_auth(self, header: str | None) -> None:
        """Accept a well-formed ``Api-Key``/``Bearer`` header (only the configured ones, if any)."""
        problem = self._credentials.problem(header)
        if problem is not None:
            with self._lock:
                self._counters.unauthenticated += 1
            raise EmulatorError(Status.UNAUTHENTICATED, problem)

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
                known = self._keys.operation_of(slot)
                record = self._operations.find(known) if known else None
                if record is not None:
                    self._counters.repeated_generates += 1
                    return view_of(record)
                under_way = self._keys.claim(slot)
                if under_way is None:
                    break
            with contextlib.suppress(Exception):
                await asyncio.shield(under_way)  # then look again: started, or failed
        try:
            return await self._start(params, authorization, idempotency_key, result_type_url)
        finally:
            with self._lock:
                self._keys.release(slot)

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
            duration = self._operations.duration()
        fault = self.faults.take_generation_fault()
        if fault is None and result_type_url != RESPONSE_TYPE_URL:
            fault = GenerationFault("wrong_type", type_url=result_type_url)
        drawing = await self._draw(params, seed, fault)
        with self._lock:
            record = self._operations.create(
                drawing, authorization=authorization, fault=fault, duration=duration, loop=loop
            )
            if idempotency_key:
                self._keys.remember((authorization, idempotency_key), record.id)
            view, version = view_of(record), self._operations.version
        if self.commit is not None:
            await self.commit(version)  # on disk before it is acknowledged
        return view

    async def _draw(
        self, params: GenerationParams, seed: int, fault: GenerationFault | None
    ) -> Drawing:
        """The image of ``params`` (none when a fault replaces it), drawn off the loop."""
        digest = prompt_digest(params.texts)
        width, height = image_size(
            params.width_ratio, params.height_ratio, self.config.image_long_side
        )
        image = None
        if fault is None:
            image = await asyncio.get_running_loop().run_in_executor(
                None, render_prompt, digest, seed, width, height, params.mime_type
            )
        return Drawing(digest, seed, width, height, params.mime_type, image)

    async def finished(self, operation_id: str, *, poll: float = 0.02) -> OperationView:
        """The operation once done, for an rpc that answers with the result itself
        (``GenerateSync``); waiting here is not a read of the operation."""
        while True:
            with self._lock:
                done = self._operations.lookup(operation_id).done
            if done:
                return await self.get(operation_id, count=False)
            await asyncio.sleep(poll)

    async def get(self, operation_id: str, *, count: bool = True) -> OperationView:
        """The operation's current state (a read already counted by :meth:`enter`)."""
        with self._lock:
            record = self._operations.lookup(operation_id)
            record.reads += 1 if count else 0
            # WHY: a state file keeps no image; a finished one is drawn again when first read.
            if not (record.done and record.outcome == "image" and record.image is None):
                return view_of(record)
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
            return view_of(record)

    def cancel(self, operation_id: str) -> OperationView:
        """Stop a running operation: it becomes done with error CANCELLED (1)."""
        with self._lock:
            return view_of(self._operations.cancel(operation_id))

    def endpoint_ids(self) -> tuple[str, ...]:
        return self.config.endpoint_ids

    def stats(self) -> EmulatorStats:
        """The counters, and each operation's state (those due finished first)."""
        with self._lock:
            return emulator_stats(self._counters, self._quota, self._operations.records_now())

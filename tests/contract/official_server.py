"""A test server built from the official ``yandexcloud`` stubs (grpcio), not from this project.

It serves ImageGenerationAsyncService.Generate and OperationService.Get/Cancel
on 127.0.0.1, records every request with its metadata, and lets a test decide
how each operation ends.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2

igs_pb = importlib.import_module(
    "yandex.cloud.ai.foundation_models.v1.image_generation.image_generation_service_pb2"
)
igs_grpc = importlib.import_module(
    "yandex.cloud.ai.foundation_models.v1.image_generation.image_generation_service_pb2_grpc"
)
op_pb = importlib.import_module("yandex.cloud.operation.operation_pb2")
ops_grpc = importlib.import_module("yandex.cloud.operation.operation_service_pb2_grpc")

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"


@dataclass
class Call:
    method: str
    request: Any
    metadata: dict[str, str]
    at: float


@dataclass
class Plan:
    """How the next operations end: after ``seconds``, with ``outcome``."""

    seconds: float = 0.0
    outcome: str = "success"  # success | error | empty | wrong-type
    image: bytes = JPEG
    error_code: int = 3
    error_message: str = "prompt rejected"


@dataclass
class _Op:
    id: str
    created: float
    plan: Plan
    cancelled: bool = False
    done_at: float | None = None


@dataclass
class OfficialServer:
    plan: Plan = field(default_factory=Plan)
    calls: list[Call] = field(default_factory=list)
    ops: dict[str, _Op] = field(default_factory=dict)
    address: str = ""
    clock: Callable[[], float] = time.monotonic
    fail_next: dict[str, int] = field(default_factory=dict)
    # The status fail_next answers with, per method (UNAVAILABLE when not given).
    fail_code: dict[str, grpc.StatusCode] = field(default_factory=dict)
    # Methods whose calls are recorded and then never answered (a hung server).
    hang: set[str] = field(default_factory=set)

    async def _record(self, method: str, request: Any, context: Any) -> None:
        md = {k: v for k, v in (context.invocation_metadata() or ())}
        self.calls.append(Call(method, request, md, self.clock()))
        if self.fail_next.get(method, 0) > 0:
            self.fail_next[method] -= 1
            code = self.fail_code.get(method, grpc.StatusCode.UNAVAILABLE)
            await context.abort(code, "injected outage")
        if method in self.hang:
            await asyncio.sleep(3600)  # cancelled when the server stops

    def _state(self, op: _Op) -> Any:
        msg = op_pb.Operation(id=op.id, description="Image generation")
        now = self.clock()
        if op.cancelled:
            msg.done = True
            msg.error.code = 1
            msg.error.message = "cancelled"
            return msg
        if now - op.created < op.plan.seconds:
            return msg
        if op.done_at is None:
            op.done_at = op.created + op.plan.seconds
        msg.done = True
        if op.plan.outcome == "success":
            msg.response.Pack(
                igs_pb.ImageGenerationResponse(image=op.plan.image, model_version="test-1")
            )
        elif op.plan.outcome == "error":
            msg.error.code = op.plan.error_code
            msg.error.message = op.plan.error_message
            detail = any_pb2.Any()
            detail.Pack(igs_pb.ImageGenerationResponse(model_version="detail"))
            msg.error.details.append(detail)
        elif op.plan.outcome == "wrong-type":
            msg.response.Pack(op_pb.Operation(id="not-an-image"))
        return msg

    def reads(self, operation_id: str) -> int:
        return sum(
            1 for c in self.calls if c.method == "Get" and c.request.operation_id == operation_id
        )


class _Generation(igs_grpc.ImageGenerationAsyncServiceServicer):  # type: ignore[misc]
    def __init__(self, server: OfficialServer) -> None:
        self.s = server
        self.ids = (f"op{n:018d}" for n in itertools.count(1))

    async def Generate(self, request: Any, context: Any) -> Any:
        await self.s._record("Generate", request, context)
        op = _Op(next(self.ids), self.s.clock(), self.s.plan)
        self.s.ops[op.id] = op
        return self.s._state(op)


class _Operations(ops_grpc.OperationServiceServicer):  # type: ignore[misc]
    def __init__(self, server: OfficialServer) -> None:
        self.s = server

    async def Get(self, request: Any, context: Any) -> Any:
        await self.s._record("Get", request, context)
        op = self.s.ops.get(request.operation_id)
        if op is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"operation {request.operation_id} not found"
            )
        return self.s._state(op)

    async def Cancel(self, request: Any, context: Any) -> Any:
        await self.s._record("Cancel", request, context)
        op = self.s.ops.get(request.operation_id)
        if op is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such operation")
        op.cancelled = True
        return self.s._state(op)


class RunningServer:
    """Runs an OfficialServer on its own loop in a thread (usable from sync and async tests)."""

    def __init__(self, port: int = 0) -> None:
        self.state = OfficialServer()
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    def __enter__(self) -> OfficialServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.state

    async def _start(self) -> None:
        self._server = grpc.aio.server()
        igs_grpc.add_ImageGenerationAsyncServiceServicer_to_server(
            _Generation(self.state), self._server
        )
        ops_grpc.add_OperationServiceServicer_to_server(_Operations(self.state), self._server)
        port = self._server.add_insecure_port(f"127.0.0.1:{self._port}")
        await self._server.start()
        self.state.address = f"127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

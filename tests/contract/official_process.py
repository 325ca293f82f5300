"""Servers in child processes, to kill with SIGKILL and restart on the same port.

:class:`OfficialProcess` runs the official-stub server (official_server.py);
:class:`EmulatorProcess` runs the emulator's CLI with a state file.
Both serve on ports the parent chooses, so a restarted server answers on the
same address. The official server keeps no state at all: an operation id
encodes when the operation was created (wall clock) and how long it takes,
so any of its processes can answer for it. Every call is appended to a
JSON-lines log the parent reads (``calls()``), across restarts.

Run as ``python -m tests.contract.official_process --port P --log FILE
--seconds S``; the child prints one line, ``ready``, once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from tests.contract.official_server import (
    OfficialServer,
    Plan,
    _Generation,
    _Op,
    _Operations,
    igs_grpc,
    ops_grpc,
)

_ROOT = Path(__file__).resolve().parents[2]
_ID = re.compile(r"^op(\d+)d(\d+)p\d+n\d+$")


def free_port() -> int:
    """A port nothing listens on right now (the child binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the child ---------------------------------------------------------------------------


class _DurableOps(dict[str, _Op]):
    """Operations of this process, and of earlier ones rebuilt from their ids."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        op = super().get(key)
        if op is None:
            match = _ID.match(key)
            if match is None:
                return default
            created_ms, seconds_ms = (int(group) for group in match.groups())
            op = _Op(key, created_ms / 1000, Plan(seconds=seconds_ms / 1000))
            self[key] = op
        return op


class _DurableServer(OfficialServer):
    def __init__(self, log: Path, plan: Plan) -> None:
        super().__init__(plan=plan, clock=time.time)
        self.ops = _DurableOps()
        self._log = log

    async def _record(self, method: str, request: Any, context: Any) -> None:
        md = dict(context.invocation_metadata() or ())
        entry = {
            "method": method,
            "operation_id": getattr(request, "operation_id", ""),
            "idempotency-key": md.get("idempotency-key"),
            "x-client-request-id": md.get("x-client-request-id"),
            "at": time.time(),
            "pid": os.getpid(),
        }
        with self._log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        await super()._record(method, request, context)


class _DurableGeneration(_Generation):
    created = 0

    async def Generate(self, request: Any, context: Any) -> Any:
        await self.s._record("Generate", request, context)
        created = self.s.clock()
        self.created += 1
        seconds = self.s.plan.seconds
        op_id = f"op{int(created * 1000)}d{int(seconds * 1000)}p{os.getpid()}n{self.created}"
        op = _Op(op_id, created, self.s.plan)
        self.s.ops[op_id] = op
        return self.s._state(op)


async def _serve(port: int, log: Path, seconds: float) -> None:
    state = _DurableServer(log, Plan(seconds=seconds))
    server = grpc.aio.server()
    igs_grpc.add_ImageGenerationAsyncServiceServicer_to_server(_DurableGeneration(state), server)
    ops_grpc.add_OperationServiceServicer_to_server(_Operations(state), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.log, args.seconds))


# -- the parent --------------------------------------------------------------------------


class OfficialProcess:
    """Starts, kills (SIGKILL) and restarts the server on one port; reads its call log."""

    def __init__(self, workdir: Path, *, seconds: float = 0.0, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        self.address = f"127.0.0.1:{self.port}"
        self.log = workdir / f"official-{self.port}.jsonl"
        self.log.touch()
        self._seconds = seconds
        self._process: subprocess.Popen[str] | None = None

    def start(self, *, ready_within: float = 60.0) -> float:
        """Start the server and return the ``time.monotonic()`` at which it listens."""
        if self._process is not None:
            raise RuntimeError("already running")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.contract.official_process",
                "--port",
                str(self.port),
                "--log",
                str(self.log),
                "--seconds",
                str(self._seconds),
            ],
            cwd=_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._process = process
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], ready_within)
        line = process.stdout.readline() if readable else ""
        if line.strip() != "ready":
            self.kill()
            raise RuntimeError(f"the official server did not start on {self.address}: {line!r}")
        return time.monotonic()

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, open connections just die."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.log.open(encoding="utf-8") as lines:
            entries = [json.loads(line) for line in lines if line.strip()]
        return [e for e in entries if method is None or e["method"] == method]

    def __enter__(self) -> OfficialProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()


class EmulatorProcess:
    """The emulator CLI with a state file, on fixed ports, to kill and restart."""

    def __init__(self, state: Path, *, generation_seconds: float, read_quota: int = 0) -> None:
        self.read_quota = read_quota
        self.rest_port = free_port()
        self.grpc_port = free_port()
        self.state = state
        self.generation_seconds = generation_seconds
        self._process: subprocess.Popen[str] | None = None

    def start(self, *, ready_within: float = 60.0) -> float:
        """Start the emulator and return the ``time.monotonic()`` at which it listens."""
        if self._process is not None:
            raise RuntimeError("already running")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "yandex_art",
                "emulator",
                "--rest-port",
                str(self.rest_port),
                "--grpc-port",
                str(self.grpc_port),
                "--state",
                str(self.state),
                "--generation-seconds",
                str(self.generation_seconds),
                "--read-quota",
                str(self.read_quota),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._process = process
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], ready_within)
        line = process.stdout.readline() if readable else ""
        if not line.startswith("{") or str(self.rest_port) not in json.loads(line)["rest"]:
            self.kill()
            raise RuntimeError(f"the emulator did not start on port {self.rest_port}: {line!r}")
        return time.monotonic()

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def operations(self) -> list[str]:
        """The ids of the operations in the state file."""
        return [o["id"] for o in json.loads(self.state.read_text())["operations"]]


if __name__ == "__main__":
    main()

"""Outages against servers that fail on purpose: waits ride them out, nothing is generated twice.

gRPC runs against servers built from the official ``yandexcloud`` stubs
(in-process, or in a child process killed with SIGKILL and restarted on the
same port); REST against the emulator (its faults API, or its CLI with a
state file, killed and restarted). Time bounds are generous on purpose:
they catch a wait that gives up early or hangs, not a slow machine.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.contract.official_process import EmulatorProcess, OfficialProcess, free_port
from tests.contract.official_server import JPEG, OfficialServer, Plan, RunningServer
from yandex_art import AIStudio, AsyncAIStudio
from yandex_art._runtime.errors import AIStudioError, OperationTimeoutError, TransportError
from yandex_art._runtime.retry import RetryPolicy
from yandex_art.emulator import Emulator

# Transport retries of one read kept short, so that a burst of failures is
# mostly ridden out by the wait's own outage backoff (the part under test).
FAST_READS = RetryPolicy(initial_backoff=0.01, max_backoff=0.02)


@pytest.fixture
def server() -> Iterator[OfficialServer]:
    with RunningServer() as state:
        yield state


def _sdk(address: str, **kwargs: Any) -> AIStudio:
    return AIStudio(
        folder_id="b1gtest", auth="test-api-key", address=address, verify=False, **kwargs
    )


def _names_the_operation(error: AIStudioError, operation_id: str) -> None:
    assert getattr(error, "operation_id", None) == operation_id
    assert operation_id in str(error)


# -- 1. UNAVAILABLE reads in a row -----------------------------------------------------------


@pytest.mark.parametrize("failures", [5, 20])
def test_unavailable_reads_in_a_row_are_ridden_out(server: OfficialServer, failures: int) -> None:
    server.plan = Plan(seconds=0.2)
    with _sdk(server.address, retry_policy=FAST_READS) as sdk:
        operation = sdk.models.image_generation("yandex-art").run_deferred("a red cat")
        server.fail_next["Get"] = failures
        result = operation.wait(poll_timeout=60)
    assert result.image_bytes == JPEG
    assert server.fail_next["Get"] == 0  # every injected failure was met
    assert len([c for c in server.calls if c.method == "Get"]) >= failures + 1
    assert operation.reads >= failures + 1
    assert [c.method for c in server.calls].count("Generate") == 1
    assert len(server.ops) == 1  # nothing generated twice


# -- 2. the server killed with SIGKILL and restarted on the same port ------------------------

OUTAGE = 4.0


@dataclass
class Restart:
    killed_at: float = 0.0
    ready_at: float = 0.0
    error: BaseException | None = None


def _kill_and_restart(
    kill: Callable[[], None], start: Callable[[], float]
) -> tuple[threading.Thread, Restart]:
    marks = Restart()

    def chaos() -> None:
        try:
            kill()
            marks.killed_at = time.monotonic()
            time.sleep(OUTAGE)
            marks.ready_at = start()
        except BaseException as error:  # reported by the test
            marks.error = error

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    return thread, marks


def test_grpc_wait_survives_a_killed_and_restarted_server(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    official = OfficialProcess(tmp_path, seconds=2.0)
    official.start()
    try:
        with _sdk(official.address) as sdk:
            operation = sdk.models.image_generation("yandex-art").run_deferred("a red cat")
            first_pid = official.calls("Generate")[0]["pid"]
            thread, marks = _kill_and_restart(official.kill, official.start)
            result = operation.wait(poll_timeout=60)
            done_at = time.monotonic()
            thread.join(60)
    finally:
        official.kill()
    assert marks.error is None
    assert result.image_bytes == JPEG
    generates = official.calls("Generate")
    assert len(generates) == 1  # nothing generated twice
    # the answer came from the restarted process, after the outage
    answered = [c for c in official.calls("Get") if c["operation_id"] == operation.id]
    assert answered[-1]["pid"] != first_pid
    assert done_at > marks.ready_at > marks.killed_at
    recovery = done_at - marks.ready_at
    record_property("grpc_recovery_seconds", round(recovery, 2))
    print(f"gRPC: result {recovery:.2f} s after the restart, {operation.reads} reads")
    assert recovery < 30  # a generous bound: the wait did not stall


def test_rest_wait_survives_a_killed_and_restarted_emulator(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    emulator = EmulatorProcess(tmp_path / "state.json", generation_seconds=2.0)
    emulator.start()
    try:
        with _sdk(f"127.0.0.1:{emulator.rest_port}", transport="rest") as sdk:
            operation = sdk.models.image_generation("yandex-art").run_deferred("a red cat")
            thread, marks = _kill_and_restart(emulator.kill, emulator.start)
            result = operation.wait(poll_timeout=60)
            done_at = time.monotonic()
            thread.join(60)
    finally:
        emulator.kill()
    assert marks.error is None
    assert result.image_bytes
    assert emulator.operations() == [operation.id]  # nothing generated twice
    assert done_at > marks.ready_at > marks.killed_at
    recovery = done_at - marks.ready_at
    record_property("rest_recovery_seconds", round(recovery, 2))
    print(f"REST: result {recovery:.2f} s after the restart, {operation.reads} reads")
    assert recovery < 30


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_forty_waits_in_one_client_survive_a_restart(tmp_path: Path, transport: str) -> None:
    """The read budget under a fault with many reads in flight: 40 waits, a 50 reads/s
    server killed for 4 s. Retrying reads once held grants they never gave back and the
    whole budget deadlocked (0 of 40 finished)."""
    emulator = EmulatorProcess(tmp_path / "state.json", generation_seconds=3.0, read_quota=50)
    emulator.start()
    port = emulator.grpc_port if transport == "grpc" else emulator.rest_port

    async def forty() -> list[bytes]:
        async with AsyncAIStudio(
            folder_id="b1gtest",
            auth="test-api-key",
            address=f"127.0.0.1:{port}",
            verify=False,
            transport=transport,  # type: ignore[arg-type]
        ) as sdk:
            model = sdk.models.image_generation("yandex-art")
            operations = [await model.run_deferred(f"cat {i}") for i in range(40)]
            thread, marks = _kill_and_restart(emulator.kill, emulator.start)
            results = await asyncio.gather(*(op.wait(poll_timeout=90) for op in operations))
            await asyncio.to_thread(thread.join, 60)
            assert marks.error is None
            return [result.image_bytes for result in results]

    try:
        images = asyncio.run(forty())
    finally:
        emulator.kill()
    assert len(images) == 40 and all(image[:2] == b"\xff\xd8" for image in images)
    assert len(emulator.operations()) == 40  # nothing generated twice


# -- 4. a hung server --------------------------------------------------------------------------


class HungListener:
    """Accepts TCP connections and reads from them, never answering."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.received = bytearray()
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                pass
            else:
                conn.settimeout(0.05)
                self._connections.append(conn)
            for conn in self._connections:
                try:
                    self.received += conn.recv(65536)
                except (TimeoutError, OSError):
                    pass

    def __enter__(self) -> HungListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._connections:
            conn.close()
        self._sock.close()


POLL_TIMEOUT = 3.0
# Promptly: the wait ends at poll_timeout, plus a generous allowance for a loaded machine.
PROMPT = POLL_TIMEOUT + 2.5


def _wait_times_out(operation: Any, *, read_timeout: float = 0.5) -> OperationTimeoutError:
    started = time.monotonic()
    with pytest.raises(OperationTimeoutError) as info:
        operation.wait(timeout=read_timeout, poll_timeout=POLL_TIMEOUT)
    took = time.monotonic() - started
    assert POLL_TIMEOUT - 0.1 <= took < PROMPT, took
    _names_the_operation(info.value, operation.id)
    return info.value


@pytest.mark.parametrize("read_timeout", [0.5, 60])
def test_a_grpc_server_whose_reads_hang(server: OfficialServer, read_timeout: float) -> None:
    server.plan = Plan(seconds=60)
    with _sdk(server.address) as sdk:
        operation = sdk.models.image_generation("yandex-art").run_deferred("a red cat")
        server.hang.add("Get")
        # poll_timeout bounds the wait even while one read could hang for 60 s
        _wait_times_out(operation, read_timeout=read_timeout)
    reads = len([c for c in server.calls if c.method == "Get"])
    if read_timeout < POLL_TIMEOUT:
        assert reads >= 2  # each read gave up after its 0.5 s and the next one was tried
    else:
        assert reads == 1


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_listener_that_never_answers(transport: str) -> None:
    # Over gRPC the HTTP/2 handshake never completes: the read must time out
    # (and be ridden out), not be taken for an unreachable server. It was when
    # grpc.min_reconnect_backoff_ms, grpcio's connect timeout, was set to 0.5 s.
    with HungListener() as hung, _sdk(hung.address, transport=transport) as sdk:
        operation = sdk.models.image_generation("yandex-art").attach_deferred("op-hung-1")
        _wait_times_out(operation)


def test_a_hung_grpc_generate_is_not_retried(server: OfficialServer) -> None:
    server.hang.add("Generate")
    with _sdk(server.address) as sdk:
        with pytest.raises(TransportError) as info:
            sdk.models.image_generation("yandex-art").run_deferred("a red cat", timeout=0.5)
        time.sleep(0.5)  # a retry, if any, would have arrived by now
    assert info.value.code == "DEADLINE_EXCEEDED"
    # it may have been created: repeating it could generate (and bill) twice
    assert [c.method for c in server.calls] == ["Generate"]


def test_a_hung_rest_generate_is_not_retried() -> None:
    with HungListener() as hung, _sdk(hung.address, transport="rest") as sdk:
        with pytest.raises(TransportError) as info:
            sdk.models.image_generation("yandex-art").run_deferred("a red cat", timeout=0.5)
        time.sleep(0.5)
        sent = bytes(hung.received)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert sent.count(b"POST ") == 1


# -- 5. Generate refused: a request that never left is always retried -----------------------

# Generate is retried here only when it provably never left.
ONLY_UNSENT = RetryPolicy(
    max_attempts=100, initial_backoff=0.05, max_backoff=0.2, non_idempotent_codes=frozenset()
)


def test_a_generate_refused_at_connection_is_retried_until_the_server_is_up() -> None:
    port = free_port()
    servers: list[RunningServer] = []
    states: list[OfficialServer] = []

    def start_late() -> None:
        time.sleep(1.0)
        running = RunningServer(port=port)
        states.append(running.__enter__())
        servers.append(running)

    late = threading.Thread(target=start_late, daemon=True)
    try:
        with _sdk(f"127.0.0.1:{port}", retry_policy=ONLY_UNSENT) as sdk:
            late.start()
            operation = sdk.models.image_generation("yandex-art").run_deferred("a red cat")
            result = operation.wait(poll_timeout=30)
    finally:
        late.join(30)
        for running in servers:
            running.__exit__(None, None, None)
    assert result.image_bytes == JPEG
    (state,) = states
    assert [c.method for c in state.calls].count("Generate") == 1
    assert len(state.ops) == 1


def test_a_generate_answered_unavailable_is_not_retried_under_that_policy(
    server: OfficialServer,
) -> None:
    server.fail_next["Generate"] = 1
    with _sdk(server.address, retry_policy=ONLY_UNSENT) as sdk:
        with pytest.raises(TransportError) as info:
            sdk.models.image_generation("yandex-art").run_deferred("a red cat")
    assert info.value.code == "UNAVAILABLE" and info.value.sent
    assert [c.method for c in server.calls] == ["Generate"]


# -- 6. every error from wait()/get_result() names the operation, in both transports --------


@dataclass
class Faulty:
    """One server of either transport, with the faults the tests need."""

    sdk: AIStudio
    fail_reads: Callable[[int, str], None]
    stop: Callable[[], None]


@pytest.fixture(params=["grpc", "rest"])
def faulty(request: pytest.FixtureRequest) -> Iterator[Faulty]:
    if request.param == "grpc":
        running = RunningServer()
        state = running.__enter__()
        state.plan = Plan(seconds=60)
        stopped = []

        def fail_grpc(times: int, code: str) -> None:
            state.fail_next["Get"] = times
            state.fail_code["Get"] = grpc.StatusCode[code]

        def stop_grpc() -> None:
            if not stopped:
                stopped.append(True)
                running.__exit__(None, None, None)

        with _sdk(state.address, retry_policy=FAST_READS) as sdk:
            yield Faulty(sdk, fail_grpc, stop_grpc)
        stop_grpc()
    else:
        emu = Emulator.start(generation_seconds=60, read_quota=None)

        def fail_rest(times: int, code: str) -> None:
            emu.faults.fail_calls("get", times, code=code)

        with emu, emu.sdk("rest", retry_policy=FAST_READS) as sdk:
            yield Faulty(sdk, fail_rest, emu.close)


def test_a_failed_read_names_the_operation(faulty: Faulty) -> None:
    operation = faulty.sdk.models.image_generation("yandex-art").run_deferred("a red cat")
    faulty.fail_reads(1000, "UNAVAILABLE")
    with pytest.raises(TransportError) as info:
        operation.get_result()
    assert info.value.code == "UNAVAILABLE"
    _names_the_operation(info.value, operation.id)
    with pytest.raises(OperationTimeoutError) as timeout:
        operation.wait(timeout=5, poll_timeout=1.0)
    _names_the_operation(timeout.value, operation.id)


def test_a_refused_read_names_the_operation_at_once(faulty: Faulty) -> None:
    operation = faulty.sdk.models.image_generation("yandex-art").run_deferred("a red cat")
    faulty.fail_reads(1, "PERMISSION_DENIED")
    with pytest.raises(TransportError) as info:
        operation.wait(poll_timeout=60)  # not an outage: raised, not ridden out
    assert info.value.code == "PERMISSION_DENIED"
    _names_the_operation(info.value, operation.id)


def test_a_server_gone_for_good_names_the_operation(faulty: Faulty) -> None:
    operation = faulty.sdk.models.image_generation("yandex-art").run_deferred("a red cat")
    faulty.stop()
    with pytest.raises(TransportError) as info:
        operation.get_result(timeout=5)
    assert info.value.code == "UNAVAILABLE"
    _names_the_operation(info.value, operation.id)
    with pytest.raises(OperationTimeoutError) as timeout:
        operation.wait(timeout=5, poll_timeout=1.0)
    _names_the_operation(timeout.value, operation.id)


def test_a_cli_batch_at_concurrency_64_rides_out_a_restart(tmp_path: Path) -> None:
    """The README's batch through a 4 s outage with 64 operations in flight: every image, none
    generated twice (44 of 60 finished when retrying reads held the read budget)."""
    import json as json_module
    import os
    import subprocess
    import sys

    from yandex_art.cli.batch_journal import JOURNAL

    emulator = EmulatorProcess(tmp_path / "state.json", generation_seconds=3.0, read_quota=50)
    emulator.start()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"cat number {i}\n" for i in range(80)))
    out = tmp_path / "out"
    env = {
        **os.environ,
        "YC_API_KEY": "test-key",
        "YC_FOLDER_ID": "b1gtest",
        "YANDEX_ART_QUOTA_STORE": "process",
    }
    command = [sys.executable, "-m", "yandex_art", "batch", str(prompts), "-o", str(out)]
    command += ["--endpoint", f"127.0.0.1:{emulator.grpc_port}", "--concurrency", "64"]
    command += ["--rate", "100000"]
    try:
        run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            journal = out / JOURNAL
            if journal.exists() and journal.read_text().count('"started"') >= 64:
                break
            time.sleep(0.05)
        thread, marks = _kill_and_restart(emulator.kill, emulator.start)
        _, err = run.communicate(timeout=240)
        thread.join(60)
    finally:
        emulator.kill()
    assert marks.error is None
    assert run.returncode == 0, err.decode()[-2000:]
    images = sorted(out.glob("*.jpeg"))
    assert len(images) == 80
    assert all(image.read_bytes()[:2] == b"\xff\xd8" for image in images)
    assert len(emulator.operations()) == 80  # nothing generated twice
    records = [json_module.loads(line) for line in (out / JOURNAL).read_text().splitlines()]
    assert sum(r["event"] == "done" for r in records) == 80

"""Lifecycles as deployments shape them: fork after use, successive event loops,
closing under waiters, errors through process pools, clients never closed."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tests.contract.official_server import JPEG, OfficialServer, Plan, RunningServer
from yandex_art import AIStudio, AsyncAIStudio
from yandex_art._runtime import errors
from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[OfficialServer]:
    with RunningServer() as state:
        yield state


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(generation_seconds=0.05) as emu:
        yield emu


def _endpoint(emulator: Emulator, transport: str) -> str:
    return emulator.grpc_address if transport == "grpc" else emulator.rest_address


def _child(conn: object, endpoint: str, transport: str, sdk: AIStudio) -> None:
    try:
        image = sdk.models.image_generation("yandex-art").run_deferred("child").wait().image_bytes
        conn.send(("ok", len(image)))  # type: ignore[attr-defined]
    except BaseException as exc:  # pragma: no cover - reported to the parent
        conn.send(("error", repr(exc)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_client_used_before_fork_works_in_the_child_and_the_parent(
    emulator: Emulator, transport: str
) -> None:
    sdk = AIStudio(
        folder_id=emulator.folder_id,
        auth=emulator.auth,
        address=_endpoint(emulator, transport),
        verify=False,
        transport=transport,  # type: ignore[arg-type]
    )
    model = sdk.models.image_generation("yandex-art")
    assert model.run_deferred("parent").wait().image_bytes  # loop thread and channel exist
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=_child, args=(child_end, "", transport, sdk))
    process.start()
    process.join(30)
    assert process.exitcode == 0, "the child hung or crashed"
    status, value = parent_end.recv()
    assert status == "ok" and value > 0, value
    assert model.run_deferred("parent again").wait().image_bytes  # the parent is unaffected
    sdk.close()


def test_an_async_client_works_in_a_forked_child(emulator: Emulator) -> None:
    sdk = AsyncAIStudio(
        folder_id=emulator.folder_id,
        auth=emulator.auth,
        address=emulator.grpc_address,
        verify=False,
    )

    async def one(prompt: str) -> int:
        op = await sdk.models.image_generation("yandex-art").run_deferred(prompt)
        return len((await op.wait()).image_bytes)

    assert asyncio.run(one("parent"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        try:
            code = 0 if asyncio.run(one("child")) else 1
        except BaseException:
            code = 2
        os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert asyncio.run(one("parent again"))
    asyncio.run(sdk.close())


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_successive_event_loops_leave_no_warning(emulator: Emulator, transport: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, gc, warnings
        warnings.simplefilter("error")
        from yandex_art import AsyncAIStudio
        sdk = AsyncAIStudio(folder_id={emulator.folder_id!r}, auth={emulator.auth!r},
                            address={_endpoint(emulator, transport)!r}, verify=False,
                            transport={transport!r})
        async def one():
            op = await sdk.models.image_generation("yandex-art").run_deferred("a cat")
            return len((await op.wait()).image_bytes)
        assert asyncio.run(one()) and asyncio.run(one()) and asyncio.run(one())
        asyncio.run(sdk.close())   # from a loop that made nothing
        gc.collect()
        print("done")
        """
    )
    result = _python(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert "Warning" not in result.stderr and "Event loop is closed" not in result.stderr


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_client_never_closed_exits_quietly(emulator: Emulator, transport: str) -> None:
    script = textwrap.dedent(
        f"""
        from yandex_art import AIStudio, AsyncAIStudio
        import asyncio
        sdk = AIStudio(folder_id={emulator.folder_id!r}, auth={emulator.auth!r},
                       address={_endpoint(emulator, transport)!r}, verify=False,
                       transport={transport!r})
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
        asdk = AsyncAIStudio(folder_id={emulator.folder_id!r}, auth={emulator.auth!r},
                             address={_endpoint(emulator, transport)!r}, verify=False,
                             transport={transport!r})
        async def one():
            await (await asdk.models.image_generation("yandex-art").run_deferred("a dog"))
        asyncio.run(one())
        print("done")
        """
    )
    result = _python(script, "-W", "always")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert result.stderr == ""


def _python(script: str, *flags: str) -> subprocess.CompletedProcess[str]:
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]  # keep a src override
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [sys.executable, *flags, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_closing_wakes_every_waiting_thread_with_the_operation_id(server: OfficialServer) -> None:
    server.plan = Plan(seconds=60)
    sdk = AIStudio(folder_id="b1g", auth="k", address=server.address, verify=False)
    model = sdk.models.image_generation("yandex-art")
    ops = [model.run_deferred(f"cat {i}") for i in range(5)]
    outcomes: dict[str, BaseException | None] = {}

    def wait(op: object) -> None:
        try:
            op.wait(poll_timeout=120)  # type: ignore[attr-defined]
            outcomes[op.id] = None  # type: ignore[attr-defined]
        except BaseException as exc:
            outcomes[op.id] = exc  # type: ignore[attr-defined]

    threads = [threading.Thread(target=wait, args=(op,)) for op in ops]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    sdk.close()
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - started < 5
    assert set(outcomes) == {op.id for op in ops}
    for op in ops:
        error = outcomes[op.id]
        assert isinstance(error, errors.ClientClosedError), repr(error)
        assert error.operation_id == op.id and op.id in str(error)


async def test_closing_an_async_client_wakes_its_waiters(server: OfficialServer) -> None:
    server.plan = Plan(seconds=60)
    sdk = AsyncAIStudio(folder_id="b1g", auth="k", address=server.address, verify=False)
    model = sdk.models.image_generation("yandex-art")
    ops = [await model.run_deferred(f"cat {i}") for i in range(3)]
    waits = [asyncio.ensure_future(op.wait()) for op in ops]
    await asyncio.sleep(0.3)
    await sdk.close()
    results = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 5)
    for op, result in zip(ops, results, strict=True):
        assert isinstance(result, errors.ClientClosedError) and result.operation_id == op.id


def _all_errors() -> list[errors.AIStudioError]:
    return [
        errors.AIStudioError("x"),
        errors.ConfigurationError("no folder"),
        errors.InvalidArgumentError("seed", "must be an int"),
        errors.TransportError(
            "down",
            code="UNAVAILABLE",
            endpoint="h:443",
            method="/a/B",
            request_id="r",
            server_request_id="s",
            retry_after=1.5,
            http_status=503,
            sent=False,
            operation_id="op1",
        ),
        errors.ClientClosedError(operation_id="op2"),
        errors.OperationError("still running", operation_id="op3"),
        errors.OperationFailedError(
            operation_id="op4", code=3, message="bad", details=("d",), cancelled=False
        ),
        errors.UnexpectedOperationResultError("empty", operation_id="op5"),
        errors.OperationTimeoutError(operation_id="op6", timeout=30.0),
    ]


@pytest.mark.parametrize("error", _all_errors(), ids=lambda e: type(e).__name__)
def test_every_error_round_trips_through_pickle(error: errors.AIStudioError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error) and repr(again) == repr(error)
    assert again.__dict__ == error.__dict__


def _fail_in_worker(operation_id: str) -> None:
    raise errors.OperationFailedError(operation_id=operation_id, code=3, message="rejected")


def test_an_operation_error_crosses_a_process_pool() -> None:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_fail_in_worker, "op-123")
        with pytest.raises(errors.OperationFailedError) as caught:
            future.result(60)
    assert caught.value.operation_id == "op-123" and caught.value.code == 3


def test_image_is_whole_after_a_fork(server: OfficialServer) -> None:
    """The parent keeps working while a forked child used the same sync client."""
    with AIStudio(folder_id="b1g", auth="k", address=server.address, verify=False) as sdk:
        model = sdk.models.image_generation("yandex-art")
        assert model.run_deferred("a").wait().image_bytes == JPEG
        pid = os.fork()
        if pid == 0:  # pragma: no cover - reports through the exit code
            try:
                ok = model.run_deferred("b").wait().image_bytes == JPEG
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert model.run_deferred("c").wait().image_bytes == JPEG

"""The gRPC transport as users meet it: user agent, proxies, idempotency keys, typed constructors."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import yandex_art
from tests.contract.official_server import OfficialServer, Plan, RunningServer
from yandex_art import AIStudio, AsyncAIStudio, RetryPolicy


@pytest.fixture
def server() -> Iterator[OfficialServer]:
    with RunningServer() as state:
        yield state


def _client(server: OfficialServer) -> AIStudio:
    return AIStudio(folder_id="b1gtest", auth="test-key", address=server.address, verify=False)


def test_user_agent_names_the_sdk_and_its_version(server: OfficialServer) -> None:
    with _client(server) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    agents = {call.metadata.get("user-agent", "") for call in server.calls}
    assert agents and all(
        a.startswith(f"yandex-art-sdk/{yandex_art.__version__} python/") for a in agents
    )
    assert all("grpc-python" in a for a in agents)  # grpcio appends its own part


def test_idempotency_key_is_stable_across_retries_and_new_per_call(
    server: OfficialServer,
) -> None:
    server.plan = Plan(seconds=0.3)
    server.fail_next["Get"] = 2
    with _client(server) as sdk:
        sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
    gets = [c for c in server.calls if c.method == "Get"]
    assert len(gets) >= 3
    first_three = gets[:3]
    assert len({c.metadata["idempotency-key"] for c in first_three}) == 1
    assert len({c.metadata["x-client-request-id"] for c in first_three}) == 1
    keys = {c.metadata["idempotency-key"] for c in server.calls}
    assert len(keys) == len(server.calls) - 2  # one per logical call


class _ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that records what it tunnelled."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = request_line.split(" ", 2)
        self.targets.append(f"{method} {target}")
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("variable", ["https_proxy", "HTTPS_PROXY", "grpc_proxy"])
def test_grpc_goes_through_the_proxy_in_the_environment(
    server: OfficialServer, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _ConnectProxy()
    for name in ("no_proxy", "NO_PROXY", "no_grpc_proxy", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
    try:
        with _client(server) as sdk:
            result = sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
        assert result.image_bytes
        assert proxy.targets == [f"CONNECT {server.address}"]
        # no_proxy is honoured as grpcio does
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        proxy.targets.clear()
        with _client(server) as sdk:
            sdk.models.image_generation("yandex-art").run_deferred("a cat").wait()
        assert proxy.targets == []
    finally:
        proxy.close()


def test_async_client_works_across_event_loops(server: OfficialServer) -> None:
    sdk = AsyncAIStudio(folder_id="b1gtest", auth="k", address=server.address, verify=False)

    async def one() -> bytes:
        op = await sdk.models.image_generation("yandex-art").run_deferred("a cat")
        return (await op.wait()).image_bytes

    assert asyncio.run(one()) and asyncio.run(one())
    asyncio.run(sdk.close())


def test_constructor_parameters_are_visible_to_introspection() -> None:
    import inspect

    for cls in (AIStudio, AsyncAIStudio):
        params = inspect.signature(cls).parameters
        assert {"folder_id", "auth", "endpoint", "verify", "transport"} <= set(params)
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def test_a_misspelt_or_mistyped_argument_fails_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(
        textwrap.dedent(
            """
            from yandex_art import AIStudio, AsyncAIStudio
            from yandex_art.emulator import Emulator

            AIStudio(foldr_id="b1g")
            AsyncAIStudio(folder_id=5)
            AIStudio(folder_id="b1g", verify="yes", transport="grcp")
            Emulator(generation_second=1)
            Emulator.start(read_quota="50")
            Emulator().sdk("grpc", retry_polcy=None)
            """
        )
    )
    src = Path(__file__).resolve().parents[2] / "src"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(src)},
        cwd=tmp_path,
    )
    out = result.stdout
    assert result.returncode == 1, out
    assert 'Unexpected keyword argument "foldr_id"' in out
    assert 'Argument "folder_id" to "AsyncAIStudio" has incompatible type "int"' in out
    assert '"transport" to "AIStudio" has incompatible type' in out
    assert 'Unexpected keyword argument "generation_second"' in out
    assert '"read_quota" to "start" of "Emulator" has incompatible type' in out
    assert 'Unexpected keyword argument "retry_polcy"' in out


def test_typed_keyword_tables_match_what_they_describe() -> None:
    import dataclasses
    import inspect

    from yandex_art._client import ClientSettings
    from yandex_art.emulator import EmulatorConfig
    from yandex_art.emulator.config import EmulatorSettings

    assert set(ClientSettings.__annotations__) == set(inspect.signature(AIStudio).parameters)
    assert set(EmulatorSettings.__annotations__) == {
        f.name for f in dataclasses.fields(EmulatorConfig)
    }


def test_rest_takes_its_proxy_from_the_client_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from yandex_art import TransportError
    from yandex_art.emulator import Emulator

    dead_proxy = "http://127.0.0.1:1"  # nothing listens: a proxied call cannot succeed
    with Emulator.start(generation_seconds=0) as emu:
        base = {"folder_id": emu.folder_id, "auth": emu.auth, "verify": False}
        proxied = AIStudio(
            **base,
            address=emu.rest_address,
            transport="rest",
            env={"HTTP_PROXY": dead_proxy},
            retry_policy=RetryPolicy(max_attempts=1),
        )
        with proxied, pytest.raises(TransportError):
            proxied.models.image_generation("yandex-art").run_deferred("a cat")
        direct = AIStudio(
            **base,
            address=emu.rest_address,
            transport="rest",
            env={"HTTP_PROXY": dead_proxy, "NO_PROXY": "localhost,127.0.0.1"},
        )
        with direct:
            assert direct.models.image_generation("yandex-art").run_deferred("a cat").wait()
        assert emu.stats().calls.get("generate") == 1  # the proxied call never arrived


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_the_emulators_own_clients_bypass_a_proxy_in_the_environment(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the README quickstart runs on a machine behind a corporate proxy."""
    from yandex_art.emulator import Emulator

    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "grpc_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:1")
    with Emulator.start(generation_seconds=0) as emu, emu.sdk(transport) as sdk:  # type: ignore[arg-type]
        assert sdk.models.image_generation("yandex-art").run_deferred("a cat").wait().image_bytes

"""Credentials found without ``auth=``: env, the metadata service, the yc CLI (all local)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import CLOSED_METADATA_ADDR
from yandex_art._runtime import auth
from yandex_art._runtime.auth import (
    METADATA_PATH,
    APIKeyAuth,
    EnvIAMTokenAuth,
    IAMTokenAuth,
    MetadataAuth,
    OAuthTokenAuth,
    YcCliAuth,
    coerce_auth,
)
from yandex_art._runtime.errors import ConfigurationError, TransportError

from .clock import T0, FakeClock


class MetadataServer:
    """A metadata service on 127.0.0.1 handing out numbered IAM tokens."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.status = 200
        self.expires_in = 3600
        self.delay = 0.0
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                state.requests.append((self.path, self.headers.get("Metadata-Flavor")))
                if state.delay:
                    threading.Event().wait(state.delay)
                if self.path != METADATA_PATH or self.headers.get("Metadata-Flavor") != "Google":
                    self.send_error(404)
                    return
                if state.status != 200:
                    self.send_error(state.status)
                    return
                body = json.dumps(
                    {
                        "access_token": f"t1.meta-{len(state.requests)}",
                        "expires_in": state.expires_in,
                        "token_type": "Bearer",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def metadata() -> Iterator[MetadataServer]:
    server = MetadataServer()
    yield server
    server.close()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """An address whose connects hang (a full accept queue), like 169.254.169.254 off-cloud."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    pending = []
    for _ in range(8):
        sock = socket.socket()
        sock.settimeout(0.2)
        pending.append(sock)
        try:
            sock.connect(("127.0.0.1", port))
        except TimeoutError:
            break
    else:
        pytest.skip("this system accepts every connect; cannot emulate an unanswered address")
    yield f"127.0.0.1:{port}"
    for sock in pending:
        sock.close()
    listener.close()


def fake_yc(tmp_path: Path, body: str) -> Path:
    """A ``yc`` on PATH that logs its argv to ``argv.log`` and then runs ``body``."""
    script = tmp_path / "yc"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        f"log = pathlib.Path({str(tmp_path / 'argv.log')!r})\n"
        "with log.open('a') as f: f.write(' '.join(sys.argv[1:]) + '\\n')\n"
        "runs = len(log.read_text().splitlines())\n" + body
    )
    script.chmod(0o755)
    return tmp_path / "argv.log"


ALL_SOURCES = (
    "no credentials: tried auth=, YC_API_KEY, YC_IAM_TOKEN, YC_OAUTH_TOKEN, YC_TOKEN, "
    "metadata service at {addr} ({why}), yc CLI (not on PATH)"
)


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"YC_API_KEY": "k", "YC_IAM_TOKEN": "t1.i", "YC_TOKEN": "t1.d"}, APIKeyAuth),
        ({"YC_IAM_TOKEN": "t1.i", "YC_OAUTH_TOKEN": "y0_o", "YC_TOKEN": "t1.d"}, IAMTokenAuth),
        ({"YC_OAUTH_TOKEN": "y0_o", "YC_TOKEN": "t1.d"}, OAuthTokenAuth),
        ({"YC_API_KEY": " ", "YC_TOKEN": "t1.d"}, EnvIAMTokenAuth),
    ],
)
def test_environment_order(env: dict[str, str], kind: type, metadata: MetadataServer) -> None:
    # a metadata service that would answer is not even asked when the env has a credential
    assert type(coerce_auth(None, {**env, "YC_METADATA_ADDR": metadata.addr})) is kind
    assert metadata.requests == []


async def test_yc_token_is_read_at_every_call() -> None:
    env = {"YC_TOKEN": "t1.first"}
    provider = coerce_auth(None, env)
    assert await provider.authorization() == "Bearer t1.first"
    env["YC_TOKEN"] = "t1.renewed"  # DataSphere refreshes the variable
    assert await provider.authorization() == "Bearer t1.renewed"
    assert "t1." not in repr(provider) + provider.describe()
    env["YC_TOKEN"] = ""
    with pytest.raises(ConfigurationError, match="YC_TOKEN") as info:
        await provider.authorization()
    assert "t1." not in str(info.value)


async def test_metadata_token_is_used_and_refreshed(metadata: MetadataServer) -> None:
    clock = FakeClock()
    provider = coerce_auth(None, {"YC_METADATA_ADDR": metadata.addr}, clock=clock)
    assert isinstance(provider, MetadataAuth)
    assert metadata.requests == [(METADATA_PATH, "Google")]
    # the probe's token is the first one used: no second request
    assert await provider.authorization() == "Bearer t1.meta-1"
    assert len(metadata.requests) == 1
    # the margin is min(1 h, a tenth of the lifetime) = 360 s before expiry
    clock.now = T0 + 3600 - 361
    assert await provider.authorization() == "Bearer t1.meta-1"
    clock.now = T0 + 3600 - 359
    assert await provider.authorization() == "Bearer t1.meta-2"
    clock.now += 3600 - 361  # the new token's lifetime counts from its fetch
    assert await provider.authorization() == "Bearer t1.meta-2"
    assert "t1." not in repr(provider) + provider.describe()
    assert metadata.addr in provider.describe()


async def test_metadata_one_fetch_at_a_time(metadata: MetadataServer) -> None:
    clock = FakeClock()
    provider = MetadataAuth(metadata.addr, clock=clock)
    metadata.delay = 0.1
    values = await asyncio.gather(*(provider.authorization() for _ in range(5)))
    assert values == ["Bearer t1.meta-1"] * 5
    assert len(metadata.requests) == 1


async def test_metadata_refresh_failure_is_unavailable_without_token(
    metadata: MetadataServer,
) -> None:
    clock = FakeClock()
    provider = coerce_auth(None, {"YC_METADATA_ADDR": metadata.addr}, clock=clock)
    metadata.status = 503
    clock.now = T0 + 3600
    with pytest.raises(TransportError) as info:
        await provider.authorization()
    assert info.value.code == "UNAVAILABLE"
    assert "HTTP 503" in str(info.value) and metadata.addr in str(info.value)
    assert "t1.meta" not in str(info.value)


def test_metadata_without_service_account_falls_through(metadata: MetadataServer) -> None:
    metadata.status = 404
    with pytest.raises(ConfigurationError) as info:
        coerce_auth(None, {"YC_METADATA_ADDR": metadata.addr})
    assert str(info.value) == ALL_SOURCES.format(addr=metadata.addr, why="HTTP 404")


def test_nothing_found_lists_every_source_in_order() -> None:
    with pytest.raises(ConfigurationError) as info:
        coerce_auth(None, {})
    why = "ConnectionRefusedError: Connection refused"
    assert str(info.value) == ALL_SOURCES.format(addr=CLOSED_METADATA_ADDR, why=why)


def test_unanswered_metadata_address_is_given_up_after_the_probe_timeout(
    blackhole: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the default address is probed with the short timeout (timing: bench/auth_probe.py)
    monkeypatch.setattr(auth, "METADATA_ADDR", blackhole)
    with pytest.raises(ConfigurationError) as info:
        coerce_auth(None, {})
    assert str(info.value) == ALL_SOURCES.format(addr=blackhole, why="no answer in 0.1 s")


async def test_yc_cli_with_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "YC_EXECUTABLE", "yc")
    log = fake_yc(tmp_path, "print('t1.yc-token-%d' % runs)\n")
    clock = FakeClock()
    env = {"PATH": str(tmp_path), "YC_PROFILE": "work"}
    provider = coerce_auth(None, env, clock=clock)
    assert isinstance(provider, YcCliAuth)
    assert not log.exists()  # run at the first call, not when the client is made
    assert await provider.authorization() == "Bearer t1.yc-token-1"
    assert await provider.authorization() == "Bearer t1.yc-token-1"
    assert log.read_text().splitlines() == ["iam create-token --no-user-output --profile work"]
    clock.now = T0 + 3601  # refreshed after an hour
    assert await provider.authorization() == "Bearer t1.yc-token-2"
    assert "t1." not in repr(provider) + provider.describe()
    assert "profile work" in provider.describe()


async def test_yc_cli_without_profile_and_its_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "YC_EXECUTABLE", "yc")
    log = fake_yc(
        tmp_path,
        "print('t1.partial-secret')\n"
        "sys.stderr.write('ERROR: no profile configured\\n')\nsys.exit(1)\n",
    )
    provider = coerce_auth(None, {"PATH": str(tmp_path)})
    with pytest.raises(ConfigurationError) as info:
        await provider.authorization()
    assert log.read_text().splitlines() == ["iam create-token --no-user-output"]
    message = str(info.value)
    assert "yc iam create-token" in message and "exit 1" in message
    assert "ERROR: no profile configured" in message
    assert "t1." not in message


def test_end_to_end_metadata_token_reaches_the_server(metadata: MetadataServer) -> None:
    from tests.contract.official_server import RunningServer
    from yandex_art import AIStudio

    env = {"YC_FOLDER_ID": "b1gtest", "YC_METADATA_ADDR": metadata.addr}
    with RunningServer() as server:
        with AIStudio(env=env, address=server.address, verify=False) as sdk:
            sdk.models.image_generation("yandex-art").run_deferred("x").wait(poll_interval=0.05)
        assert server.calls
        assert {c.metadata["authorization"] for c in server.calls} == {"Bearer t1.meta-1"}


def test_the_source_found_is_logged_by_kind_never_by_secret(
    metadata: MetadataServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="yandex_art.auth"):
        coerce_auth(None, {"YC_API_KEY": "AQVN-logged-secret-1"})
        coerce_auth(None, {"YC_METADATA_ADDR": metadata.addr})
    messages = [r.getMessage() for r in caplog.records if r.name == "yandex_art.auth"]
    assert messages == [
        "credentials: API key",
        f"credentials: IAM token from the metadata service at {metadata.addr}",
    ]
    assert "AQVN-logged-secret-1" not in caplog.text and "t1.meta" not in caplog.text

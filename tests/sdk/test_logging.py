"""Logging as a user turns it on: every logger (root included) at DEBUG.

Both transports, with API-key, IAM and OAuth credentials, through success,
retries, operation failures and timeouts: the SDK's own lines appear, and no
credential, no image byte and no prompt text appears anywhere in what was
logged or printed.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.contract.official_server import JPEG, OfficialServer, Plan, RunningServer
from yandex_art import AIStudio, OAuthTokenAuth
from yandex_art._runtime import auth
from yandex_art._runtime.errors import (
    OperationFailedError,
    OperationTimeoutError,
    TransportError,
)
from yandex_art.emulator import Emulator, EmulatorConfig

API_KEY = "AQVNlogtestapikey0123456789"
IAM_TOKEN = "t1.logtestiamtoken0123456789"
OAUTH_TOKEN = "y0_logtestoauthtoken0123456789"
EXCHANGED = "t1.logtestexchanged0123456789"
PROMPT = "zebra-in-a-tuxedo-logtest"
SECRETS = (API_KEY, IAM_TOKEN, OAUTH_TOKEN, EXCHANGED, PROMPT)


class _Exchange(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps({"iamToken": EXCHANGED}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def iam_exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The OAuth exchange answered on 127.0.0.1 for the test's duration."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exchange)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/iam/v1/tokens"
    monkeypatch.setattr(auth, "IAM_TOKEN_ENDPOINT", endpoint)
    yield
    server.shutdown()
    server.server_close()


@pytest.fixture
def debug_everywhere() -> Iterator[io.StringIO]:
    """Root and every known logger at DEBUG, all records into one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in root.manager.loggerDict}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(saved_root)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def _scenarios(sdk: AIStudio, plan: Any) -> None:
    """Success, a retried read, a failed operation and a timed-out wait."""
    model = sdk.models.image_generation("yandex-art").configure(seed=7)
    plan(seconds=0.2, outcome="success", fail_reads=2)
    assert model.run_deferred(PROMPT).wait(poll_timeout=30).image_bytes
    plan(seconds=0.0, outcome="error", fail_reads=0)
    with pytest.raises(OperationFailedError):
        model.run_deferred(PROMPT).wait(poll_timeout=30)
    plan(seconds=30.0, outcome="success", fail_reads=0)
    with pytest.raises(OperationTimeoutError):
        model.run_deferred(PROMPT).wait(poll_timeout=0.3)


def _assert_clean(text: str, image: bytes) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret[:6]}... appears in the logs"
    chunk = image[100:148]
    for form in (repr(chunk)[2:-1], base64.b64encode(chunk).decode(), chunk.hex()):
        assert form not in text, "image bytes appear in the logs"
    image_b64 = base64.b64encode(image).decode()
    assert image_b64[40:100] not in text


def _credentials(kind: str) -> str | OAuthTokenAuth:
    if kind == "api-key":
        return API_KEY
    if kind == "iam":
        return IAM_TOKEN
    return OAuthTokenAuth(OAUTH_TOKEN)


@pytest.mark.parametrize("kind", ["api-key", "iam", "oauth"])
def test_grpc_debug_logs_hold_no_secret(
    kind: str,
    iam_exchange: None,
    debug_everywhere: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with RunningServer() as server:

        def plan(*, seconds: float, outcome: str, fail_reads: int) -> None:
            server.plan = Plan(seconds=seconds, outcome=outcome)
            server.fail_next["Get"] = fail_reads

        with AIStudio(
            folder_id="b1gtest",
            auth=_credentials(kind),
            address=server.address,
            verify=False,
        ) as sdk:
            _scenarios(sdk, plan)
            # a call that fails in transport: a dead endpoint
            dead = AIStudio(
                folder_id="b1gtest",
                auth=_credentials(kind),
                address="127.0.0.1:1",
                verify=False,
            )
            with pytest.raises(TransportError):
                dead.models.image_generation("yandex-art").run_deferred(PROMPT, timeout=2)
            dead.close()
        _check_server_saw(server, kind)
    out, err = capfd.readouterr()
    text = debug_everywhere.getvalue() + out + err
    _assert_clean(text, JPEG)
    _assert_sdk_lines(text)


def _check_server_saw(server: OfficialServer, kind: str) -> None:
    expected = {
        "api-key": f"Api-Key {API_KEY}",
        "iam": f"Bearer {IAM_TOKEN}",
        "oauth": f"Bearer {EXCHANGED}",
    }[kind]
    assert server.calls and all(c.metadata["authorization"] == expected for c in server.calls)


def _assert_sdk_lines(text: str) -> None:
    assert "yandex_art.rpc DEBUG" in text
    assert "yandex_art.retry DEBUG" in text and "UNAVAILABLE" in text
    assert "yandex_art.operation INFO operation" in text and "succeeded" in text
    assert "failed after" in text
    assert "next read in" in text


@pytest.mark.parametrize("kind", ["api-key", "iam", "oauth"])
def test_rest_debug_logs_hold_no_secret(
    kind: str,
    iam_exchange: None,
    debug_everywhere: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with Emulator.start(EmulatorConfig(generation_seconds=0.2)) as emu:
        with AIStudio(
            folder_id=emu.folder_id,
            auth=_credentials(kind),
            address=emu.rest_address,
            verify=False,
            transport="rest",
        ) as sdk:
            model = sdk.models.image_generation("yandex-art").configure(seed=7)
            emu.faults.unavailable("get", times=2)
            image = model.run_deferred(PROMPT).wait(poll_timeout=30).image_bytes
            emu.faults.fail_generations(times=1)
            with pytest.raises(OperationFailedError):
                model.run_deferred(PROMPT).wait(poll_timeout=30)
            with pytest.raises(OperationTimeoutError):
                model.run_deferred(PROMPT).wait(poll_timeout=0.05)
            emu.faults.set_latency("generate", 1.0)
            with pytest.raises(TransportError):
                model.run_deferred(PROMPT, timeout=0.2)
    out, err = capfd.readouterr()
    text = debug_everywhere.getvalue() + out + err
    _assert_clean(text, image)
    _assert_sdk_lines(text)


def test_yandex_art_log_turns_the_tree_on_without_code() -> None:
    """YANDEX_ART_LOG=debug alone: RPCs, poll decisions and read-budget holds reach stderr."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import asyncio
        from yandex_art import AsyncAIStudio
        from yandex_art.emulator import Emulator

        async def main():
            async with Emulator(generation_seconds=0.3) as emu:
                async with emu.async_sdk(max_reads_per_second=2) as sdk:
                    model = sdk.models.image_generation("yandex-art")
                    ops = [await model.run_deferred(f"cat {i}") for i in range(4)]
                    await asyncio.gather(*(op.wait() for op in ops))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "YANDEX_ART_LOG": "debug"},
    )
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "DEBUG yandex_art.rpc: /yandex.cloud.operation.OperationService/Get" in err
    assert "INFO yandex_art.operation: operation" in err and "succeeded after" in err
    assert "DEBUG yandex_art.operation: operation" in err and "next read in" in err
    assert "DEBUG yandex_art.quota: a read was held" in err
    quiet = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "YANDEX_ART_LOG"},
    )
    assert quiet.returncode == 0 and "yandex_art" not in quiet.stderr

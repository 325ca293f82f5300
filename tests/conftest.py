"""Shared test helpers."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yandex_art._runtime import auth

# Learned durations must not leak from the user's cache into the tests, nor the
# tests' into it (tests of the cache pass their own environment).
os.environ["YANDEX_ART_CACHE"] = "0"
# The default quota store is a file store in the cache directory: the tests' clients
# (and the CLI processes they start) share one of their own, not the user's.
_CACHE = tempfile.mkdtemp(prefix="yandex-art-tests-cache-")
atexit.register(shutil.rmtree, _CACHE, True)
os.environ["XDG_CACHE_HOME"] = _CACHE

ROOT = Path(__file__).resolve().parent.parent

# A run started in the background by a non-interactive shell inherits SIGINT
# ignored, and Python then never raises KeyboardInterrupt (nor do the CLI
# subprocesses, which inherit it): the Ctrl-C tests need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Nothing listens on port 1: a probe there is refused at once.
CLOSED_METADATA_ADDR = "127.0.0.1:1"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session", autouse=True)
def _no_cloud_credentials() -> Iterator[None]:
    """No test may pick up the token of the cloud VM or the yc CLI it happens to run on."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "METADATA_ADDR", CLOSED_METADATA_ADDR)
        patch.setattr(auth, "YC_EXECUTABLE", "yandex-art-tests-have-no-yc")
        yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` of the tests' own on a free loopback port (no persistence);
    skipped (failed under .ci/run) where the binary or the client is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("YANDEX_ART_TESTS_NEED_REDIS") == "1":  # set by .ci/run
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("redis", reason="the redis client is not installed (the [redis] extra)")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url

"""Shared test helpers."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from yandex_art._runtime import auth

# Learned durations must not leak from the user's cache into the tests, nor the
# tests' into it (tests of the cache pass their own environment).
os.environ["YANDEX_ART_CACHE"] = "0"

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

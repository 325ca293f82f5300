"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Learned durations must not leak from the user's cache into the tests, nor the
# tests' into it (tests of the cache pass their own environment).
os.environ["YANDEX_ART_CACHE"] = "0"

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT

"""The fleet check of issue 20: processes (and simulated hosts) against one 50 reads/s
emulator, with default settings, get every image and no RESOURCE_EXHAUSTED.

Smaller than the issue's 8 x 25 to stay under a minute in CI, but still more first
reads at once (60) than the quota allows: without a shared store this gets refusals.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from yandex_art.emulator import Emulator
from yandex_art.pytest_plugin import EmulatorFactory

from ..conftest import ROOT

PROCESSES, OPS = 4, 15


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def emulator(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[Emulator]:
    with yandex_art_emulator_factory(read_quota=50, generation_seconds=3.0) as emu:
        yield emu


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_fleet_shares_the_read_quota(
    kind: str, emulator: Emulator, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store, hosts = "local", 1
    if kind == "redis":
        store, hosts = str(request.getfixturevalue("redis_url")), 2
    emulator.reset()

    reports = _bench().run_fleet(
        emulator.grpc_address,
        processes=PROCESSES,
        ops=OPS,
        store=store,
        hosts=hosts,
        poll_timeout=60.0,
        workdir=tmp_path,
    )

    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    assert sum(r["ok"] for r in reports) == PROCESSES * OPS
    assert emulator.stats().resource_exhausted == 0

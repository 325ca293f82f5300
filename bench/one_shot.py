"""One operation per fresh process: does the duration cache make later processes warm?

    python bench/one_shot.py [--runs 8] [--seconds 3,8] [--jitter 0.1] [--no-cache]

For each generation time, starts an emulator (``python -m yandex_art emulator``,
±``jitter`` spread) and runs ``--runs`` new Python processes one after another,
each creating a client, running one operation to its end and exiting, with a
fresh cache directory (``XDG_CACHE_HOME``) shared by that series only. Lag is
the time from the emulator marking the operation done to ``wait()`` returning
(both ``CLOCK_MONOTONIC``); reads are counted by the emulator. Prints the
first process's figures and the median over processes 2+.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ROOT, emulator

WORKER = """
import json, sys, time
from yandex_art import AIStudio
with AIStudio(folder_id="b1gbench", auth="bench-key", address=sys.argv[1], verify=False) as sdk:
    options = {"seed": 42, "width_ratio": 1, "height_ratio": 1}
    model = sdk.models.image_generation("yandex-art").configure(**options)
    operation = model.run_deferred("cat")
    operation.wait()
    returned = time.monotonic()
print(json.dumps({"id": operation.id, "returned": returned, "reads": operation.reads}))
"""


def series(
    seconds: float, runs: int, jitter: float, cache: bool, log_dir: Path
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with (
        emulator(sys.executable, seconds, 50, log_dir, jitter) as emu,
        tempfile.TemporaryDirectory() as home,
    ):
        env = {**os.environ, "XDG_CACHE_HOME": home, "YANDEX_ART_CACHE": "1" if cache else "0"}
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, "-c", WORKER, emu.grpc],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        operations = emu.stats()["operations"]
    for run in out:
        op = operations[run["id"]]
        run["lag_s"] = run["returned"] - op["done_monotonic"]
        run["server_reads"] = op["reads"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="processes per generation time (8)")
    parser.add_argument("--seconds", default="3,8", help="generation times (3,8)")
    parser.add_argument("--jitter", type=float, default=0.1, help="relative spread (0.1)")
    parser.add_argument("--no-cache", action="store_true", help="YANDEX_ART_CACHE=0 (before)")
    args = parser.parse_args(argv)
    log_dir = ROOT / "bench" / "results"
    state = "off" if args.no_cache else "on"
    print(f"one operation per fresh process, {args.runs} processes, cache {state}")
    head = ("generation", "first: lag s", "reads", "2+: median lag s", "max", "median reads", "max")
    print("{:>10} | {:>12} {:>5} | {:>16} {:>6} {:>12} {:>4}".format(*head))
    for text in args.seconds.split(","):
        seconds = float(text)
        runs = series(seconds, args.runs, args.jitter, not args.no_cache, log_dir)
        first, rest = runs[0], runs[1:]
        lags = [r["lag_s"] for r in rest]
        reads = [r["server_reads"] for r in rest]
        print(
            f"{seconds:>9g}s | {first['lag_s']:>12.3f} {first['server_reads']:>5} | "
            f"{statistics.median(lags):>16.3f} {max(lags):>6.3f} "
            f"{statistics.median(reads):>12g} {max(reads):>4}",
            flush=True,
        )
        print(
            "   per process (lag s/reads): "
            + ", ".join(f"{r['lag_s']:.2f}/{r['server_reads']}" for r in runs)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

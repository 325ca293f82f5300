"""``yandex-art batch`` of many prompts against the emulator; then killed halfway and rerun.

    python bench/batch.py [--prompts 1000] [--seconds 2] [--quota 50] [--concurrency 128] [...]

Part 1: one run of the whole batch against a fresh emulator (``--seconds``
generations, ``--quota`` operation reads per second). Prints the wall time,
the images written, Generate calls and RESOURCE_EXHAUSTED answers seen by the
emulator, and the lower bound the quotas allow: every operation needs at least
one read (``prompts / quota`` seconds), every start one Generate
(``prompts / (rate / 60)``), plus one generation.

Part 2: the same batch into a new directory against a fresh emulator, killed
with SIGKILL once half the items are done, then rerun to the end. Prints the
images, Generate calls (expected: exactly ``prompts``, plus any item caught
between sending Generate and its answer, which the journal reports), partial
or temporary files left, and whether every image is a whole JPEG.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ROOT, Emulator

JOURNAL = ".yandex-art-batch.jsonl"


def _command(emu: Emulator, prompts: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "yandex_art",
        "batch",
        str(prompts),
        "-o",
        str(out),
        "--endpoint",
        emu.grpc,
        "--concurrency",
        str(args.concurrency),
        "--rate",
        str(args.rate),
    ]


def _env(emu: Emulator, cache: str) -> dict[str, str]:
    return {
        **os.environ,
        "YC_API_KEY": "bench-key",
        "YC_FOLDER_ID": "b1gbench",
        "XDG_CACHE_HOME": cache,
    }


def _check_images(out: Path) -> dict[str, Any]:
    images = sorted(out.glob("*.jpeg"))
    whole = sum(
        1
        for p in images
        if (data := p.read_bytes())[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    )
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    return {"images": len(images), "whole_jpegs": whole, "temporary_files": len(leftovers)}


def _journal_events(out: Path) -> dict[str, str]:
    last: dict[str, str] = {}
    for line in (out / JOURNAL).read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        last[record["item"]] = record["event"]
    return last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=2.0, help="generation time (2)")
    parser.add_argument("--quota", type=int, default=50, help="emulator reads/s quota (50)")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--rate", type=float, default=3000.0, help="Generate starts per minute")
    args = parser.parse_args(argv)
    log_dir = ROOT / "bench" / "results"
    n = args.prompts
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        prompts = work / "prompts.txt"
        prompts.write_text("".join(f"a cat, variation {i}\n" for i in range(n)))
        cache = str(work / "cache")

        # Part 1: one whole run.
        emu = Emulator(
            sys.executable, generation_seconds=args.seconds, read_quota=args.quota, log_dir=log_dir
        )
        try:
            out = work / "full"
            t0 = time.monotonic()
            done = subprocess.run(
                _command(emu, prompts, out, args),
                env=_env(emu, cache),
                capture_output=True,
                text=True,
            )
            wall = time.monotonic() - t0
            stats = emu.stats()
        finally:
            emu.close()
        bound = max(n / args.quota, n / (args.rate / 60.0)) + args.seconds
        print(f"batch of {n} prompts, {args.seconds:g} s generations, {args.quota} reads/s quota")
        print(f"  concurrency {args.concurrency}, rate {args.rate:g}/min; exit {done.returncode}")
        print(f"  summary line: {done.stdout.strip().splitlines()[-1]}")
        print(f"  wall time {wall:.1f} s (process); quota lower bound {bound:.1f} s")
        print(
            f"  Generate calls {stats['calls'].get('generate', 0)}, reads {stats['reads']} "
            f"({stats['reads'] / n:.2f}/op), RESOURCE_EXHAUSTED {stats['resource_exhausted']}, "
            f"busiest second {stats['max_reads_per_window']} reads"
        )
        print(f"  files: {_check_images(out)}")

        # Part 2: killed halfway, then rerun.
        emu = Emulator(
            sys.executable, generation_seconds=args.seconds, read_quota=args.quota, log_dir=log_dir
        )
        try:
            out = work / "killed"
            command = _command(emu, prompts, out, args)
            first = subprocess.Popen(
                command, env=_env(emu, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            while first.poll() is None:
                journal = out / JOURNAL
                if journal.exists() and journal.read_text().count('"done"') >= n // 2:
                    first.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.05)
            first.wait()
            states = _journal_events(out)
            at_kill = {s: list(states.values()).count(s) for s in ("done", "started", "sending")}
            files_at_kill = _check_images(out)
            t0 = time.monotonic()
            again = subprocess.run(command, env=_env(emu, cache), capture_output=True, text=True)
            wall = time.monotonic() - t0
            stats = emu.stats()
        finally:
            emu.close()
        print(f"killed with SIGKILL after {at_kill['done']} done; journal at kill: {at_kill}")
        print(f"  files at kill: {files_at_kill}")
        print(f"  rerun: exit {again.returncode}, {wall:.1f} s; {again.stdout.strip()}")
        print(
            f"  Generate calls in total {stats['calls'].get('generate', 0)} "
            f"(expected {n} + {at_kill['sending']} caught while sending); "
            f"RESOURCE_EXHAUSTED {stats['resource_exhausted']}"
        )
        print(f"  files: {_check_images(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

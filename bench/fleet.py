"""A fleet against one folder: N processes x M waits sharing a 50 reads/s quota.

Starts an emulator with ``--read-quota`` (an in-process one on a background thread,
50 reads/s, 3 s generations), then N worker processes that each start M operations at
the same moment and wait for all of them, with the client's default settings and the
quota store given (``default``: nothing set, that is ``local``; ``local``: the file
store in a temporary cache directory shared by every worker; ``redis``: a Redis
server, the workers split over ``--hosts`` simulated hosts, each with a cache
directory of its own; ``process``: no sharing, as before quota stores). Prints, per
store: images received, RESOURCE_EXHAUSTED answers, reads, the most reads in any
1 s, and the slowest process's time against the quota's lower bound (one
generation, then one read per operation at the quota's rate).

    python bench/fleet.py [--processes 8] [--ops 25] [--stores default redis process]
                          [--redis redis://127.0.0.1:6379/0] [--hosts 2]

``--redis`` left out: a ``redis-server`` is started on a free loopback port if the
binary exists. ``--endpoint HOST:PORT`` uses an emulator running elsewhere
(``yandex-art emulator --read-quota 50 --generation-seconds 3``); refusals are then
counted by the clients (each attempt answered RESOURCE_EXHAUSTED, from the SDK's
debug log), otherwise by the server too. Also runs one worker
(``python bench/fleet.py worker ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Refusals(logging.Handler):
    """Counts the attempts the SDK logs as answered with RESOURCE_EXHAUSTED."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "RESOURCE_EXHAUSTED" in record.getMessage():
            self.count += 1


def _worker(args: argparse.Namespace) -> None:
    from yandex_art import AsyncAIStudio

    refusals = _Refusals()
    rpc = logging.getLogger("yandex_art.rpc")  # one debug line per attempt, with its code
    rpc.setLevel(logging.DEBUG)
    rpc.addHandler(refusals)

    async def main() -> dict[str, object]:
        async with AsyncAIStudio(
            folder_id="b1gfleet", auth="fleet-key", endpoint=args.endpoint, verify=False
        ) as sdk:
            model = sdk.models.image_generation("yandex-art")
            delay = args.start_at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.monotonic()

            async def one(k: int) -> str:
                operation = await model.run_deferred(f"a red cat number {k}")
                await operation.wait(poll_timeout=args.poll_timeout)
                return "ok"

            outcomes = await asyncio.gather(
                *(one(k) for k in range(args.ops)), return_exceptions=True
            )
            errors = [f"{type(o).__name__}: {o}" for o in outcomes if o != "ok"]
            return {
                "ok": args.ops - len(errors),
                "errors": errors[:5],
                "seconds": time.monotonic() - started,
                "refusals": refusals.count,
            }

    print(json.dumps(asyncio.run(main())), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("redis-server did not start")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def run_fleet(
    endpoint: str,
    *,
    processes: int,
    ops: int,
    store: str,
    hosts: int = 1,
    poll_timeout: float = 120.0,
    workdir: Path,
) -> list[dict[str, object]]:
    """Run ``processes`` workers at once; returns their reports (in order)."""
    start_at = time.time() + 2.0 + 0.15 * processes  # after every interpreter has started
    children = []
    for k in range(processes):
        env = dict(os.environ)
        env["XDG_CACHE_HOME"] = str(workdir / f"host-{k % hosts}")
        env.pop("YANDEX_ART_QUOTA_STORE", None)
        if store != "default":  # default: as a user who set nothing
            env["YANDEX_ART_QUOTA_STORE"] = store
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        command = [sys.executable, str(Path(__file__).resolve()), "worker", "--endpoint",
                   endpoint, "--ops", str(ops), "--start-at", str(start_at),
                   "--poll-timeout", str(poll_timeout)]  # fmt: skip
        children.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    reports = []
    for child in children:
        out, _ = child.communicate(timeout=poll_timeout + 60)
        lines = out.strip().splitlines()
        reports.append(json.loads(lines[-1]) if lines else {"ok": 0, "errors": ["no report"]})
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker")
    worker.add_argument("--endpoint", required=True)
    worker.add_argument("--ops", type=int, default=25)
    worker.add_argument("--start-at", type=float, default=0.0)
    worker.add_argument("--poll-timeout", type=float, default=120.0)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--ops", type=int, default=25)
    parser.add_argument("--hosts", type=int, default=2, help="simulated hosts (redis only)")
    parser.add_argument("--stores", nargs="+", default=["local", "redis"])
    parser.add_argument("--redis", help="a Redis URL (default: start a redis-server)")
    parser.add_argument(
        "--endpoint",
        help="an emulator already running (yandex-art emulator --read-quota 50 "
        "--generation-seconds 3); default: one started here",
    )
    parser.add_argument("--read-quota", type=int, default=50)
    parser.add_argument("--generation-seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.command == "worker":
        _worker(args)
        return
    sys.path.insert(0, str(ROOT / "src"))
    from yandex_art.emulator import Emulator

    with contextlib.ExitStack() as stack:
        emu = None
        if args.endpoint is None:
            emu = stack.enter_context(
                Emulator.start(
                    read_quota=args.read_quota, generation_seconds=args.generation_seconds
                )
            )
        endpoint = args.endpoint or emu.grpc_address  # type: ignore[union-attr]
        redis: RedisServer | None = None
        for store in args.stores:
            hosts = 1
            if store == "redis":
                if args.redis is None and redis is None:
                    redis = RedisServer()
                    stack.callback(redis.close)
                store, hosts = args.redis or redis.url, args.hosts  # type: ignore[union-attr]
            if emu is not None:
                emu.reset()
            with tempfile.TemporaryDirectory() as tmp:
                began = time.monotonic()
                reports = run_fleet(
                    endpoint,
                    processes=args.processes,
                    ops=args.ops,
                    store=store,
                    hosts=hosts,
                    workdir=Path(tmp),
                )
            _print(args, store, hosts, reports, emu, time.monotonic() - began)


def _print(
    args: argparse.Namespace,
    store: str,
    hosts: int,
    reports: list[dict[str, Any]],
    emu: Any,
    took: float,
) -> None:
    images = sum(int(r["ok"]) for r in reports)
    total = args.processes * args.ops
    slowest = max(float(r.get("seconds", 0)) for r in reports)
    # Every operation needs one read once done, and all are done after one generation.
    bound = args.generation_seconds + total / args.read_quota
    refused = sum(int(r.get("refusals", 0)) for r in reports)  # as the clients saw them
    server = ""
    if emu is not None:
        stats = emu.stats()
        server = f" (server: {stats.resource_exhausted}), {stats.reads} reads, "
        server += f"max {stats.max_reads_per_window}/s"
    print(
        f"{store:>32} x{hosts} host(s): {images}/{total} images, "
        f"{refused} RESOURCE_EXHAUSTED{server}; slowest process {slowest:.1f} s, "
        f"lower bound {bound:.1f} s ({args.generation_seconds:g} s + one read each at "
        f"{args.read_quota}/s); run {took:.1f} s",
        flush=True,
    )
    for report in reports:
        for error in report.get("errors", []):
            print(f"    {error}")


if __name__ == "__main__":
    main()

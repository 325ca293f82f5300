"""Completion lag and reads per operation of the adaptive poll plan.

Runs the real AsyncOperation against an in-memory server on a virtual clock
(no real waiting) for generations of 0.5 s, 3 s, 8 s and 20 s:

- cold: a fresh client, no learned durations;
- learned: after ``--warmup`` operations of the same model.

Lag is the time from the server finishing to ``wait()`` returning. The last
column is the official SDK's schedule (one read at once, then every 10 s).

    python bench/poll_plan.py [--runs 51] [--warmup 8] [--latency 0.0] [--spread 0.0] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import selectors
import statistics
from typing import Any

from yandex_art._runtime.durations import DurationModel
from yandex_art._runtime.operation import AsyncOperation, OperationSnapshot
from yandex_art._runtime.poll_policy import PollPolicy
from yandex_art._runtime.read_budget import PollScheduler
from yandex_art._runtime.retry import JITTER

KEY = "art://folder/yandex-art/latest"


class _InstantSelector(selectors.DefaultSelector):
    def __init__(self, loop: _VirtualLoop) -> None:
        super().__init__()
        self._virtual = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events: list[Any] = super().select(0)
        if not events and timeout:
            self._virtual.now += timeout
        return events


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_InstantSelector(self))

    def time(self) -> float:
        return self.now


class _Server:
    """Answers "running" until ``duration`` after creation, then "done"."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.ends: dict[str, float] = {}

    async def get(
        self, operation_id: str, *, timeout: float, retry_hooks: object = None
    ) -> OperationSnapshot[str]:
        await asyncio.sleep(self.latency / 2)  # the request travels
        done = asyncio.get_running_loop().time() >= self.ends[operation_id]
        await asyncio.sleep(self.latency / 2)  # the answer travels
        return OperationSnapshot(operation_id, done, response="image" if done else None)

    async def cancel(self, operation_id: str, *, timeout: float) -> OperationSnapshot[str]:
        raise NotImplementedError


async def _one(
    server: _Server,
    scheduler: PollScheduler,
    durations: DurationModel,
    duration: float,
) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    op_id = f"op-{len(server.ends)}"
    created = loop.time()
    server.ends[op_id] = created + duration
    op = AsyncOperation(
        op_id,
        reader=server,
        scheduler=scheduler,
        durations=durations,
        duration_key=KEY,
        initial=OperationSnapshot(op_id, False),
        clock=loop.time,
    )
    await op
    return loop.time() - (created + duration), op.reads


async def _measure(
    args: argparse.Namespace, duration: float, learned: bool
) -> list[tuple[float, int]]:
    rng = random.Random(args.seed)
    JITTER.seed(args.seed)  # the runtime's jitter, too, so that a run can be repeated
    out = []
    for _ in range(args.runs):
        server = _Server(args.latency)
        scheduler = PollScheduler(clock=asyncio.get_running_loop().time)
        durations = DurationModel()
        for _ in range(args.warmup + 1 if learned else 1):
            actual = duration * rng.uniform(1 - args.spread, 1 + args.spread)
            lag, reads = await _one(server, scheduler, durations, actual)
        out.append((lag, reads))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=51)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.0, help="round trip of one read, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--spread", type=float, default=0.0, help="durations vary by ±this fraction (0.1 = ±10%%)"
    )
    args = parser.parse_args()

    print(f"PollPolicy defaults: {PollPolicy()}")
    print(
        f"runs={args.runs} warmup={args.warmup} latency={args.latency}s "
        f"spread=±{args.spread:.0%} seed={args.seed}\n"
    )
    header = f"{'duration':>8}  {'history':>7}  {'lag p50':>8}  {'lag max':>8}  {'reads p50':>9}"
    print(header + f"  {'reads max':>9}  {'official lag/reads':>18}")
    for duration in (0.5, 3.0, 8.0, 20.0):
        official_reads = math.ceil(duration / 10) + 1
        official_lag = (official_reads - 1) * 10 - duration
        for learned in (False, True):
            with asyncio.Runner(loop_factory=_VirtualLoop) as runner:
                results = runner.run(_measure(args, duration, learned))
            lags = [lag for lag, _ in results]
            reads = [n for _, n in results]
            print(
                f"{duration:>7.1f}s  {'learned' if learned else 'cold':>7}  "
                f"{statistics.median(lags):>7.3f}s  {max(lags):>7.3f}s  "
                f"{statistics.median(reads):>9.0f}  {max(reads):>9}  "
                f"{official_lag:>11.1f}s / {official_reads}"
            )


if __name__ == "__main__":
    main()

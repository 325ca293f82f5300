"""Measurements shared by the two workers; standard library only.

``worker_ours.py`` and ``worker_official.py`` each run in their own SDK's
environment and hand this module an :class:`Adapter` that imports the SDK and
builds its clients. Everything measured (the calls made, the clocks read, the
resource counters) is the same code for both SDKs; each mode prints one JSON
line on stdout.

Times are ``time.monotonic()`` (CLOCK_MONOTONIC on Linux, system-wide), so the
orchestrator can compare them with the emulator's ``done_monotonic``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

FOLDER_ID = "b1gbench"
API_KEY = "bench-key"
PROMPT = "cat"
MODEL = "yandex-art"
# The same options for both SDKs. An explicit 1:1 ratio because the official
# SDK at its defaults sends aspect_ratio {0, 0}, which the emulator rejects; a
# fixed seed lets the emulator serve a cached picture, so that its drawing
# does not compete with the clients for the CPU.
MODEL_OPTIONS: dict[str, Any] = {"width_ratio": 1, "height_ratio": 1, "seed": 42}


class Adapter(Protocol):
    """What differs between the two SDKs: importing them and building their clients."""

    name: str

    def load(self) -> str:
        """Import the SDK (its public entry points) and return its version."""
        ...

    def sync_client(self, endpoint: str) -> Any: ...

    def close_sync(self, client: Any) -> None: ...

    def async_client(self, endpoint: str) -> Any: ...

    async def close_async(self, client: Any) -> None: ...


def _usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": float(usage.ru_maxrss),
    }


def _model(client: Any) -> Any:
    return client.models.image_generation(MODEL).configure(**MODEL_OPTIONS)


def _reads(operation: Any) -> int | None:
    reads = getattr(operation, "reads", None)
    return reads if isinstance(reads, int) else None


def describe_error(exc: BaseException) -> str:
    """``TypeName:CODE`` for an exception from either SDK."""
    code: Any = getattr(exc, "code", None)
    if callable(code):
        try:
            code = code()
        except Exception:
            code = None
    code = getattr(code, "name", code)
    return type(exc).__name__ if code is None else f"{type(exc).__name__}:{code}"


# -- modes -----------------------------------------------------------------------------


def cold(adapter: Adapter, endpoint: str, started: float) -> dict[str, Any]:
    """Import, build a client, run one operation to its end, close."""
    t_import = time.monotonic()
    version = adapter.load()
    t_client = time.monotonic()
    client = adapter.sync_client(endpoint)
    t_op = time.monotonic()
    operation = _model(client).run_deferred(PROMPT)
    result = operation.wait()
    t_done = time.monotonic()
    adapter.close_sync(client)
    t_end = time.monotonic()
    return {
        "version": version,
        "operation_id": operation.id,
        "image_bytes": len(result.image_bytes),
        "script_start_s": t_import - started,
        "import_s": t_client - t_import,
        "client_s": t_op - t_client,
        "operation_s": t_done - t_op,
        "close_s": t_end - t_done,
        "in_process_s": t_end - started,
        **_usage(),
    }


def lag(adapter: Adapter, series: list[dict[str, Any]]) -> dict[str, Any]:
    """For each series (one client each): ``runs`` operations, one after another."""
    version = adapter.load()
    out: list[dict[str, Any]] = []
    for item in series:
        client = adapter.sync_client(item["endpoint"])
        model = _model(client)
        runs: list[dict[str, Any]] = []
        try:
            for _ in range(int(item["runs"])):
                t_start = time.monotonic()
                operation = model.run_deferred(PROMPT)
                t_created = time.monotonic()
                operation.wait()
                t_done = time.monotonic()
                runs.append(
                    {
                        "operation_id": operation.id,
                        "start": t_start,
                        "created": t_created,
                        "returned": t_done,
                        "client_reads": _reads(operation),
                    }
                )
        finally:
            adapter.close_sync(client)
        out.append({"label": item["label"], "runs": runs})
    return {"version": version, "series": out, **_usage()}


def sequential(adapter: Adapter, endpoint: str, ops: int, warmup: int) -> dict[str, Any]:
    """``ops`` instant operations one after another with the sync API."""
    version = adapter.load()
    client = adapter.sync_client(endpoint)
    model = _model(client)
    try:
        for _ in range(warmup):
            model.run_deferred(PROMPT).wait()
        before, t0 = _usage(), time.monotonic()
        for _ in range(ops):
            model.run_deferred(PROMPT).wait()
        t1, after = time.monotonic(), _usage()
    finally:
        adapter.close_sync(client)
    return {
        "version": version,
        **_rates(ops, t1 - t0, after["cpu_s"] - before["cpu_s"]),
        **_usage(),
    }


def _rates(ops: int, wall: float, cpu: float) -> dict[str, float]:
    return {"ops": ops, "wall_s": wall, "ops_per_s": ops / wall, "cpu_per_op_s": cpu / ops}


def concurrent(
    adapter: Adapter, endpoint: str, ops: int, concurrency: int, warmup: int
) -> dict[str, Any]:
    """``ops`` instant operations with the async API, at most ``concurrency`` at a time."""
    import asyncio

    version = adapter.load()

    async def main() -> dict[str, Any]:
        client = adapter.async_client(endpoint)
        model = _model(client)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                operation = await model.run_deferred(PROMPT)
                await operation.wait()

        try:
            await asyncio.gather(*(one() for _ in range(warmup)))
            before, t0 = _usage(), time.monotonic()
            await asyncio.gather(*(one() for _ in range(ops)))
            t1, after = time.monotonic(), _usage()
        finally:
            await adapter.close_async(client)
        rates = _rates(ops, t1 - t0, after["cpu_s"] - before["cpu_s"])
        return {"concurrency": concurrency, **rates}

    result = asyncio.run(main())
    return {"version": version, **result, **_usage()}


def quota(adapter: Adapter, endpoint: str, ops: int, deadline: float) -> dict[str, Any]:
    """``ops`` operations started at once (async API); each is awaited with ``wait()``.

    Failures are counted, not raised; whatever is still waiting after
    ``deadline`` seconds is cancelled and counted as unfinished.
    """
    import asyncio

    version = adapter.load()

    async def main() -> dict[str, Any]:
        client = adapter.async_client(endpoint)
        model = _model(client)
        created: list[float] = []
        finished: list[float] = []
        errors: dict[str, int] = {}
        ids: list[str] = []

        async def one() -> None:
            try:
                operation = await model.run_deferred(PROMPT)
                created.append(time.monotonic())
                ids.append(operation.id)
                await operation.wait()
                finished.append(time.monotonic())
            except Exception as exc:  # counted, never raised
                key = describe_error(exc)
                errors[key] = errors.get(key, 0) + 1

        before, t0 = _usage(), time.monotonic()
        tasks = [asyncio.ensure_future(one()) for _ in range(ops)]
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        t_last = time.monotonic()
        after = _usage()
        await adapter.close_async(client)
        failed = sum(errors.values())
        return {
            "ops": ops,
            "completed": len(finished),
            "failed": failed,
            "unfinished": len(pending),
            "errors": errors,
            "start": t0,
            "wall_s": (max(finished) if finished else t_last) - t0,
            "wall_all_s": t_last - t0 if not pending else None,
            "created_span_s": (max(created) - t0) if created else None,
            "cpu_s": after["cpu_s"] - before["cpu_s"],
            "operation_ids": ids,
        }

    result = asyncio.run(main())
    cpu = result.pop("cpu_s")
    return {"version": version, **result, **_usage(), "run_cpu_s": cpu}


# -- entry point ---------------------------------------------------------------------------


def main(adapter: Adapter, started: float, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"benchmark worker ({adapter.name})")
    parser.add_argument("mode", choices=("cold", "lag", "seq", "conc", "quota"))
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--series", default="[]", help="lag: JSON [{label, endpoint, runs}]")
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=300.0)
    args = parser.parse_args(argv)
    modes: dict[str, Callable[[], dict[str, Any]]] = {
        "cold": lambda: cold(adapter, args.endpoint, started),
        "lag": lambda: lag(adapter, json.loads(args.series)),
        "seq": lambda: sequential(adapter, args.endpoint, args.ops, args.warmup),
        "conc": lambda: concurrent(adapter, args.endpoint, args.ops, args.concurrency, args.warmup),
        "quota": lambda: quota(adapter, args.endpoint, args.ops, args.deadline),
    }
    result = modes[args.mode]()
    result.update(sdk=adapter.name, mode=args.mode, python=sys.version.split()[0])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


__all__ = ["API_KEY", "FOLDER_ID", "Adapter", "describe_error", "main"]

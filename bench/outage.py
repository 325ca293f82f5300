"""How soon a wait returns after a server killed with SIGKILL comes back.

A generation (2 s) is started, the server is killed at once, restarted on the
same port ``--outage`` seconds later, and ``wait(poll_timeout=120)`` is timed.
gRPC runs against the official-stub server (tests/contract/official_server.py)
in a child process, REST against the emulator's CLI with a state file. For
each run it prints the time from the restarted server listening to the result,
the reads the wait made (transport retries included) and how many operations
were created (always 1: nothing generated twice).

    python bench/outage.py [--outage 20] [--runs 3] [--transport grpc rest]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.contract.official_process import EmulatorProcess, OfficialProcess  # noqa: E402
from yandex_art import AIStudio  # noqa: E402


def one_run(transport: str, outage: float, workdir: Path) -> tuple[float, int, int]:
    """(seconds from the restart to the result, reads, operations created)."""
    server: OfficialProcess | EmulatorProcess
    if transport == "grpc":
        server = OfficialProcess(workdir, seconds=2.0)
        address = server.address
    else:
        server = EmulatorProcess(workdir / "state.json", generation_seconds=2.0)
        address = f"127.0.0.1:{server.rest_port}"
    server.start()
    ready: list[float] = []

    def restart() -> None:
        server.kill()
        time.sleep(outage)
        ready.append(server.start())

    try:
        with AIStudio(
            folder_id="b1gbench",
            auth="bench-key",
            address=address,
            verify=False,
            transport=transport,  # type: ignore[arg-type]
        ) as sdk:
            operation = sdk.models.image_generation("yandex-art").run_deferred("a red cat")
            thread = threading.Thread(target=restart, daemon=True)
            thread.start()
            operation.wait(poll_timeout=120)
            done = time.monotonic()
            thread.join(120)
    finally:
        server.kill()
    if isinstance(server, OfficialProcess):
        created = len(server.calls("Generate"))
    else:
        created = len(server.operations())
    return done - ready[0], operation.reads, created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the server is down")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transport", nargs="+", default=["grpc", "rest"])
    args = parser.parse_args()
    for transport in args.transport:
        recoveries = []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as workdir:
                recovery, reads, created = one_run(transport, args.outage, Path(workdir))
            recoveries.append(recovery)
            print(
                f"{transport:4} outage {args.outage:g} s, run {run + 1}: result "
                f"{recovery:.2f} s after the restart, {reads} reads, {created} operation(s)",
                flush=True,
            )
        print(
            f"{transport:4} median {statistics.median(recoveries):.2f} s, "
            f"max {max(recoveries):.2f} s after the restart"
        )


if __name__ == "__main__":
    main()

"""What looking for credentials costs a machine outside the cloud (prints figures).

``coerce_auth(None, env)`` with nothing in the environment probes the metadata
service and looks for ``yc`` on PATH before it fails. Off-cloud the worst case is
an address that never answers (SYN dropped). Emulated here by a local listener
whose accept queue is full, so the real 169.254.169.254 is never contacted.
Also measured: a refused address, and resolution with ``YC_API_KEY`` set (no probe).

    .venv/bin/python bench/auth_probe.py [--runs 20]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from collections.abc import Callable, Mapping

from yandex_art._runtime import auth
from yandex_art._runtime.errors import ConfigurationError


def _blackhole() -> tuple[str, list[socket.socket]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = [listener]
    for _ in range(8):
        sock = socket.socket()
        sock.settimeout(0.2)
        held.append(sock)
        try:
            sock.connect(("127.0.0.1", port))
        except TimeoutError:
            return f"127.0.0.1:{port}", held
    raise SystemExit("this system accepts every connect; cannot emulate an unanswered address")


def _time(env: Mapping[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        try:
            auth.coerce_auth(None, env)
        except ConfigurationError:
            pass
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    addr, held = _blackhole()
    auth.YC_EXECUTABLE = "yandex-art-bench-has-no-yc"
    no_path = {"PATH": ""}

    def unanswered() -> list[float]:
        auth.METADATA_ADDR = addr
        return _time(no_path, runs)

    def refused() -> list[float]:
        auth.METADATA_ADDR = "127.0.0.1:1"
        return _time(no_path, runs)

    cases: list[tuple[str, Callable[[], list[float]]]] = [
        ("nothing set, metadata never answers", unanswered),
        ("nothing set, metadata refused", refused),
        ("YC_API_KEY set (no probe)", lambda: _time({"YC_API_KEY": "bench-key"}, runs)),
    ]
    print(f"coerce_auth(None, env), {runs} runs each (seconds)")
    for label, case in cases:
        times = case()
        print(f"  {label:40s} median {statistics.median(times):.4f}  max {max(times):.4f}")
    for sock in held:
        sock.close()


if __name__ == "__main__":
    main()

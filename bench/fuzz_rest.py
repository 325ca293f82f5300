"""Fuzz the emulator's REST side against specs/openapi with schemathesis.

Starts an emulator on loopback, runs ``schemathesis run`` with the checks the
project promises (no 5xx, every answer matches the document) and exits with
schemathesis's status.

    python bench/fuzz_rest.py [--max-examples 100]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from yandex_art.emulator import Emulator, EmulatorConfig

SPEC = Path(__file__).resolve().parent.parent / "specs" / "openapi" / "image_generation.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=100)
    args = parser.parse_args()
    st = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    config = EmulatorConfig(generation_seconds=0.05, read_quota=None, api_keys=("fuzz-key",))
    with Emulator.start(config) as emu:
        cmd = [
            st,
            "run",
            str(SPEC),
            "--url",
            emu.rest_url,
            "--header",
            "Authorization: Api-Key fuzz-key",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--max-examples",
            str(args.max_examples),
        ]
        print(" ".join(cmd), flush=True)
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m codegen [--specs DIR] [--out DIR] [--check]``"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import pipeline

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument("--specs", type=Path, default=ROOT / "specs")
    parser.add_argument("--out", type=Path, default=ROOT / "generated")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; fail if generated/ differs from what the specs give",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail when the protos and the OpenAPI document disagree",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.check:
        drift = pipeline.check(args.specs, args.out)
        if drift:
            print("generated/ is out of date with specs/ (run nox -s codegen):", file=sys.stderr)
            for path in drift:
                print(f"  {path}", file=sys.stderr)
            return 1
        print(f"generated/ matches specs/ ({time.perf_counter() - started:.2f} s)")
        return 0
    changed = pipeline.generate(args.specs, args.out, strict=args.strict)
    for path in changed:
        print(f"wrote {path}")
    print(f"codegen done: {len(changed)} file(s) changed in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

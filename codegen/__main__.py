"""``python -m codegen [--specs DIR] [--out DIR] [--check] [--no-strict]``

Strict by default: a disagreement between the protos and the OpenAPI document
is an error. ``--no-strict`` turns it into a warning, to try a one-sided
change (a new proto field before the OpenAPI document has it) first.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from . import pipeline
from .consistency import SpecMismatch
from .tools import CodegenError

ROOT = Path(__file__).resolve().parent.parent
PROG = "python -m codegen"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--specs", type=Path, default=ROOT / "specs")
    parser.add_argument("--out", type=Path, default=ROOT / "generated")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; fail if generated/ differs from what the specs give",
    )
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fail when the protos and the OpenAPI document disagree (the default); "
        "--no-strict only warns",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the Python traceback of an error"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.check:
            drift = pipeline.check(args.specs, args.out, strict=args.strict)
            if drift:
                print(
                    "generated/ is out of date with specs/ (run nox -s codegen):", file=sys.stderr
                )
                for path in drift:
                    print(f"  {path}", file=sys.stderr)
                return 1
            print(f"generated/ matches specs/ ({time.perf_counter() - started:.2f} s)")
            return 0
        changed = pipeline.generate(args.specs, args.out, strict=args.strict)
    except SpecMismatch as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        print(
            "Fix the spec that is behind, or pass --no-strict to generate anyway "
            "(the disagreement is then a warning).",
            file=sys.stderr,
        )
        return 1
    except (CodegenError, ValueError, KeyError, OSError) as exc:
        if args.traceback:
            traceback.print_exc()
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{PROG}: error: {text}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"wrote {path}")
    print(f"codegen done: {len(changed)} file(s) changed in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

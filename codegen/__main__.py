"""``python -m codegen [--specs DIR] [--out DIR] [--check] [--no-strict]``

Strict by default: a disagreement between the protos and the OpenAPI document
is an error. ``--no-strict`` turns it into a warning, to try a one-sided
change (a new proto field before the OpenAPI document has it) first.

``python -m codegen upstream CLOUDAPI [--apply] [--specs DIR]`` compares specs/
with a checkout of the public API repository (see MAINTAINING.md). Exit
status: 0 when specs/ equal upstream apart from the differences listed in
specs/upstream-differences.yaml; 1 when there are differences to bring in
(after ``--apply``: 0 once they are in); 2 on a usage error.
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


def upstream_main(argv: list[str]) -> int:
    """``python -m codegen upstream DIR [--apply]``: show or apply the difference to upstream."""
    from . import upstream

    parser = argparse.ArgumentParser(
        prog=f"{PROG} upstream",
        description="Show the semantic difference between specs/ and a checkout of "
        "yandex-cloud/cloudapi (comments and layout ignored); with --apply, bring it in. "
        "Exit status: 0 nothing to bring in, 1 differences found (without --apply), 2 usage.",
    )
    parser.add_argument("cloudapi", type=Path, help="checkout of yandex-cloud/cloudapi")
    parser.add_argument("--specs", type=Path, default=ROOT / "specs")
    parser.add_argument(
        "--apply",
        action="store_true",
        help="copy upstream's changed files into specs/, put back the project's listed "
        "differences and update the OpenAPI document",
    )
    parser.add_argument("--traceback", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if not args.apply:
            report = upstream.diff(args.specs, args.cloudapi)
            for line in report.lines():
                print(line)
            print(
                f"{len(report.to_apply)} difference(s) to bring in, {len(report.kept)} kept, "
                f"{len(report.files)} file(s) compared ({time.perf_counter() - started:.2f} s)"
            )
            return 0 if report.identical else 1
        done = upstream.apply(args.specs, args.cloudapi)
    except (CodegenError, OSError) as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"{PROG} upstream: error: {exc}", file=sys.stderr)
        return 1
    for line in done.report.lines():
        print(line)
    for name in done.written:
        print(f"wrote specs/{name}")
    for where in done.reapplied:
        print(f"put back: {where}")
    for change in done.openapi:
        print(f"openapi: {change}")
    print(
        f"upstream applied: {len(done.written)} file(s) written "
        f"({time.perf_counter() - started:.2f} s); now run {PROG}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["upstream"]:
        return upstream_main(argv[1:])
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
        if exc.wire:
            print(
                "A value would travel on one transport only, which --no-strict never allows. "
                "Bring specs/openapi in line with the protos (python -m codegen upstream DIR "
                "--apply derives the changes; see MAINTAINING.md).",
                file=sys.stderr,
            )
        else:
            print(
                "Fix the spec that is behind, or pass --no-strict to generate anyway "
                "(an annotation-only disagreement is then a warning).",
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

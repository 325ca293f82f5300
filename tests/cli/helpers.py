"""Running the command in-process."""

from __future__ import annotations

import io

from yandex_art.cli import main


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The command's exit code, stdout and stderr (no credentials unless ``env`` has them)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env={} if env is None else env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()

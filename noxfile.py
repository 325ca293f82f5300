"""Project sessions: codegen, tests, lint, typecheck, contract, bench, demo.

All sessions install the project with the pinned generator versions from
pyproject.toml, so they give the same output on every machine.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["codegen_check", "lint", "typecheck", "tests"]

PYTHON = "3.11"


@nox.session(python=PYTHON)
def codegen(session: nox.Session) -> None:
    """Regenerate generated/ from specs/ (strict, like python -m codegen; pass -- --no-strict)."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", *session.posargs)


@nox.session(python=PYTHON)
def codegen_check(session: nox.Session) -> None:
    """Fail if generated/ is not exactly what specs/ give."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", "--check")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


# The test tools `lowest` needs, taken from the test extra; the rest of that
# extra (codegen, the official SDK and stubs, mypy) requires newer grpcio and is
# left out, with the tests that use it.
_LOWEST_TOOLS = ("pytest", "pytest-asyncio", "syrupy", "hypothesis")


def _test_tools() -> list[str]:
    pyproject = tomllib.loads(Path("pyproject.toml").read_text())
    extra: list[str] = pyproject["project"]["optional-dependencies"]["test"]
    return [r for r in extra if re.split(r"[\[<>=!~; ]", r)[0] in _LOWEST_TOOLS]


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """The runtime, SDK, emulator and CLI tests on the lowest dependency versions allowed.

    .ci/lowest-constraints.txt pins the runtime dependencies and the [emulator]
    extra to their lower bounds. The codegen and contract tests are not run:
    their tools (grpcio-tools, yandexcloud) require a newer grpcio.
    """
    session.install("-c", ".ci/lowest-constraints.txt", "-e", ".[emulator]", *_test_tools())
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    args = session.posargs or [
        "tests/runtime",
        "tests/sdk",
        "tests/emulator",
        "tests/cli",
        "tests/test_packaging.py",
        # these two talk to a server built from the official stubs (yandexcloud)
        "--ignore=tests/sdk/test_logging.py",
        "--deselect=tests/runtime/test_auth_sources.py::"
        "test_end_to_end_metadata_token_reaches_the_server",
    ]
    session.run("pytest", "-q", "-o", "faulthandler_timeout=120", *args)


@nox.session(python=PYTHON)
def contract(session: nox.Session) -> None:
    """Wire and contract tests against the official stubs and SDK."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/contract", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", "src", "codegen", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "codegen", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the hand-written and the generated code."""
    session.install("-e", ".[test]")
    session.run("mypy", "--strict", "-p", "yandex_art")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against the official SDK on a local emulator; prints a table.

    The official SDK gets its own venv (bench/.venv-official, reused). Figures
    go to bench/results/latest.json. Pass bench/run.py flags after --, e.g.
    ``nox -s bench -- --quick`` or ``nox -s bench -- --only lag``.
    """
    session.install("-e", ".[emulator,codegen]")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: generate one image (embedded emulator unless cloud credentials are set)."""
    session.install("-e", ".[emulator]")
    prompt = " ".join(session.posargs) or "a red cat in a spacesuit"
    session.run(
        "yandex-art",
        "generate",
        prompt,
        "--seed",
        "50",
        "--ratio",
        "1:2",
        "--auto-emulator",
        "-o",
        "cat.jpeg",
    )


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Property-based fuzzing of the emulator's REST side against specs/openapi (schemathesis)."""
    session.install("-e", ".[emulator]", "schemathesis")
    session.run("python", "bench/fuzz_rest.py", *session.posargs)

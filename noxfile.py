"""Project sessions: codegen, tests, lint, typecheck, contract, bench, demo.

All sessions install the project with the pinned generator versions from
pyproject.toml, so they give the same output on every machine.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli there
    import tomli as tomllib

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


# The test tools `lowest` needs, taken from the test extra; the rest of that
# extra (codegen, the official SDK and stubs, mypy) requires newer grpcio and is
# left out, with the tests that use it.
_LOWEST_TOOLS = ("pytest", "pytest-asyncio", "syrupy", "hypothesis")


def _test_tools(names: tuple[str, ...] = _LOWEST_TOOLS) -> list[str]:
    pyproject = tomllib.loads(Path("pyproject.toml").read_text())
    extra: list[str] = pyproject["project"]["optional-dependencies"]["test"]
    return [r for r in extra if re.split(r"[\[<>=!~; ]", r)[0] in names]


# Every Python the package supports (the classifiers in pyproject.toml; a test
# keeps the two lists equal). PYTHON runs the whole suite; the others run what
# does not need the codegen tools: syrupy 7 and the pinned generator stack are
# for PYTHON only, and the generator's output is the same whichever Python runs it.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# The test tools the other Pythons need, taken from the test extra with their pins.
_PORTABLE_TOOLS = (
    "pytest",
    "pytest-asyncio",
    "hypothesis",
    "yandexcloud",  # the official stubs: the test server of tests/contract/official_server.py
    "yandex-ai-studio-sdk",  # the official SDK: the drop-in tests
)
PORTABLE_TESTS = [
    "tests/runtime",
    "tests/sdk",
    "tests/emulator",
    "tests/cli",
    "tests/cassette",  # record, replay and verify, with both SDKs
    "tests/test_docs_run.py",  # every example of the README and docs/, on this Python
    "tests/test_packaging.py",
]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Every supported Python: the whole suite on 3.11, PORTABLE_TESTS on the others.

    ``nox -s tests`` runs every version; ``nox -s tests-3.10`` one of them.
    """
    if session.python == PYTHON:
        session.install("-e", ".[test]")
        session.run("pytest", *session.posargs)
        return
    session.install("-e", ".[emulator]", *_test_tools(_PORTABLE_TOOLS))
    session.run("pytest", "-q", *(session.posargs or PORTABLE_TESTS))


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

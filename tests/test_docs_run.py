"""Every ```python block of README.md and docs/*.md runs, so the docs cannot drift.

Each block is a test named ``<file>:<line of its opening fence>``, run in a fresh
temporary directory (blocks write ``cat.jpeg`` and the like). A block runs in
this process, in a fresh namespace (after the blocks it continues, see below),
against the pytest plugin's emulator. While it runs, and that is all that
differs from a reader's machine:

- ``YC_API_KEY`` and ``YC_FOLDER_ID`` hold the emulator's credentials, and
  ``no_proxy``/``no_grpc_proxy`` name 127.0.0.1;
- ``yandex_art.AIStudio`` and ``yandex_art.AsyncAIStudio`` are subclasses that
  add ``address=<the emulator>`` and ``verify=False`` (what a block cannot say
  through the environment) unless the block passes an endpoint itself, and that
  replace the placeholders of ``PLACEHOLDERS`` (``folder_id="b1g..."``,
  ``auth="<API key>"``) with the emulator's folder and key.

An HTML comment on the line before a block's fence (blank lines between are
allowed) says otherwise. The whole vocabulary:

``<!-- docs-test: skip (REASON) -->``
    Not run: reported as skipped with REASON (say what it needs, e.g. real
    cloud credentials).
``<!-- docs-test: continues -->``
    A fragment going on from the previous python block of the same file, of
    whatever kind that one is: the blocks run in order in one namespace, or the
    fragment is appended to that block's test file.
``<!-- docs-test: pytest -->``
    A file of the reader's own test suite, named by its first line
    (``# test_x.py ...`` or ``# conftest.py``). With its fragments it is written
    to a fresh project, beside the stand-ins of ``STAND_INS`` for the reader's
    code it imports (and ``SMOKE_TESTS`` when it is a ``conftest.py``, to use
    the fixtures it overrides), and run by pytest in a subprocess through the
    installed plugin's entry point, once with ``asyncio_mode=strict``
    (pytest-asyncio's default) and once with ``auto``, with the plugin's
    ``--yandex-art-generation-seconds 0.01`` to keep it quick. Every test must
    pass, none may be skipped.
``<!-- docs-test: pytest record -->``
    The same, for a suite of ``yandex_art_cassette`` tests: it is first run once
    with ``--yandex-art-record`` through a recording proxy in front of the
    plugin's emulator (``YC_API_KEY``/``YC_FOLDER_ID`` its credentials), which
    writes its cassettes, then in both modes as above, replaying them.

Any other ``docs-test`` comment, or one not followed by a python block, is an error.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import yandex_art
from yandex_art import _client
from yandex_art.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Stand-ins in the docs' examples, and which argument of the clients holds each.
PLACEHOLDERS = {"folder_id": "b1g...", "auth": "<API key>"}

# The reader's own code that the pytest examples import ("your code").
STAND_INS = {
    "myapp/__init__.py": "",
    "myapp/thumbnails.py": '''\
import io

from PIL import Image


def make_thumbnail(sdk, prompt):
    """A 16:9 image for the prompt, as a PIL image."""
    model = sdk.models.image_generation("yandex-art").configure(width_ratio=16, height_ratio=9)
    return Image.open(io.BytesIO(model.run_deferred(prompt).wait().image_bytes))
''',
}

# Added beside a conftest.py example, whose fixtures would otherwise go unused.
SMOKE_TESTS = """\
import pytest


def test_sync_client(yandex_art_sdk):
    model = yandex_art_sdk.models.image_generation("yandex-art")
    assert model.run_deferred("a cat").wait().image_bytes


@pytest.mark.asyncio
async def test_async_client(yandex_art_async_sdk):
    model = yandex_art_async_sdk.models.image_generation("yandex-art")
    assert (await (await model.run_deferred("a cat"))).image_bytes
"""

ASYNCIO_MODES = ("strict", "auto")
# The plugin's option, for the pytest examples' own runs: short generations keep them quick.
GENERATION_SECONDS = "0.01"

_MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
_SKIP = re.compile(r"skip \((.+)\)")
_FILE_NAME = re.compile(r"#\s*([\w./-]+\.py)\b")


class DocsTestError(ValueError):
    """A docs-test comment that cannot be obeyed."""


@dataclass(eq=False)  # a block is itself; chains hold their blocks
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    kind: str  # "run", "skip" or "pytest": a fragment takes the kind of its chain
    reason: str = ""
    record: bool = False  # pytest: record its cassettes first ("pytest record")
    chain: list[Block] = field(default_factory=list, repr=False)  # itself and its fragments

    @property
    def id(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    def upto_here(self) -> list[Block]:
        return self.chain[: self.chain.index(self) + 1]


def extract_blocks(text: str, path: Path) -> list[Block]:
    """The ```python blocks of a Markdown text, with what their docs-test comments say."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: tuple[str, int] | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if marker := _MARKER.fullmatch(stripped):
            if pending is not None:
                raise DocsTestError(f"{path}:{pending[1]}: docs-test comment not before a block")
            pending = (marker[1], i + 1)
        elif stripped.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
            if end is None:
                raise DocsTestError(f"{path}:{i + 1}: code block never closed")
            if stripped[3:].strip() == "python":
                code = "\n".join(lines[i + 1 : end]) + "\n"
                blocks.append(_block(path, i + 1, code, pending, blocks))
            elif pending is not None:
                raise DocsTestError(
                    f"{path}:{pending[1]}: docs-test comment before a non-python block"
                )
            pending = None
            i = end
        elif stripped and pending is not None:
            raise DocsTestError(f"{path}:{pending[1]}: docs-test comment not before a block")
        i += 1
    if pending is not None:
        raise DocsTestError(f"{path}:{pending[1]}: docs-test comment not before a block")
    return blocks


def _block(
    path: Path, line: int, code: str, marker: tuple[str, int] | None, before: list[Block]
) -> Block:
    directive = marker[0] if marker else ""
    where = f"{path}:{marker[1] if marker else line}"
    if directive == "continues":
        if not before:
            raise DocsTestError(f"{where}: 'continues' with no python block before it")
        head = before[-1].chain[0]
        block = Block(path, line, code, head.kind, head.reason, head.record, head.chain)
        head.chain.append(block)
        return block
    if directive == "":
        block = Block(path, line, code, "run")
    elif directive in ("pytest", "pytest record"):
        if not _FILE_NAME.match(code):
            raise DocsTestError(f"{where}: a pytest block starts with '# <file name>.py'")
        block = Block(path, line, code, "pytest", record=directive == "pytest record")
    elif skip := _SKIP.fullmatch(directive):
        block = Block(path, line, code, "skip", skip[1])
    else:
        raise DocsTestError(
            f"{where}: unknown docs-test comment {directive!r} "
            "(known: 'skip (REASON)', 'continues', 'pytest', 'pytest record')"
        )
    block.chain.append(block)
    return block


def run_blocks(blocks: list[Block]) -> dict[str, Any]:
    """Run blocks in order in one fresh namespace; tracebacks name the Markdown lines."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for block in blocks:
        # Padded so that line numbers are the Markdown file's.
        source = "\n" * block.line + block.code
        exec(compile(source, str(block.path), "exec"), namespace)
    return namespace


def write_project(chain: list[Block], directory: Path) -> None:
    """Lay out a pytest block and its fragments as a reader's project."""
    match = _FILE_NAME.match(chain[0].code)
    assert match, chain[0].id
    files = dict(STAND_INS)
    files[match[1]] = "\n\n".join(block.code for block in chain)
    if Path(match[1]).name == "conftest.py":
        files["test_docs_smoke.py"] = SMOKE_TESTS
    files["pytest.ini"] = "[pytest]\n"  # this directory is the root; pytest-asyncio's defaults
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)


def _pytest_command(mode: str) -> tuple[list[str], dict[str, str]]:
    # Only the installed plugin (by its pytest11 entry point) and pytest-asyncio:
    # the run stays quick and does not depend on what else is installed here.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-p", "yandex_art", "-p", "asyncio"]
    command += ["-p", "no:cacheprovider", "-q", "-rfEs", "-o", f"asyncio_mode={mode}"]
    command += ["--yandex-art-generation-seconds", GENERATION_SECONDS]
    return command, env


def record_cassettes(directory: Path, emulator: Emulator) -> None:
    """Run the project once with --yandex-art-record in front of ``emulator``, so that its
    cassettes exist before the runs that replay them; its output is pytest-record.log."""
    command, env = _pytest_command("strict")
    command += ["--yandex-art-record", "--yandex-art-upstream", emulator.grpc_address]
    command += ["--yandex-art-upstream-rest", emulator.rest_url]
    env |= {"YC_API_KEY": emulator.api_key or "", "YC_FOLDER_ID": emulator.folder_id}
    with (directory / "pytest-record.log").open("wb") as log:
        subprocess.run(
            command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=120
        )


@dataclass
class PytestRun:
    directory: Path
    mode: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command, env = _pytest_command(self.mode)
        with (self.directory / f"pytest-{self.mode}.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def outcome(self) -> tuple[int, dict[str, int], str]:
        """Exit status, counts of the summary line (passed, failed, ...) and the output."""
        assert self.process is not None
        try:
            status = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        output = (self.directory / f"pytest-{self.mode}.log").read_text(errors="replace")
        recorded = self.directory / "pytest-record.log"
        if recorded.exists():  # the recording run's output first: its failures explain ours
            output = "recording run:\n" + recorded.read_text(errors="replace") + "\n" + output
        summary = output.strip().splitlines()[-1] if output.strip() else ""
        counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
        return status, counts, output

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _all_blocks() -> list[Block]:
    return [b for doc in DOCUMENTS for b in extract_blocks(doc.read_text(), doc)]


BLOCKS = _all_blocks()
RUN_BLOCKS = [b for b in BLOCKS if b.kind != "pytest"]
PYTEST_BLOCKS = [b for b in BLOCKS if b.kind == "pytest"]

# A project the runner must fail in strict mode and pass in auto mode.
UNMARKED_ASYNC_SAMPLE = """\
<!-- docs-test: pytest -->
```python
# test_unmarked.py
import asyncio


async def test_async():
    await asyncio.sleep(0)
```
"""


class PytestRuns:
    """Every pytest project of the docs (and the runner's own sample), started together
    at the first request so that their waits overlap."""

    def __init__(self, tmp: pytest.TempPathFactory, emulator: Callable[[], Emulator]) -> None:
        self._tmp = tmp
        self._emulator = emulator
        self._runs: dict[tuple[str, str], PytestRun] = {}

    def start_all(self) -> None:
        sample = extract_blocks(UNMARKED_ASYNC_SAMPLE, Path("sample.md"))
        for head in [*{id(b.chain[0]): b.chain[0] for b in PYTEST_BLOCKS}.values(), *sample]:
            directory = self._tmp.mktemp("docs-project")
            write_project(head.chain, directory)
            if head.record:
                record_cassettes(directory, self._emulator())
            for mode in ASYNCIO_MODES:
                run = self._runs[head.id, mode] = PytestRun(directory, mode)
                run.start()

    def outcome(self, block: Block, mode: str) -> tuple[int, dict[str, int], str]:
        if not self._runs:
            self.start_all()
        return self._runs[block.chain[0].id, mode].outcome()

    def stop(self) -> None:
        for run in self._runs.values():
            run.stop()


@pytest.fixture(scope="module", autouse=True)
def pytest_runs(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[PytestRuns]:
    """Started with the module when one of its selected tests needs them, so that the
    subprocesses' waits overlap with the blocks run here."""
    runs = PytestRuns(
        tmp_path_factory, lambda: request.getfixturevalue("yandex_art_emulator_session")
    )
    if any(
        item.module is request.module and "pytest_runs" in getattr(item, "fixturenames", ())
        for item in request.session.items
        if isinstance(item, pytest.Function)
    ):
        runs.start_all()
    yield runs
    runs.stop()


def _aimed_at(cls: type[Any], emulator: Emulator, opened: list[Any]) -> type[Any]:
    substitutes = {"folder_id": emulator.folder_id, "auth": emulator.api_key}

    class Client(cls):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            for name, placeholder in PLACEHOLDERS.items():
                if kwargs.get(name) == placeholder:
                    kwargs[name] = substitutes[name]
            if kwargs.get("address") is None and kwargs.get("endpoint") is None:
                rest = kwargs.get("transport") == "rest"
                kwargs["address"] = emulator.rest_address if rest else emulator.grpc_address
                kwargs["verify"] = False
            super().__init__(**kwargs)
            opened.append(self)

    Client.__name__ = Client.__qualname__ = cls.__name__
    return Client


@pytest.fixture
def against_emulator(
    yandex_art_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """What a block runs with: see the module's docstring."""
    opened: list[Any] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YC_API_KEY", yandex_art_emulator.api_key or "")
    monkeypatch.setenv("YC_FOLDER_ID", yandex_art_emulator.folder_id)
    monkeypatch.setenv("no_grpc_proxy", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    for name in ("AIStudio", "AsyncAIStudio"):
        original = getattr(_client, name)
        monkeypatch.setattr(yandex_art, name, _aimed_at(original, yandex_art_emulator, opened))
    yield
    for client in opened:  # what the blocks left open
        if isinstance(client, _client.AsyncAIStudio):
            asyncio.run(client.close())
        else:
            client.close()


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.id for b in RUN_BLOCKS])
def test_block_runs(block: Block, request: pytest.FixtureRequest) -> None:
    if block.kind == "skip":
        pytest.skip(block.reason)
    request.getfixturevalue("against_emulator")
    run_blocks(block.upto_here())


@pytest.mark.parametrize("mode", ASYNCIO_MODES)
@pytest.mark.parametrize("block", PYTEST_BLOCKS, ids=[b.id for b in PYTEST_BLOCKS])
def test_pytest_block_passes(block: Block, mode: str, pytest_runs: PytestRuns) -> None:
    status, counts, output = pytest_runs.outcome(block, mode)
    assert status == 0 and counts.get("passed", 0) > 0, output
    assert set(counts) <= {"passed", "warning", "warnings"}, output


# -- the runner itself ------------------------------------------------------------------


def test_every_python_block_is_found() -> None:
    for doc in DOCUMENTS:
        text = doc.read_text()
        assert len(extract_blocks(text, doc)) == text.count("```python"), doc
    assert len(BLOCKS) >= 8


SAMPLE = """\
# Sample

```python
x = 1
```

<!-- docs-test: continues -->

```python
y = x + 1
```

```sh
echo not python
```

<!-- docs-test: skip (needs real cloud credentials) -->
```python
raise SystemExit("never run")
```

<!-- docs-test: pytest -->
```python
# test_a.py
def test_a():
    pass
```
<!-- docs-test: continues -->
```python
def test_b():
    pass
```
"""


def test_markers_are_read() -> None:
    blocks = extract_blocks(SAMPLE, Path("sample.md"))
    assert [(b.line, b.kind, b.reason) for b in blocks] == [
        (3, "run", ""),
        (9, "run", ""),
        (18, "skip", "needs real cloud credentials"),
        (23, "pytest", ""),
        (29, "pytest", ""),
    ]
    assert blocks[1].upto_here() == blocks[:2] and blocks[0].upto_here() == blocks[:1]
    assert blocks[3].chain == blocks[4].chain == blocks[3:]
    assert run_blocks(blocks[1].upto_here())["y"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- docs-test: skipp (x) -->\n```python\npass\n```\n", "unknown docs-test comment"),
        ("<!-- docs-test: skip -->\n```python\npass\n```\n", "unknown docs-test comment"),
        ("<!-- docs-test: continues -->\n```python\npass\n```\n", "no python block before"),
        ("<!-- docs-test: pytest -->\n```python\ndef test(): pass\n```\n", "starts with '# <f"),
        ("<!-- docs-test: continues -->\n```sh\nls\n```\n", "before a non-python block"),
        ("<!-- docs-test: continues -->\ntext\n```python\npass\n```\n", "not before a block"),
        ("```python\npass\n", "never closed"),
    ],
    ids=[
        "typo",
        "skip-without-reason",
        "dangling-continues",
        "unnamed-pytest",
        "not-python",
        "text-between",
        "unclosed",
    ],
)
def test_bad_markers_are_errors(text: str, message: str) -> None:
    with pytest.raises(DocsTestError, match=re.escape(message)):
        extract_blocks(text, Path("bad.md"))


def test_a_broken_block_fails_naming_its_markdown_line() -> None:
    text = "Intro.\n\n```python\nx = 1\nassert x == 2, 'drifted'\n```\n"
    [block] = extract_blocks(text, Path("broken.md"))
    with pytest.raises(AssertionError, match="drifted") as caught:
        run_blocks([block])
    frame = traceback.extract_tb(caught.tb)[-1]
    assert (frame.filename, frame.lineno) == ("broken.md", 5)


def test_pytest_runner_fails_an_unmarked_async_test_in_strict_mode_only(
    pytest_runs: PytestRuns,
) -> None:
    [sample] = extract_blocks(UNMARKED_ASYNC_SAMPLE, Path("sample.md"))
    status, counts, output = pytest_runs.outcome(sample, "strict")
    assert status == 1 and counts.get("failed") == 1, output
    assert "async def functions are not natively supported" in output
    status, counts, output = pytest_runs.outcome(sample, "auto")
    assert status == 0 and counts.get("passed") == 1, output

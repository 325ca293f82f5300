"""Every exit of the command: its documented code, a JSON line with --json, CLI wording,
the README's reference (flags and exit codes) kept in step with the parsers, and the
file names images are saved under."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import yandex_art.cli as cli
from yandex_art.cli import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OPERATION,
    EXIT_TIMEOUT,
    EXIT_TRANSPORT,
    EXIT_USAGE,
    build_parser,
)
from yandex_art.cli import batch as cli_batch
from yandex_art.cli import generate as cli_generate
from yandex_art.emulator import Emulator

from .helpers import run

ROOT = Path(__file__).resolve().parents[2]


def last_event(out: str) -> dict[str, Any]:
    """The final JSON line, checking that every stdout line is JSON."""
    events = [json.loads(line) for line in out.splitlines()]
    assert events, "no JSON line on stdout"
    event: dict[str, Any] = events[-1]
    return event


def _readme_cli() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## CLI\n")
    return readme[start : readme.index("\n## ", start + 1)]


# -- each exit code, with its JSON line ----------------------------------------------------


def test_exit_0_success_says_so_in_json(tmp_path: Path) -> None:
    code, out, _ = run("generate", "--emulator", "--json", "-o", str(tmp_path / "a"), "cat")
    assert code == EXIT_OK
    event = last_event(out)
    assert (event["event"], event["exit_code"]) == ("succeeded", EXIT_OK)


def test_exit_1_unexpected_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_generate, "image_size", broken)
    code, out, err = run("generate", "--emulator", "--json", "-o", str(tmp_path / "a"), "cat")
    assert code == EXIT_FAILURE
    assert "RuntimeError: a bug" in err
    assert last_event(out)["exit_code"] == EXIT_FAILURE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--json", "--seed", "fifty", "cat"], "'fifty' is not an integer"),
        (["generate", "--json"], "required: PROMPT"),
        (["--json", "nonsense"], "invalid choice"),
        (["batch", "--json", "p.txt"], "-o/--output-dir"),
        (["attach", "--json", "--bogus", "x"], "unrecognized arguments: --bogus"),
        (["generate", "--js", "--ratio", "1", "cat"], "expected W:H"),  # an abbreviation
    ],
)
def test_exit_2_usage_error_prints_argparse_text_and_a_json_line(
    argv: list[str], message: str
) -> None:
    code, out, err = run(*argv)
    assert code == EXIT_USAGE
    assert "usage: yandex-art" in err and message in err
    assert out.count("\n") == 1
    event = json.loads(out)
    assert event["event"] == "error" and event["exit_code"] == EXIT_USAGE
    assert message in event["error"]["message"] and event["error"]["kind"] == "usage"


def test_usage_error_without_json_keeps_stdout_empty() -> None:
    code, out, err = run("generate", "--seed", "x", "cat", "--", "--json")
    assert (code, out) == (EXIT_USAGE, "")  # --json after "--" is a prompt word, not the flag
    assert "usage:" in err


def test_exit_2_configuration_error_in_json() -> None:
    code, out, err = run("generate", "--json", "cat")
    assert code == EXIT_USAGE and "YC_API_KEY" in err
    assert last_event(out)["exit_code"] == EXIT_USAGE


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--emulator", "--json", "cat"],
        ["batch", "PROMPTS", "-o", "DIR", "--emulator", "--json"],
        ["emulator"],
    ],
)
def test_exit_2_when_the_emulator_extra_is_missing(argv: list[str], tmp_path: Path) -> None:
    (tmp_path / "PROMPTS").write_text("a cat\n")
    script = (
        "import sys\n"
        "sys.modules['aiohttp'] = None  # as if the [emulator] extra were not installed\n"
        "from yandex_art.cli import main\n"
        f"raise SystemExit(main({argv!r}, env={{}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "[emulator] extra" in done.stderr and "pip install" in done.stderr
    assert "Traceback" not in done.stderr
    if "--json" in argv:
        event = last_event(done.stdout)
        assert event["exit_code"] == EXIT_USAGE and event["error"]["kind"] == "missing_extra"


def test_exit_3_operation_failed(emulator: Emulator, env: dict[str, str], tmp_path: Path) -> None:
    emulator.faults.fail_generations(1, code=13, message="the model broke")
    code, out, _ = run(
        "generate", "--endpoint", emulator.grpc_address, "--json", "-o", str(tmp_path / "x"), "c",
        env=env,
    )  # fmt: skip
    assert code == EXIT_OPERATION
    assert last_event(out)["exit_code"] == EXIT_OPERATION


def test_exit_4_transport_error(env: dict[str, str]) -> None:
    code, out, _ = run("attach", "fbvnosuchoperation00", "--endpoint", "127.0.0.1:1", "--json", env=env)  # fmt: skip
    assert code == EXIT_TRANSPORT
    event = last_event(out)
    assert event["exit_code"] == EXIT_TRANSPORT and event["error"]["code"] == "UNAVAILABLE"


def test_exit_5_timeout_speaks_cli_and_the_hint_resumes(tmp_path: Path) -> None:
    """The message names `yandex-art attach`, not a Python method, and pasting the
    command it prints (endpoint, transport, folder, model, a quoted output) finishes."""
    with Emulator.start(generation_seconds=1.0) as slow:
        target = tmp_path / "my cat.jpeg"
        model = f"art://{slow.folder_id}/yandex-art/latest"
        code, out, err = run(
            "generate", "--endpoint", slow.rest_address, "--transport", "rest",
            "--folder-id", slow.folder_id, "--model", model, "--timeout", "0.1",
            "--json", "-o", str(target), "a", "cat",
            env={"YC_API_KEY": slow.auth},
        )  # fmt: skip
        assert code == EXIT_TIMEOUT
        event = last_event(out)
        operation_id = event["operation_id"]
        expected = shlex.join(
            ["yandex-art", "attach", operation_id, "-o", str(target),
             "--endpoint", slow.rest_address, "--transport", "rest",
             "--folder-id", slow.folder_id, "--model", model, "--json"]
        )  # fmt: skip
        assert event["exit_code"] == EXIT_TIMEOUT
        assert event["error"]["resume"] == expected
        assert f"resume with: {expected}" in err and "attach_deferred" not in err
        assert "'" in expected  # the path with a space is quoted
        code, out, err = run(*shlex.split(expected)[1:], env={"YC_API_KEY": slow.auth})
        assert code == EXIT_OK, err
        assert last_event(out)["event"] == "succeeded"
        assert target.read_bytes().startswith(b"\xff\xd8\xff")
        assert slow.stats().calls["generate"] == 1


def test_exit_130_interrupted_prints_the_whole_resume_command(
    emulator: Emulator, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_generate, "_finish", interrupted)
    target = tmp_path / "it's.png"
    code, out, err = run(
        "generate", "--endpoint", emulator.grpc_address, "--folder-id", emulator.folder_id,
        "--json", "-o", str(target), "cat",
        env={"YC_API_KEY": emulator.auth},
    )  # fmt: skip
    assert code == EXIT_INTERRUPTED
    event = last_event(out)
    assert event == {
        "event": "interrupted",
        "operation_id": event["operation_id"],
        "exit_code": EXIT_INTERRUPTED,
    }
    hint = shlex.join(
        ["yandex-art", "attach", event["operation_id"], "-o", str(target),
         "--endpoint", emulator.grpc_address, "--folder-id", emulator.folder_id, "--json"]
    )  # fmt: skip
    assert f"resume with: {hint}" in err


def test_batch_exits_0_3_and_130_with_json(
    emulator: Emulator, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\na dog\n")
    argv = ["batch", str(prompts), "--endpoint", emulator.grpc_address, "--json"]
    code, out, _ = run(*argv, "-o", str(tmp_path / "ok"), env=env)
    assert code == EXIT_OK
    assert last_event(out) == {**last_event(out), "event": "summary", "exit_code": EXIT_OK}
    emulator.faults.fail_generations(1)
    code, out, _ = run(*argv, "-o", str(tmp_path / "some"), env=env)
    assert code == EXIT_OPERATION
    assert last_event(out)["exit_code"] == EXIT_OPERATION

    async def interrupted(*args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_batch, "_batch_with", interrupted)
    code, out, err = run(*argv, "-o", str(tmp_path / "int"), env=env)
    assert code == EXIT_INTERRUPTED and "Rerun the same command" in err
    assert last_event(out) == {"event": "interrupted", "exit_code": EXIT_INTERRUPTED}


def test_batch_usage_error_in_json(tmp_path: Path) -> None:
    code, out, _ = run("batch", str(tmp_path / "missing.txt"), "-o", str(tmp_path), "--json")
    assert code == EXIT_USAGE
    assert last_event(out)["exit_code"] == EXIT_USAGE


# -- ratios: what the service takes ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["-1:2", "1:-2", "1", "a:b", "1:2:3", "", " : ", "1.5:2", "+1:2", "1:99999999999999999999"],
)
@pytest.mark.parametrize("flag", ["--ratio", "--aspect-ratio"])
def test_malformed_or_negative_ratio_is_a_usage_error(flag: str, value: str) -> None:
    for argv in ([flag, value], [f"{flag}={value}"]):
        code, out, err = run("generate", "--emulator", "--json", *argv, "cat")
        assert code == EXIT_USAGE, (argv, err)
        assert "expected W:H with whole numbers >= 0" in err and repr(value) in err
        assert "expected one argument" not in err
        assert json.loads(out)["exit_code"] == EXIT_USAGE


def test_zero_side_is_the_documented_default(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    """The service reads a 0 side as 1, so the CLI does not refuse it."""
    target = tmp_path / "square.jpeg"
    code, _, err = run(
        "generate", "--endpoint", emulator.grpc_address, "--ratio", "2:0", "-o", str(target), "c",
        env=env,
    )  # fmt: skip
    assert code == EXIT_OK, err
    with Image.open(target) as image:
        assert image.size == (64, 32)


# -- messages in the CLI's words ------------------------------------------------------------


def test_rejected_values_are_named_by_their_flag(emulator: Emulator, env: dict[str, str]) -> None:
    code, _, err = run("generate", "--endpoint", emulator.grpc_address, "--model", "a b", "c", env=env)  # fmt: skip
    assert code == EXIT_USAGE and "error: --model:" in err and "model_name" not in err
    code, _, err = run("generate", "--endpoint", "example.com:443", "--insecure", "c", env=env)
    assert code == EXIT_USAGE and "--insecure" in err and "allow_insecure" not in err


# -- the README's reference -------------------------------------------------------------------


def _parsers() -> dict[str, argparse.ArgumentParser]:
    found = {"yandex-art": build_parser()}
    pending = list(found.values())
    while pending:  # nested commands too (cassette record, ...)
        for action in pending.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.update(action.choices)
                pending.extend(action.choices.values())
    return found


def test_readme_lists_every_long_option_of_every_command() -> None:
    section = _readme_cli()
    missing = [
        f"{name} {option}"
        for name, parser in _parsers().items()
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and not re.search(rf"`{re.escape(option)}[` ]", section)
    ]
    assert set(_parsers()) == {
        *("yandex-art", "generate", "attach", "batch", "emulator"),
        *("cassette", "record", "replay", "verify"),
    }
    assert not missing, f"README's CLI section does not list: {missing}"


def test_readme_exit_code_table_matches_the_codes_of_the_cli() -> None:
    defined = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    table = re.search(r"\| code \| meaning \|\n\|---\|---\|\n((?:\|.*\n)+)", _readme_cli())
    assert table, "README's CLI section must have an exit code table"
    listed = [int(row.split("|")[1]) for row in table[1].splitlines()]
    assert sorted(listed) == sorted(defined) == [0, 1, 2, 3, 4, 5, 6, 130]


def test_help_names_every_exit_code() -> None:
    epilog = cli.build_parser().epilog or ""
    defined = sorted(value for name, value in vars(cli).items() if name.startswith("EXIT_"))
    named = sorted(int(code) for code in re.findall(r"(?:codes: |, )(\d+) ", epilog))
    assert named == defined, epilog


# -- file names follow the image's type ---------------------------------------------------------


def test_output_without_suffix_gets_the_image_type(
    tmp_path: Path, emulator: Emulator, env: dict[str, str]
) -> None:
    base = ["generate", "--endpoint", emulator.grpc_address, "--json"]
    code, out, _ = run(*base, "-o", str(tmp_path / "a"), "cat", env=env)
    assert code == EXIT_OK and last_event(out)["path"] == str(tmp_path / "a.jpeg")
    code, out, _ = run(*base, "--mime-type", "png", "-o", str(tmp_path / "b"), "cat", env=env)
    assert code == EXIT_OK and last_event(out)["path"] == str(tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes().startswith(b"\x89PNG")


def test_png_name_asks_for_png_and_a_contradiction_is_refused_before_sending(
    tmp_path: Path, emulator: Emulator, env: dict[str, str]
) -> None:
    base = ["generate", "--endpoint", emulator.grpc_address]
    code, _, err = run(*base, "-o", str(tmp_path / "c.png"), "cat", env=env)
    assert code == EXIT_OK, err
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    calls = emulator.stats().calls["generate"]
    code, _, err = run(*base, "--mime-type", "png", "-o", str(tmp_path / "d.jpeg"), "c", env=env)
    assert code == EXIT_USAGE and "image/jpeg" in err and "image/png" in err
    assert emulator.stats().calls["generate"] == calls and not (tmp_path / "d.jpeg").exists()


def test_attach_default_name_follows_the_type_and_a_wrong_name_warns(
    tmp_path: Path, emulator: Emulator, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with emulator.sdk() as sdk:
        model = sdk.models.image_generation("yandex-art").configure(mime_type="image/png")
        operation = model.run_deferred("a dog")
        operation.wait()
    monkeypatch.chdir(tmp_path)
    base = ["attach", operation.id, "--endpoint", emulator.grpc_address]
    code, _, err = run(*base, env=env)
    assert code == EXIT_OK, err
    assert (tmp_path / f"{operation.id}.png").read_bytes().startswith(b"\x89PNG")
    # the image exists already: a contradicting name is kept, with a warning
    code, _, err = run(*base, "-o", "dog.jpeg", env=env)
    assert code == EXIT_OK
    assert "warning: dog.jpeg" in err and "image/png" in err
    assert (tmp_path / "dog.jpeg").read_bytes().startswith(b"\x89PNG")

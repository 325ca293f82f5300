"""yandex-art batch: inputs, files, the journal, failures, and resuming after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from yandex_art.cli import EXIT_OK, EXIT_OPERATION, EXIT_USAGE
from yandex_art.cli.batch_journal import JOURNAL
from yandex_art.emulator import Emulator, EmulatorConfig

from .helpers import run


def batch(emulator: Emulator, prompts: Path, out: Path, *extra: str) -> list[str]:
    return [
        "batch",
        str(prompts),
        "-o",
        str(out),
        "--endpoint",
        emulator.grpc_address,
        "--rate",
        "100000",
        *extra,
    ]


def journal(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / JOURNAL).read_text().splitlines()]


def test_text_file_gives_one_image_per_line(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red cat\n\n# a comment\nblue dog\ngreen frog\n")
    code, out, err = run(*batch(emulator, prompts, tmp_path / "out"), env=env)
    assert code == EXIT_OK, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        JOURNAL,
        "1.jpeg",
        "4.jpeg",
        "5.jpeg",
    ]
    assert "3/3 written, 0 failed" in out
    events = [r["event"] for r in journal(tmp_path / "out")]
    assert events.count("started") == 3 and events.count("done") == 3
    # each item is journaled as sending, then started with its id, then done
    for key in ("1", "4", "5"):
        mine = [r for r in journal(tmp_path / "out") if r.get("item") == key]
        assert [r["event"] for r in mine] == ["sending", "started", "done"]
        assert mine[1]["operation_id"] == mine[2]["operation_id"]
    assert emulator.stats().calls["generate"] == 3


def test_jsonl_names_seeds_ratios_and_png(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.jsonl"
    rows = [
        {"prompt": "a cat", "name": "cat", "seed": 5, "ratio": "2:1"},
        {"prompt": "a dog", "ratio": [1, 2]},
    ]
    prompts.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, err = run(
        *batch(emulator, prompts, tmp_path / "o", "--mime-type", "png", "--json"), env=env
    )
    assert code == EXIT_OK, err
    assert (tmp_path / "o" / "cat.png").exists() and (tmp_path / "o" / "2.png").exists()
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["done"] == 2
    assert any(e["event"] == "progress" and "eta_seconds" in e for e in events)
    from PIL import Image

    with Image.open(tmp_path / "o" / "cat.png") as image:
        assert image.format == "PNG" and image.size[0] == 2 * image.size[1]


def test_rerun_skips_finished_items(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\ntwo\n")
    assert run(*batch(emulator, prompts, tmp_path / "o"), env=env)[0] == EXIT_OK
    code, out, _ = run(*batch(emulator, prompts, tmp_path / "o"), env=env)
    assert code == EXIT_OK and "2 already done" in out
    assert emulator.stats().calls["generate"] == 2


def test_failed_items_exit_3_and_are_retried_only_when_asked(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\ntwo\nthree\n")
    emulator.faults.fail_generations(1)
    code, out, err = run(*batch(emulator, prompts, tmp_path / "o", "--concurrency", "1"), env=env)
    assert code == EXIT_OPERATION
    assert "2/3 written, 1 failed" in out and "failed" in err
    assert run(*batch(emulator, prompts, tmp_path / "o"), env=env)[0] == EXIT_OPERATION
    assert emulator.stats().calls["generate"] == 3  # the failed one was not generated again
    code, out, _ = run(*batch(emulator, prompts, tmp_path / "o", "--retry-failed"), env=env)
    assert code == EXIT_OK, out
    assert emulator.stats().calls["generate"] == 4
    assert len(list((tmp_path / "o").glob("*.jpeg"))) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a", "name": "x"}\n{"prompt": "b", "name": "x"}\n', "used twice"),
        ('{"prompt": "a", "name": "../up"}\n', "file name"),
        ('{"name": "a"}\n', "prompt"),
        ('{"prompt": "a", "ratio": "-1:2"}\n', "ratio: expected W:H"),
        ('{"prompt": "a", "ratio": [1.5, 2]}\n', "ratio: expected W:H"),
        ("\n\n", "no prompts"),
    ],
)
def test_bad_prompt_files_exit_2(
    content: str, message: str, env: dict[str, str], tmp_path: Path, emulator: Emulator
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(content)
    code, _, err = run(*batch(emulator, prompts, tmp_path / "o"), env=env)
    assert code == EXIT_USAGE and message in err
    assert emulator.stats().calls.get("generate", 0) == 0


# -- killed and resumed -----------------------------------------------------------------


def _stats(rest: str) -> dict[str, Any]:
    with urllib.request.urlopen(rest.rstrip("/") + "/_emulator/stats", timeout=30) as answer:
        data: dict[str, Any] = json.loads(answer.read())
        return data


def test_sigkill_midway_then_rerun_generates_each_item_once(tmp_path: Path) -> None:
    emu = subprocess.Popen(
        [sys.executable, "-m", "yandex_art", "emulator", "--generation-seconds", "0.4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emu.stdout is not None
        info = json.loads(emu.stdout.readline())
        env = {
            **os.environ,
            "YC_API_KEY": info["api_key"] or "test-key",
            "YC_FOLDER_ID": info["folder_id"],
        }
        prompts = tmp_path / "p.txt"
        prompts.write_text("".join(f"prompt {i}\n" for i in range(20)))
        out = tmp_path / "o"
        command = [
            sys.executable,
            "-m",
            "yandex_art",
            "batch",
            str(prompts),
            "-o",
            str(out),
            "--endpoint",
            info["grpc"],
            "--concurrency",
            "4",
            "--rate",
            "600",
        ]
        first = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (out / JOURNAL).exists() and (out / JOURNAL).read_text().count('"done"') >= 6:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        records = [json.loads(x) for x in (out / JOURNAL).read_text().splitlines() if x.strip()]
        last = {r["item"]: r["event"] for r in records if "item" in r}
        assert 6 <= list(last.values()).count("done") < 20
        in_the_window = list(last.values()).count("sending")  # sent, answer unknown
        # whatever has its final name is a whole image
        for image in out.glob("*.jpeg"):
            assert image.read_bytes()[-2:] == b"\xff\xd9"
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == EXIT_OK, second.stderr
        images = sorted(out.glob("*.jpeg"))
        assert len(images) == 20
        assert not list(out.glob(".*.tmp"))
        for image in images:
            assert image.read_bytes()[:2] == b"\xff\xd8" and image.read_bytes()[-2:] == b"\xff\xd9"
        stats = _stats(info["rest"])
        # Items caught between sending and the answer were sent again with the
        # same idempotency key: the emulator answered with the operation it had
        # (a repeat), or started it then (the first request never arrived).
        assert stats["calls"]["generate"] <= 20 + in_the_window
        assert stats["calls"]["generate"] - stats["repeated_generates"] == 20  # none twice
    finally:
        emu.terminate()
        emu.wait(30)
        if emu.stdout is not None:
            emu.stdout.close()


def test_generate_json_progress_carries_the_remaining_estimate(tmp_path: Path) -> None:
    with Emulator.start(EmulatorConfig(generation_seconds=0.3, image_long_side=64)) as emu:
        env = {"YC_API_KEY": emu.auth, "YC_FOLDER_ID": emu.folder_id}
        for round_ in range(2):  # the second one has a learned duration to go by
            target = tmp_path / f"{round_}.jpeg"
            code, out, err = run(
                "generate",
                "--endpoint",
                emu.grpc_address,
                "--json",
                "-o",
                str(target),
                "cat",
                env=env,
            )
            assert code == EXIT_OK, err
    events = [json.loads(line) for line in out.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[0]["elapsed_seconds"] >= 0
    remaining = progress[0]["remaining_seconds"]
    assert remaining is not None and 0 < remaining <= 0.4


def test_a_per_day_quota_refusal_pauses_the_batch_and_a_rerun_resumes_it(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
) -> None:
    from yandex_art.cli import EXIT_TRANSPORT

    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"cat {k}\n" for k in range(6)))
    out_dir = tmp_path / "out"
    emulator.faults.fail_calls(
        "generate", 1000, code="RESOURCE_EXHAUSTED", message="quota exceeded: Generate per day"
    )
    try:
        code, out, err = run(*batch(emulator, prompts, out_dir, "--concurrency", "2"), env=env)
    finally:
        emulator.faults.clear()

    assert code == EXIT_TRANSPORT, err
    assert "0/6 written, 0 failed" in out
    assert "paused: 6 item(s) not started" in out and "rerun the same command" in out
    assert not [r for r in journal(out_dir) if r["event"] == "failed"]  # nothing failed

    code, out, err = run(*batch(emulator, prompts, out_dir), env=env)
    assert code == EXIT_OK, err
    assert "6/6 written, 0 failed" in out

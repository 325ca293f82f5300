"""The recorder's own failures: an unreachable upstream is answered, not recorded; a cassette
that cannot be stdout is refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx

from tests.conftest import free_port
from yandex_art.cassette import CassetteServer, Recorder, load
from yandex_art.cli import EXIT_USAGE, main


def test_an_unreachable_rest_upstream_is_unavailable_and_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    dead = f"http://127.0.0.1:{free_port()}"
    with CassetteServer(Recorder(path, upstream_rest=dead)) as server:
        answer = httpx.get(server.rest_url + "/operations/op1", timeout=30)
    assert answer.status_code == 503
    body = json.loads(answer.content)
    assert body["code"] == 14 and "unreachable" in body["message"]
    assert load(path).interactions == []


def test_record_to_stdout_is_refused() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["cassette", "record", "-o", "-"], stdout=out, stderr=err) == EXIT_USAGE
    assert "the cassette must be a file" in err.getvalue()

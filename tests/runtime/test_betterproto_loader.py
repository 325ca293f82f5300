"""betterproto2 loaded without pydantic and importlib.metadata, and still whole."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

from yandex_art._runtime.betterproto_loader import distribution_version


def _run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_distribution_version_matches_importlib_metadata() -> None:
    assert distribution_version("betterproto2") == importlib.metadata.version("betterproto2")


def test_distribution_version_of_a_missing_package_is_none() -> None:
    assert distribution_version("no_such_package_for_yandex_art") is None


def test_generated_messages_import_without_pydantic_metadata_or_dateutil() -> None:
    result = _run(
        "import sys, json\n"
        "from yandex_art._gen.proto.yandex.cloud.operation import Operation\n"
        "from yandex_art._gen.proto.google.protobuf import Timestamp\n"
        "loaded = [m for m in ('pydantic', 'importlib.metadata', 'dateutil.parser')"
        " if sys.modules.get(m) is not None]\n"
        "import betterproto2, importlib.metadata, pydantic\n"
        "ts = Timestamp.from_dict('2024-05-06T07:08:09Z')\n"
        "print(json.dumps({'loaded': loaded,"
        " 'version': betterproto2.__version__,"
        " 'real': importlib.metadata.version('betterproto2'),"
        " 'pydantic_ok': hasattr(pydantic, 'BaseModel'),"
        " 'bp_pydantic': betterproto2.pydantic is not None,"
        " 'seconds': ts.seconds,"
        " 'op': bytes(Operation(id='x')).hex()}))"
    )
    assert result["loaded"] == []
    assert result["version"] == result["real"]
    assert result["pydantic_ok"] is True  # hidden only while betterproto2 was imported
    assert result["bp_pydantic"] is False
    assert result["seconds"] == 1714979289  # the deferred dateutil import still works
    assert result["op"] == "0a0178"


def test_pydantic_imported_first_is_left_to_betterproto2() -> None:
    result = _run(
        "import json, pydantic\n"
        "import yandex_art._gen.proto.yandex.cloud.operation\n"
        "import betterproto2\n"
        "print(json.dumps({'bp_pydantic': betterproto2.pydantic is pydantic}))"
    )
    assert result["bp_pydantic"] is True


def test_another_thread_importing_pydantic_meanwhile_never_fails() -> None:
    """The stand-ins are installed under the global import lock: no thread sees them."""
    script = (
        "import threading, sys\n"
        "errors = []\n"
        "def other():\n"
        "    try:\n"
        "        import pydantic\n"
        "        assert pydantic.BaseModel\n"
        "    except BaseException as exc:\n"
        "        errors.append(repr(exc))\n"
        "t = threading.Thread(target=other)\n"
        "t.start()\n"
        "import yandex_art._gen.proto.yandex.cloud.operation\n"
        "t.join()\n"
        "print('ERR' if errors else 'OK', errors)\n"
    )
    failures = []
    for _ in range(12):
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        if not result.stdout.startswith("OK"):
            failures.append(result.stdout + result.stderr)
    assert failures == []

"""Locating and running the pinned external tools (protoc, the plugin, ruff)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


class CodegenError(RuntimeError):
    """A failure to report as a message (bad spec, missing tool, tool error), not a traceback."""


PINNED = ("grpcio-tools", "betterproto2-compiler", "datamodel-code-generator", "ruff")


def versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in (*PINNED, "jinja2")}


def bin_dir() -> Path:
    return Path(sys.executable).parent


def tool(name: str) -> str:
    found = bin_dir() / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        raise CodegenError(
            f"{name} not found; install the codegen extra: pip install -e '.[codegen]'"
        )
    return which


def include_roots(specs: Path) -> list[Path]:
    """googleapis first (google/api, google/rpc), then protobuf's own, then the specs."""
    import grpc_tools

    roots: list[Path] = []
    for entry in sys.path:
        if entry and (Path(entry) / "google" / "api" / "annotations.proto").exists():
            roots.append(Path(entry))
            break
    else:
        raise CodegenError(
            "googleapis-common-protos is not installed (google/api/annotations.proto)"
        )
    roots.append(Path(grpc_tools.__file__).parent / "_proto")
    roots.append(specs)
    return roots


def find_proto(name: str, roots: list[Path]) -> Path:
    for root in roots:
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(name)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{bin_dir()}{os.pathsep}{e.get('PATH', '')}"
    return e


def run(cmd: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_with_input(cmd: list[str], cwd: Path, data: bytes) -> subprocess.Popen[bytes]:
    """Starts ``cmd`` and feeds it ``data`` on stdin from a thread (so it runs in parallel)."""
    import threading

    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out: list[bytes] = []
    err: list[bytes] = []

    def pump() -> None:
        o, e = proc.communicate(data)
        out.append(o)
        err.append(e)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    proc._pump = (thread, out, err)  # type: ignore[attr-defined]
    return proc


def finish_with_output(proc: subprocess.Popen[bytes], what: str) -> bytes:
    thread, out, err = proc._pump  # type: ignore[attr-defined]
    thread.join()
    if proc.returncode != 0:
        raise CodegenError(f"{what} failed ({proc.returncode}):\n{err[0].decode()}")
    return bytes(out[0])


def finish(proc: subprocess.Popen[bytes], what: str) -> None:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise CodegenError(f"{what} failed ({proc.returncode}):\n{err.decode()}{out.decode()}")


def load_yaml(text: str) -> Any:
    """YAML through libyaml when PyYAML has it (ten times faster on the OpenAPI document)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)

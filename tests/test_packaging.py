"""What a PyPI user gets: one version, ranges not pins, a licence, honest metadata.

The heavy part (building the wheel and sdist and installing them in fresh
environments) is `.ci/release_check`; these are the cheap checks.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli there
    import tomli as tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import yandex_art

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data


def _runtime(project: dict[str, Any]) -> list[Requirement]:
    return [Requirement(r) for r in project["project"]["dependencies"]]


def _lower_bound(req: Requirement) -> Version:
    bounds = [Version(s.version) for s in req.specifier if s.operator == ">="]
    assert len(bounds) == 1, f"{req} needs exactly one >= lower bound"
    return bounds[0]


def test_version_has_one_source(project: dict[str, Any]) -> None:
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    source = ROOT / project["tool"]["hatch"]["version"]["path"]
    assert source == ROOT / "src/yandex_art/__init__.py"
    assert re.findall(r'^__version__ = "([^"]+)"$', source.read_text(), re.M) == [
        yandex_art.__version__
    ]


def test_installed_metadata_has_the_package_version() -> None:
    # Fails after a version bump until the project is reinstalled (pip install -e .).
    assert importlib.metadata.version("yandex-art-sdk") == yandex_art.__version__


def test_cli_and_user_agent_report_the_package_version() -> None:
    sdk = yandex_art.AIStudio(folder_id="f", auth="fake-key", env={})
    assert sdk._core.settings.user_agent.startswith(
        f"yandex-art-sdk/{yandex_art.__version__} python/"
    )
    sdk.close()
    out = subprocess.run(
        [sys.executable, "-m", "yandex_art", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["yandex-art", yandex_art.__version__]


def test_import_does_not_load_importlib_metadata() -> None:
    # The version is a literal: reading it at import time would cost cold start.
    code = (
        "import sys, yandex_art; v = yandex_art.__version__;"
        " print('importlib.metadata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_runtime_dependencies_are_ranges_not_pins(project: dict[str, Any]) -> None:
    for req in _runtime(project):
        operators = {s.operator for s in req.specifier}
        assert not operators & {"==", "==="}, f"{req} is an exact pin"
        _lower_bound(req)


def test_betterproto2_range_matches_the_generator(project: dict[str, Any]) -> None:
    # betterproto2 accepts generated code only from a compiler of the same minor version.
    codegen = [Requirement(r) for r in project["project"]["optional-dependencies"]["codegen"]]
    compiler = next(r for r in codegen if r.name == "betterproto2-compiler")
    pinned = Version(next(iter(compiler.specifier)).version)
    runtime = next(r for r in _runtime(project) if r.name == "betterproto2")
    allowed = [f"{pinned.major}.{pinned.minor}.{n}" for n in (0, 1, 9, 99)]
    assert all(runtime.specifier.contains(v) for v in allowed), runtime
    assert not runtime.specifier.contains(f"{pinned.major}.{pinned.minor + 1}.0"), runtime
    assert not runtime.specifier.contains(f"{pinned.major}.{pinned.minor - 1}.9"), runtime


def test_lowest_constraints_pin_each_lower_bound(project: dict[str, Any]) -> None:
    """`nox -s lowest` tests exactly the lower bounds that pyproject.toml declares."""
    emulator = [Requirement(r) for r in project["project"]["optional-dependencies"]["emulator"]]
    declared = {r.name.lower(): _lower_bound(r) for r in _runtime(project) + emulator}
    pinned = {}
    for line in (ROOT / ".ci/lowest-constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pinned[req.name.lower()] = Version(spec.version)
    assert pinned == declared


def test_license_file_is_shipped(project: dict[str, Any]) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "yandex-art-sdk contributors" in text
    assert project["project"]["license"] == "MIT"
    assert project["project"]["license-files"] == ["LICENSE"]
    assert "License :: OSI Approved :: MIT License" in project["project"]["classifiers"]
    # The installed distribution (an editable wheel here) carries the file too.
    files = importlib.metadata.files("yandex-art-sdk") or []
    assert any(str(f).endswith(".dist-info/licenses/LICENSE") for f in files)


def test_classifiers_match_the_project(project: dict[str, Any]) -> None:
    classifiers = project["project"]["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert (ROOT / "src/yandex_art/py.typed").exists()
    minimum = re.fullmatch(r">=3\.(\d+)", project["project"]["requires-python"])
    assert minimum, project["project"]["requires-python"]
    versions = sorted(
        int(m[1]) for c in classifiers if (m := re.fullmatch(r".*Python :: 3\.(\d+)", c))
    )
    assert versions and versions[0] == int(minimum[1])


def test_nox_tests_every_python_the_classifiers_name(project: dict[str, Any]) -> None:
    classifiers = project["project"]["classifiers"]
    claimed = [m[1] for c in classifiers if (m := re.fullmatch(r".*Python :: (3\.\d+)", c))]
    noxfile = (ROOT / "noxfile.py").read_text()
    listed = re.search(r"^PYTHONS = \[(.*)\]$", noxfile, re.M)
    assert listed, "noxfile.py has no PYTHONS list"
    assert re.findall(r'"(3\.\d+)"', listed[1]) == sorted(claimed, key=lambda v: int(v[2:]))
    assert "@nox.session(python=PYTHONS)\ndef tests(" in noxfile


def test_dev_extra_has_the_release_tools(project: dict[str, Any]) -> None:
    dev = {Requirement(r).name for r in project["project"]["optional-dependencies"]["dev"]}
    assert {"nox", "build", "twine"} <= dev


def test_ci_runs_the_release_check() -> None:
    ci = (ROOT / ".ci/run").read_text().splitlines()
    tests = next(i for i, line in enumerate(ci) if "python -m pytest" in line)
    check = next(i for i, line in enumerate(ci) if ".ci/release_check" in line)
    assert tests < check
    assert (ROOT / ".ci/release_check").stat().st_mode & 0o111


def test_rest_models_import_without_warnings() -> None:
    # pydantic < 2.10 warned about the REST models' model_* fields.
    code = (
        "import warnings; warnings.simplefilter('error');"
        "import yandex_art._gen.rest.models, yandex_art._gen.transports"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ci_installs_redis_for_the_quota_store_tests(project: dict[str, Any]) -> None:
    ci = (ROOT / ".ci/run").read_text()
    tests = ci.index("python -m pytest")
    assert -1 < ci.find("apt-get install") < tests and "redis-server" in ci
    assert -1 < ci.find("YANDEX_ART_TESTS_NEED_REDIS=1") < tests
    extras = project["project"]["optional-dependencies"]
    assert [Requirement(r).name for r in extras["redis"]] == ["redis"]
    assert any("redis" in Requirement(r).extras for r in extras["test"])

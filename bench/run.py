"""Benchmark this SDK against the official one (yandex-ai-studio-sdk) on a local emulator.

    nox -s bench [-- ARGS]            # or, in an environment with .[emulator,codegen]:
    python bench/run.py [--quick] [--only cold,lag,throughput,quota,codegen] [...]

Each SDK runs in its own virtual environment holding only what a user's
install would: the official one in bench/.venv-official (pip install
yandex-ai-studio-sdk==0.22.1), this one in bench/.venv-ours (pip install -e .);
both are created on first use and reused. Emulators and the generator run in
the environment this script runs in (it needs .[emulator,codegen]). Emulators are
started as subprocesses (``python -m yandex_art emulator``) on loopback; each
worker (bench/worker_ours.py, bench/worker_official.py) runs in its SDK's
environment and prints one JSON line. This script prints one table and writes
bench/results/latest.json. See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OFFICIAL_REQUIREMENT = "yandex-ai-studio-sdk==0.22.1"
SDKS = ("ours", "official")
SECTIONS = ("cold", "lag", "throughput", "quota", "codegen")


# -- environment -----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed_version(python: Path, distribution: str) -> str | None:
    probe = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: pass\n"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", probe, distribution],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def make_venv(venv: Path, base_python: str, *requirements: str) -> Path:
    """Create ``venv`` (when missing) and pip-install ``requirements`` into it."""
    python = venv_python(venv)
    if not python.exists():
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    quiet = ["--quiet", "--disable-pip-version-check"]
    subprocess.run([str(python), "-m", "pip", "install", *quiet, *requirements], check=True)
    return python


def ensure_ours_venv(venv: Path, base_python: str) -> Path:
    """This SDK's interpreter: ``venv`` with ``pip install -e .`` and no extras.

    Like the official SDK's, it holds only what a user's install would (no
    emulator, codegen or test packages). Reinstalled when pyproject.toml changes.
    """
    python = venv_python(venv)
    stamp = venv / ".bench-pyproject-sha256"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    log(f"creating {venv} with an editable install of this SDK")
    make_venv(venv, base_python, "-e", str(ROOT))
    stamp.write_text(digest + "\n")
    return python


def compile_ours(python: Path) -> None:
    """Byte-compile this SDK's source, as ``pip install`` does for a wheel (and did for the
    official SDK's venv). An editable install imports from the tree, where nothing writes
    ``.pyc`` files when PYTHONDONTWRITEBYTECODE is set: every cold start would then compile
    every module, a cost no installed user pays."""
    for folder in (ROOT / "src", ROOT / "generated"):
        subprocess.run([str(python), "-m", "compileall", "-q", str(folder)], check=True)


def ensure_official_venv(venv: Path, base_python: str) -> Path:
    """The official SDK's interpreter: ``venv`` with the pinned SDK, created when missing."""
    python = venv_python(venv)
    wanted = OFFICIAL_REQUIREMENT.split("==")[1]
    if python.exists() and installed_version(python, "yandex-ai-studio-sdk") == wanted:
        return python
    log(f"creating {venv} with {OFFICIAL_REQUIREMENT}")
    return make_venv(venv, base_python, OFFICIAL_REQUIREMENT)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(ours_python: Path, official_python: Path) -> dict[str, Any]:
    def version_of(python: str | Path) -> str:
        out = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip()

    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python_ours": version_of(ours_python),
        "python_official": version_of(official_python),
        "sdk_ours": installed_version(Path(ours_python), "yandex-art-sdk"),
        "sdk_official": installed_version(official_python, "yandex-ai-studio-sdk"),
    }


# -- emulator --------------------------------------------------------------------------------


class Emulator:
    """``python -m yandex_art emulator`` in a subprocess; stats and reset over REST debug paths."""

    def __init__(
        self,
        python: str,
        *,
        generation_seconds: float,
        read_quota: int,
        log_dir: Path,
        jitter: float = 0.0,
    ) -> None:
        self.generation_seconds = generation_seconds
        self.read_quota = read_quota
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log: IO[str] = open(  # closed in close()
            log_dir / f"emulator-{generation_seconds:g}s-q{read_quota}.log", "a"
        )
        command = [
            python,
            "-m",
            "yandex_art",
            "emulator",
            "--host",
            "127.0.0.1",
            "--grpc-port",
            "0",
            "--rest-port",
            "0",
            "--generation-seconds",
            str(generation_seconds),
            "--read-quota",
            str(read_quota),
            "--jitter",
            str(jitter),
        ]
        self._proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=ROOT
        )
        line = self._first_line(timeout=30.0)
        try:
            info = json.loads(line)
            self.grpc: str = info["grpc"]
            self.rest: str = info["rest"].rstrip("/")
        except (ValueError, KeyError, TypeError):
            self.close()
            raise RuntimeError(f"the emulator printed {line!r} instead of its addresses") from None

    def _first_line(self, timeout: float) -> str:
        box: list[str] = []
        stdout = self._proc.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            self.close()
            raise RuntimeError("the emulator did not start (see bench/results/*.log)")
        return box[0]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.rest + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read() or b"{}")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_emulator/stats")
        return result

    def reset(self) -> None:
        self._call("POST", "/_emulator/reset", {})

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._log.close()


@contextlib.contextmanager
def emulator(
    python: str, generation_seconds: float, read_quota: int, log_dir: Path, jitter: float = 0.0
) -> Iterator[Emulator]:
    emu = Emulator(
        python,
        generation_seconds=generation_seconds,
        read_quota=read_quota,
        log_dir=log_dir,
        jitter=jitter,
    )
    try:
        yield emu
    finally:
        emu.close()


# -- workers ---------------------------------------------------------------------------------


@dataclass
class Workers:
    pythons: dict[str, str]
    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def command(self, sdk: str, mode: str, *args: str) -> list[str]:
        return [self.pythons[sdk], str(BENCH / f"worker_{sdk}.py"), mode, *args]

    def start(self, sdk: str, mode: str, *args: str) -> subprocess.Popen[str]:
        errors = open(self.log_dir / f"worker-{sdk}-{mode}.log", "a")
        env = dict(self.env)
        env.pop("PYTHONPATH", None)  # each worker sees only its own environment
        try:
            return subprocess.Popen(
                self.command(sdk, mode, *args),
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                cwd=BENCH,
                env=env,
            )
        finally:
            errors.close()

    @staticmethod
    def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeError(f"worker {proc.args!r} ran over {timeout:g} s") from None
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(
                f"worker {proc.args!r} failed (exit {proc.returncode}); see bench/results/*.log"
            )
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def run(self, sdk: str, mode: str, *args: str, timeout: float = 600) -> dict[str, Any]:
        return self.finish(self.start(sdk, mode, *args), timeout)


# -- statistics ------------------------------------------------------------------------------


def alternating(runs: int) -> Iterator[str]:
    """The SDKs ``runs`` times, the order flipped every other run (neither always goes first)."""
    for index in range(runs):
        yield from (SDKS if index % 2 == 0 else SDKS[::-1])


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(ours: float | None, official: float | None) -> float | None:
    if ours is None or official is None or official == 0:
        return None
    return ours / official


def with_ratio(pair: dict[str, dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    pair["ratio"] = {key: ratio(pair["ours"].get(key), pair["official"].get(key)) for key in keys}
    return pair


# -- sections --------------------------------------------------------------------------------


@dataclass
class Settings:
    cold_runs: int
    lag_runs: dict[float, int]
    lag_concurrent: bool
    lag_jitter: float
    tp_ops: int
    tp_runs: int
    concurrency: int
    quota_ops: int
    quota_seconds: float
    quota_rate: int
    quota_runs: int
    quota_deadline: float
    codegen_runs: int


def bench_cold(workers: Workers, tools_python: str, runs: int, log_dir: Path) -> dict[str, Any]:
    """Fresh processes: import, client, one instant operation, exit. SDKs alternate."""
    samples: dict[str, list[dict[str, Any]]] = {sdk: [] for sdk in SDKS}
    with emulator(tools_python, 0, 0, log_dir) as emu:
        for sdk in SDKS:  # one unmeasured run each: warm the page cache
            workers.run(sdk, "cold", "--endpoint", emu.grpc, timeout=120)
        for sdk in alternating(runs):
            t0 = time.perf_counter()
            result = workers.run(sdk, "cold", "--endpoint", emu.grpc, timeout=120)
            result["process_wall_s"] = time.perf_counter() - t0
            samples[sdk].append(result)
    out: dict[str, Any] = {}
    for sdk in SDKS:
        runs_of = samples[sdk]
        out[sdk] = {
            "wall_s": median([r["process_wall_s"] for r in runs_of]),
            "in_process_s": median([r["in_process_s"] for r in runs_of]),
            "import_s": median([r["import_s"] for r in runs_of]),
            "operation_s": median([r["operation_s"] for r in runs_of]),
            "peak_rss_mib": median([r["maxrss_kb"] / 1024 for r in runs_of]),
            "cpu_s": median([r["cpu_s"] for r in runs_of]),
            "runs": runs_of,
        }
    return with_ratio(
        out, ("wall_s", "in_process_s", "import_s", "operation_s", "peak_rss_mib", "cpu_s")
    )


def _lag_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    lags = [r["lag_s"] for r in runs]
    reads = [r["reads"] for r in runs]
    return {
        "lag_median_s": median(lags),
        "lag_mean_s": statistics.fmean(lags) if lags else None,
        "lag_first_s": lags[0] if lags else None,
        "lag_learned_median_s": median(lags[1:]),
        "reads_median": median(reads),
        "reads_first": reads[0] if reads else None,
        "reads_learned_median": median(reads[1:]),
        "runs": runs,
    }


def bench_lag(
    workers: Workers, tools_python: str, settings: Settings, log_dir: Path
) -> dict[str, Any]:
    """One emulator per generation time; per SDK one worker running every series in turn."""
    durations = sorted(settings.lag_runs)
    with contextlib.ExitStack() as stack:
        emus = {
            s: stack.enter_context(emulator(tools_python, s, 50, log_dir, settings.lag_jitter))
            for s in durations
        }
        series = json.dumps(
            [
                {"label": f"{s:g}", "endpoint": emus[s].grpc, "runs": settings.lag_runs[s]}
                for s in durations
            ]
        )
        budget = sum((s + 15) * n for s, n in settings.lag_runs.items()) + 120
        results: dict[str, dict[str, Any]] = {}
        if settings.lag_concurrent:
            procs = {sdk: workers.start(sdk, "lag", "--series", series) for sdk in SDKS}
            for sdk, proc in procs.items():
                results[sdk] = workers.finish(proc, budget)
        else:
            for sdk in SDKS:
                results[sdk] = workers.run(sdk, "lag", "--series", series, timeout=budget)
        stats = {s: emus[s].stats()["operations"] for s in durations}
    out: dict[str, Any] = {"concurrent": settings.lag_concurrent}
    for s in durations:
        label = f"{s:g}"
        pair: dict[str, dict[str, Any]] = {}
        for sdk in SDKS:
            (item,) = [x for x in results[sdk]["series"] if x["label"] == label]
            runs = []
            for run in item["runs"]:
                op = stats[s][run["operation_id"]]
                runs.append(
                    {
                        "operation_id": run["operation_id"],
                        "lag_s": run["returned"] - op["done_monotonic"],
                        "total_s": run["returned"] - run["start"],
                        "reads": op["reads"],
                        "client_reads": run["client_reads"],
                    }
                )
            pair[sdk] = _lag_summary(runs)
        out[label] = with_ratio(
            pair,
            (
                "lag_median_s",
                "lag_mean_s",
                "lag_first_s",
                "lag_learned_median_s",
                "reads_median",
                "reads_first",
                "reads_learned_median",
            ),
        )
    return out


def bench_throughput(
    workers: Workers, tools_python: str, settings: Settings, log_dir: Path
) -> dict[str, Any]:
    """Instant operations, sync sequential and async concurrent; a fresh process per run."""
    out: dict[str, Any] = {}
    modes = {
        "sequential": ("seq", ()),
        "concurrent": ("conc", ("--concurrency", str(settings.concurrency))),
    }
    # No read quota here: the official SDK reads every operation once even when
    # it is already done, and 50 reads/s would cap it, not measure it.
    with emulator(tools_python, 0, 0, log_dir) as emu:
        for name, (mode, extra) in modes.items():
            samples: dict[str, list[dict[str, Any]]] = {sdk: [] for sdk in SDKS}
            for sdk in alternating(settings.tp_runs):
                emu.reset()
                result = workers.run(
                    sdk,
                    mode,
                    "--endpoint",
                    emu.grpc,
                    "--ops",
                    str(settings.tp_ops),
                    *extra,
                    timeout=900,
                )
                stats = emu.stats()
                ops = max(stats["calls"]["generate"], 1)
                result["reads_per_op"] = stats["reads"] / ops
                samples[sdk].append(result)
            pair: dict[str, dict[str, Any]] = {}
            for sdk in SDKS:
                runs = samples[sdk]
                pair[sdk] = {
                    "ops": settings.tp_ops,
                    "ops_per_s": median([r["ops_per_s"] for r in runs]),
                    "cpu_per_op_ms": median([r["cpu_per_op_s"] * 1000 for r in runs]),
                    "peak_rss_mib": median([r["maxrss_kb"] / 1024 for r in runs]),
                    "reads_per_op": median([r["reads_per_op"] for r in runs]),
                    "runs": runs,
                }
            out[name] = with_ratio(
                pair, ("ops_per_s", "cpu_per_op_ms", "peak_rss_mib", "reads_per_op")
            )
    return out


def bench_quota(
    workers: Workers, tools_python: str, settings: Settings, log_dir: Path
) -> dict[str, Any]:
    """Many concurrent operations against an emulator enforcing the read quota; SDKs in turn."""
    samples: dict[str, list[dict[str, Any]]] = {sdk: [] for sdk in SDKS}
    with emulator(tools_python, settings.quota_seconds, settings.quota_rate, log_dir) as emu:
        for sdk in alternating(settings.quota_runs):
            emu.reset()
            result = workers.run(
                sdk,
                "quota",
                "--endpoint",
                emu.grpc,
                "--ops",
                str(settings.quota_ops),
                "--deadline",
                str(settings.quota_deadline),
                timeout=settings.quota_deadline + 120,
            )
            stats = emu.stats()
            ids = result.pop("operation_ids")
            ops = stats["operations"]
            done = [ops[i]["done_monotonic"] for i in ids if ops[i]["done_monotonic"]]
            result["emulator"] = {
                "reads": stats["reads"],
                "resource_exhausted": stats["resource_exhausted"],
                "max_reads_per_window": stats["max_reads_per_window"],
                "read_quota": stats["read_quota"],
                "reads_per_op": stats["reads"] / max(len(ids), 1),
                "last_done_after_start_s": (max(done) - result["start"]) if done else None,
            }
            samples[sdk].append(result)
            time.sleep(2)  # let the quota window drain before the next client
    out: dict[str, Any] = {}
    for sdk in SDKS:
        runs = samples[sdk]
        out[sdk] = {
            "ops": settings.quota_ops,
            "seconds_per_op": settings.quota_seconds,
            "read_quota": settings.quota_rate,
            "completed": median([r["completed"] for r in runs]),
            "failed": median([r["failed"] for r in runs]),
            "unfinished": median([r["unfinished"] for r in runs]),
            "wall_s": median([r["wall_s"] for r in runs]),
            "max_reads_per_s": median([r["emulator"]["max_reads_per_window"] for r in runs]),
            "resource_exhausted": median([r["emulator"]["resource_exhausted"] for r in runs]),
            "reads_per_op": median([r["emulator"]["reads_per_op"] for r in runs]),
            "peak_rss_mib": median([r["maxrss_kb"] / 1024 for r in runs]),
            "cpu_s": median([r["run_cpu_s"] for r in runs]),
            "errors": runs[-1]["errors"],
            "runs": runs,
        }
    return with_ratio(
        out,
        (
            "completed",
            "wall_s",
            "max_reads_per_s",
            "resource_exhausted",
            "reads_per_op",
            "peak_rss_mib",
            "cpu_s",
        ),
    )


def bench_codegen(tools_python: str, runs: int) -> dict[str, Any]:
    times: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [tools_python, "-m", "codegen", "--out", str(Path(tmp) / "generated")],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - t0)
    return {"wall_s": median(times), "runs": times}


# -- report ----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** -(digits - 1):
            return f"{value:.2e}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{max(digits - 1, 1)}f}"
    return str(value)


# (row label after the section name, key in each SDK's figures), in table order.
COLD_ROWS = (
    ("process wall time (s)", "wall_s"),
    ("of which SDK import (s)", "import_s"),
    ("of which first operation (s)", "operation_s"),
    ("peak RSS (MiB)", "peak_rss_mib"),
)
LAG_ROWS = (
    ("median, all runs (s)", "lag_median_s"),
    ("mean, all runs (s)", "lag_mean_s"),
    ("first run, unlearned (s)", "lag_first_s"),
    ("median, runs 2+ (s)", "lag_learned_median_s"),
    ("reads/op, median", "reads_median"),
    ("reads/op, first run", "reads_first"),
)
THROUGHPUT_ROWS = (
    ("ops/s", "ops_per_s"),
    ("CPU ms/op", "cpu_per_op_ms"),
    ("peak RSS (MiB)", "peak_rss_mib"),
    ("reads/op", "reads_per_op"),
)
QUOTA_ROWS = (
    ("completed", "completed"),
    ("failed", "failed"),
    ("wall time (s)", "wall_s"),
    ("max reads in 1 s", "max_reads_per_s"),
    ("RESOURCE_EXHAUSTED", "resource_exhausted"),
    ("reads/op", "reads_per_op"),
    ("client CPU (s)", "cpu_s"),
    ("peak RSS (MiB)", "peak_rss_mib"),
)


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []

    def add_all(head: str, pair: dict[str, Any], metrics: Sequence[tuple[str, str]]) -> None:
        for label, key in metrics:
            cells = (pair["ours"].get(key), pair["official"].get(key), pair["ratio"].get(key))
            rows.append((f"{head}: {label}", *(_fmt(c) for c in cells)))

    if "cold" in results:
        add_all("cold start", results["cold"], COLD_ROWS)
    if "lag" in results:
        for label, pair in results["lag"].items():
            if isinstance(pair, dict):
                add_all(f"lag {label} s", pair, LAG_ROWS)
    if "throughput" in results:
        for name, pair in results["throughput"].items():
            add_all(f"{name} {pair['ours']['ops']} ops", pair, THROUGHPUT_ROWS)
    if "quota" in results:
        q = results["quota"]
        ours = q["ours"]
        head = f"quota {ours['ops']}x{ours['seconds_per_op']:g} s @{ours['read_quota']}/s"
        add_all(head, q, QUOTA_ROWS)
    if "codegen" in results:
        rows.append(("codegen: full regeneration (s)", _fmt(results["codegen"]["wall_s"]), "", ""))
    return rows


def render_table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("metric", "ours", "official", "ours/official")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The project's goals, each with met/missed and the figures behind it."""
    out: list[tuple[str, bool | None, str]] = []
    if "lag" in results:
        for label, pair in results["lag"].items():
            if not isinstance(pair, dict):
                continue
            ours, off = pair["ours"], pair["official"]
            lag_ok = ours["lag_median_s"] <= off["lag_median_s"] / 10
            reads_ok = ours["reads_median"] <= 3 * off["reads_median"]
            out.append(
                (
                    f"lag {label} s: ours <= 1/10 official, reads <= 3x",
                    lag_ok and reads_ok,
                    f"lag {ours['lag_median_s']:.3f} vs {off['lag_median_s']:.3f} s, "
                    f"reads {ours['reads_median']:g} vs {off['reads_median']:g}",
                )
            )
    if "quota" in results:
        ours = results["quota"]["ours"]
        ok = ours["resource_exhausted"] == 0 and ours["completed"] == ours["ops"]
        out.append(
            (
                "quota: ours no RESOURCE_EXHAUSTED, all ops finish",
                ok,
                f"{ours['completed']}/{ours['ops']} completed, "
                f"{ours['resource_exhausted']} RESOURCE_EXHAUSTED",
            )
        )
    if "cold" in results:
        r = results["cold"]["ratio"]["wall_s"]
        out.append(
            ("cold start: ours <= 1/2 official", r is not None and r <= 0.5, f"ratio {r:.2f}")
        )
    rss_pairs: list[tuple[str, dict[str, Any]]] = []
    if "cold" in results:
        rss_pairs.append(("cold start", results["cold"]))
    if "throughput" in results:
        for name, pair in results["throughput"].items():
            r = pair["ratio"]["cpu_per_op_ms"]
            out.append(
                (f"{name}: CPU per op <= official", r is not None and r <= 1, f"ratio {r:.2f}")
            )
            rss_pairs.append((name, pair))
    if "quota" in results:
        rss_pairs.append(("quota", results["quota"]))
    for name, pair in rss_pairs:
        r = pair["ratio"]["peak_rss_mib"]
        out.append((f"{name}: peak RSS <= official", r is not None and r <= 1, f"ratio {r:.2f}"))
    return out


# -- main ------------------------------------------------------------------------------------


def parse_lag_runs(text: str) -> dict[float, int]:
    runs: dict[float, int] = {}
    for part in text.split(","):
        seconds, _, count = part.partition(":")
        runs[float(seconds)] = int(count or 1)
    return runs


def build_settings(args: argparse.Namespace) -> Settings:
    quick = args.quick
    return Settings(
        cold_runs=args.cold_runs or (3 if quick else 7),
        lag_runs=parse_lag_runs(args.lag_runs or ("0.5:2,3:2" if quick else "0.5:5,3:5,20:5")),
        lag_concurrent=not args.lag_sequential,
        lag_jitter=args.lag_jitter,
        tp_ops=args.ops or (100 if quick else 1000),
        tp_runs=args.tp_runs or (1 if quick else 3),
        concurrency=args.concurrency,
        quota_ops=args.quota_ops or (200 if quick else 1000),
        quota_seconds=args.quota_seconds,
        quota_rate=args.quota_rate,
        quota_runs=args.quota_runs or 1,
        quota_deadline=args.quota_deadline,
        codegen_runs=args.codegen_runs or (1 if quick else 3),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs and operations (smoke run)"
    )
    parser.add_argument("--cold-runs", type=int, help="cold starts per SDK (7; quick 3)")
    parser.add_argument("--lag-runs", help="SECONDS:RUNS,... (0.5:5,3:5,20:5; quick 0.5:2,3:2)")
    parser.add_argument(
        "--lag-sequential",
        action="store_true",
        help="run the two SDKs' lag series one after the other (default: at the same time)",
    )
    parser.add_argument(
        "--lag-jitter",
        type=float,
        default=0.1,
        help=(
            "spread of the lag runs' generation times (0.1: +-10%%, as real generations"
            " vary; 0 makes every run take exactly the nominal time, which lets a fixed"
            " 10 s poll period land just after a 20 s generation by luck)"
        ),
    )
    parser.add_argument("--ops", type=int, help="throughput operations per run (1000; quick 100)")
    parser.add_argument("--tp-runs", type=int, help="throughput runs per SDK and mode (3; quick 1)")
    parser.add_argument("--concurrency", type=int, default=100, help="async semaphore (100)")
    parser.add_argument(
        "--quota-ops", type=int, help="operations in the quota run (1000; quick 200)"
    )
    parser.add_argument("--quota-seconds", type=float, default=5.0, help="their duration (5)")
    parser.add_argument("--quota-rate", type=int, default=50, help="emulator reads/s quota (50)")
    parser.add_argument("--quota-runs", type=int, help="quota runs per SDK (1)")
    parser.add_argument(
        "--quota-deadline", type=float, default=300.0, help="give up on a quota run after (300 s)"
    )
    parser.add_argument("--codegen-runs", type=int, help="regenerations (3; quick 1)")
    parser.add_argument(
        "--ours-venv", type=Path, default=BENCH / ".venv-ours", help="this SDK's venv"
    )
    parser.add_argument(
        "--ours-python", type=Path, help="run this SDK's workers with this interpreter instead"
    )
    parser.add_argument(
        "--official-venv", type=Path, default=BENCH / ".venv-official", help="official SDK's venv"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "latest.json")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="only print the table of an earlier run"
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        present(json.loads(args.render.read_text()))
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    settings = build_settings(args)

    tools_python = sys.executable  # the emulator and the generator
    ours_python = args.ours_python or ensure_ours_venv(args.ours_venv, sys.executable)
    compile_ours(Path(ours_python))
    official_python = ensure_official_venv(args.official_venv, sys.executable)
    log_dir = args.out.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = Workers({"ours": str(ours_python), "official": str(official_python)}, log_dir)
    machine = machine_info(ours_python, official_python)
    log(
        f"machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python_ours']} "
        f"(official venv: {machine['python_official']})"
    )

    started = time.time()
    results: dict[str, Any] = {}
    if "cold" in sections:
        log(f"cold start: {settings.cold_runs} runs per SDK")
        results["cold"] = bench_cold(workers, tools_python, settings.cold_runs, log_dir)
    if "lag" in sections:
        log(
            f"completion lag: {settings.lag_runs} runs per setting, SDKs "
            + ("concurrently" if settings.lag_concurrent else "one after the other")
        )
        results["lag"] = bench_lag(workers, tools_python, settings, log_dir)
    if "throughput" in sections:
        log(f"throughput: {settings.tp_ops} ops x {settings.tp_runs} runs per SDK and mode")
        results["throughput"] = bench_throughput(workers, tools_python, settings, log_dir)
    if "quota" in sections:
        log(
            f"quota: {settings.quota_ops} ops of {settings.quota_seconds:g} s "
            f"at {settings.quota_rate} reads/s, {settings.quota_runs} run(s) per SDK"
        )
        results["quota"] = bench_quota(workers, tools_python, settings, log_dir)
    if "codegen" in sections:
        log(f"codegen: {settings.codegen_runs} full regenerations")
        results["codegen"] = bench_codegen(tools_python, settings.codegen_runs)
    elapsed = time.time() - started

    report: dict[str, Any] = {
        "machine": machine,
        "settings": {
            **{k: v for k, v in vars(settings).items() if k != "lag_runs"},
            "lag_runs": {f"{k:g}": v for k, v in settings.lag_runs.items()},
            "quick": args.quick,
            "sections": sections,
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "elapsed_s": elapsed,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")  # raw figures first, in any case
    present(report)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


def present(report: dict[str, Any]) -> None:
    """Print the machine, the table and the targets; add the last two to ``report``."""
    machine, results = report["machine"], report["results"]
    rows = table_rows(results)
    goals = targets(results)
    report["table"] = [
        dict(zip(("metric", "ours", "official", "ratio"), r, strict=True)) for r in rows
    ]
    report["targets"] = [{"target": t, "met": ok, "figures": f} for t, ok, f in goals]
    print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['os']}; Python {machine['python_ours']} (ours), "
        f"{machine['python_official']} (official venv)"
    )
    print(
        f"SDKs: yandex-art-sdk {machine['sdk_ours']}, "
        f"yandex-ai-studio-sdk {machine['sdk_official']}"
    )
    quick = " (--quick)" if report["settings"].get("quick") else ""
    print(f"Medians over runs; bench took {report['elapsed_s']:.0f} s{quick}.\n")
    print(render_table(rows))
    if goals:
        print()
        for target, ok, figures in goals:
            mark = "met   " if ok else "MISSED"
            print(f"[{mark}] {target}: {figures}")


if __name__ == "__main__":
    raise SystemExit(main())

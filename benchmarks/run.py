"""`make bench`: run every benchmark and write BENCHMARKS.md at the repository root.

    .venv/bin/python -m benchmarks.run                       # full scale
    BENCH_SCALE=0.01 .venv/bin/python -m benchmarks.run      # quick check at 1% of the sizes
    BENCH_ONLY=national,audit .venv/bin/python -m benchmarks.run   # some of them (the others' last
                                                                   # figures are kept in the report)

Runs `benchmarks/national.py` and every `benchmarks/*_bench.py` module's `run()`, each in its own
process (each configures Django for its own database). Under BENCH_SCALE, a benchmark's integer
sizes (the `run()` parameters whose default is 100 or more) are scaled too, never below 10.
The figures, the machine (CPUs, memory, CPU model, load average when started), the Python and
PostgreSQL versions and the date go to BENCHMARKS.md; the raw figures are kept in it as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "@@BENCHMARK-RESULT@@"

CHILD = """
import inspect, json, os, sys
from importlib import import_module
module = import_module(sys.argv[1])
scale = float(os.environ.get("BENCH_SCALE", "1") or 1)
kwargs = {}
if scale != 1 and sys.argv[1] != "benchmarks.national":
    for name, p in inspect.signature(module.run).parameters.items():
        if isinstance(p.default, int) and not isinstance(p.default, bool) and p.default >= 100:
            kwargs[name] = max(10, int(p.default * scale))
result = module.run(**kwargs)
if kwargs:
    result = {"scaled_parameters": kwargs, **(result if isinstance(result, dict) else {"result": result})}
print(%r + json.dumps(result, default=str), flush=True)
""" % MARKER


def modules() -> list[str]:
    found = ["benchmarks.national"] + sorted(f"benchmarks.{p.stem}" for p in (ROOT / "benchmarks").glob("*_bench.py"))
    only = [s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()]
    return [m for m in found if not only or any(o in m for o in only)]


def run_one(module: str) -> dict:
    print(f"== {module}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", CHILD, module], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    result = None
    for line in process.stdout:
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER):])
        else:
            sys.stdout.write(line)
    process.wait()
    seconds = round(time.perf_counter() - started, 1)
    stamp = {"ran_at": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
             "bench_scale": os.environ.get("BENCH_SCALE", "1") or "1", "wall_seconds": seconds}
    if process.returncode != 0 or result is None:
        return {"error": f"exited with {process.returncode} (see the output above)", **stamp}
    return {**result, **stamp} if isinstance(result, dict) else {"result": result, **stamp}


def previous_results(path: Path) -> dict:
    """The raw figures of the last report, so a partial run (BENCH_ONLY) keeps the others."""
    try:
        text = path.read_text()
        return json.loads(text[text.index("```json") + 7:text.rindex("```")])
    except (OSError, ValueError):
        return {}


# --- the machine ------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict:
    cpu_model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                      if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0)
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    return {
        "cpus (nproc)": nproc,
        "cpu model": cpu_model,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "load average when started (1, 5, 15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python speed (10M-step loop: wall / CPU seconds)": python_speed(),
        "python": platform.python_version(),
        "postgresql": postgres_version(),
        "os": platform.platform(),
    }


def python_speed() -> str:
    """A fixed pure-Python loop: compares this machine (and how busy it was) with others."""
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return f"{time.perf_counter() - wall:.2f} / {time.process_time() - cpu:.2f}"


def postgres_version() -> str:
    url = os.environ.get("CAREACCESS_BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute("SELECT version()").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return f"unknown ({exc.__class__.__name__})"


# --- the report -------------------------------------------------------------------------------


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix, value


def _verdict(value, target, lower_is_better=True) -> str:
    if value is None:
        return "not measured"
    ok = value < target if lower_is_better else value >= target
    return "met" if ok else "MISSED"


def national_section(figures: dict) -> list[str]:
    lines = []
    if "error" in figures:
        return [f"Failed: {figures['error']}", ""]
    load, http = figures.get("load", {}), figures.get("decisions_http", {})
    one = http.get("one_client", {})
    many = next((v for k, v in http.items() if k.endswith("_clients")), {})
    many_label = next((k for k in http if k.endswith("_clients")), "clients")
    rows = load.get("rows", {})
    lines += [f"Scale {figures.get('scale')} of the national size; rows loaded: "
              + ", ".join(f"{v:,} {k}" for k, v in rows.items()) + ".", ""]
    lines += ["| figure | measured | target | |", "| --- | --- | --- | --- |"]
    target_load = 300 * float(figures.get("scale") or 1)
    lines.append(f"| bulk load (catalogue, directory, one audit entry, ANALYZE) | {load.get('seconds')} s | "
                 f"< {target_load:g} s (5 min at full scale) | {_verdict(load.get('seconds'), target_load)} |")
    lines.append(f"| decision p50, one client | {one.get('p50_ms')} ms | < 2 ms | {_verdict(one.get('p50_ms'), 2)} |")
    lines.append(f"| decision p99, one client | {one.get('p99_ms')} ms | < 10 ms | {_verdict(one.get('p99_ms'), 10)} |")
    lines.append(f"| decisions per second, {many_label.replace('_', ' ')} | {many.get('per_second')} | >= 1,000 | "
                 f"{_verdict(many.get('per_second'), 1000, lower_is_better=False)} |")
    lines.append(f"| decision p50 / p99 under that load | {many.get('p50_ms')} / {many.get('p99_ms')} ms | | |")
    cpu = many.get("cpu_ms_per_decision") or {}
    if cpu:
        lines.append("| CPU per decision: " + " / ".join(cpu) + " | " + " / ".join(f"{v} ms" for v in cpu.values()) + " | | |")
        lines.append(f"| decisions/s the server side could answer if its cores were otherwise idle (estimate from CPU) | "
                     f"{many.get('capacity_per_second_if_cores_were_free')} | >= 1,000 | |")
        lines.append(f"| load average during the HTTP run | {many.get('load_average_during')} | | |")
    profile = figures.get("profile", {})
    if profile:
        lines.append(f"| queries per decision (in-process) | {profile.get('queries_per_decision')} | | |")
        lines.append(f"| decision in-process median / of it in queries | {profile.get('median_ms_in_process')} / "
                     f"{profile.get('median_ms_in_queries')} ms | | |")
    lines += ["", "Load time by step (seconds): " + ", ".join(f"{k} {v}" for k, v in load.get("timings", {}).items()), ""]
    return lines


def generic_section(figures: dict) -> list[str]:
    if "error" in figures:
        return [f"Failed: {figures['error']}", ""]
    lines = ["| figure | value |", "| --- | --- |"]
    for key, value in _flatten(figures):
        lines.append(f"| {key} | {value:,} |" if isinstance(value, int) else f"| {key} | {value:,.3f} |")
    return lines + [""]


def write_report(results: dict, info: dict, started: dt.datetime, path: Path) -> None:
    scale = os.environ.get("BENCH_SCALE", "1") or "1"
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m benchmarks.run`) on {started:%Y-%m-%d %H:%M} UTC"
        f"{'' if scale == '1' else f', at BENCH_SCALE={scale}'}. Figures depend on the machine and on what else "
        "was running on it: see the load average below. The machine described is the one of this run; each "
        "section says when it ran and at what scale.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in info.items()),
        "",
    ]
    for module, figures in results.items():
        name = module.split(".", 1)[1]
        lines += [f"## {figures.get('name', name) if isinstance(figures, dict) else name} (`benchmarks/{name}.py`)", ""]
        if isinstance(figures, dict) and figures.get("ran_at"):
            lines += [f"Run {figures['ran_at']}, BENCH_SCALE={figures.get('bench_scale')}.", ""]
        lines += national_section(figures) if name == "national" else generic_section(figures)
    lines += ["## Raw figures", "", "```json", json.dumps(results, indent=2, default=str), "```", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    started = dt.datetime.now(dt.timezone.utc)
    info = machine()
    path = ROOT / "BENCHMARKS.md"
    results = previous_results(path) if os.environ.get("BENCH_ONLY") else {}
    for module in modules():
        results[module] = run_one(module)
    results = dict(sorted(results.items(), key=lambda item: item[0] != "benchmarks.national"))
    write_report(results, info, started, path)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()

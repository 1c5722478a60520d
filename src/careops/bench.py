"""Benchmark support: run the scripts in `benchmarks/`, measure time and peak memory, save JSON.

Each script `benchmarks/bench_<name>.py` has a `main(argv)`; `careops bench NAME` runs it.
Results go to `benchmarks/results/<name>.json` with the machine, the data size, each figure and
its ratio to a baseline measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import runpy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careops.errors import ConfigError


def benchmarks_dir() -> Path:
    """The repository's `benchmarks/` folder (from the working directory or the source tree)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / "benchmarks").is_dir():
            return base / "benchmarks"
    raise ConfigError("no benchmarks/ folder here: run `careops bench` from the repository root")


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in benchmarks_dir().glob("bench_*.py"))


def run(name: str, argv: list[str]) -> None:
    """Run `benchmarks/bench_<name>.py` with `argv` (or every benchmark for 'all')."""
    names = available() if name == "all" else [name]
    for n in names:
        path = benchmarks_dir() / f"bench_{n}.py"
        if not path.is_file():
            raise ConfigError(f"unknown benchmark {n!r}; available: {', '.join(available())}")
        saved = sys.argv
        sys.argv = [str(path), *argv]
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        finally:
            sys.argv = saved


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": os.getloadavg()[0],
    }


def reset_peak_rss() -> None:
    """Start a new peak-memory measurement (Linux: clears VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_gb() -> float:
    """Peak resident memory of this process since the last reset, in GB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


@dataclass
class Measure:
    seconds: float
    peak_gb: float
    value: Any


def measure(fn: Callable[[], Any]) -> Measure:
    """Wall time and peak memory of one call."""
    reset_peak_rss()
    start = time.perf_counter()
    value = fn()
    return Measure(time.perf_counter() - start, peak_rss_gb(), value)


def save(name: str, result: dict[str, Any]) -> Path:
    """Write `benchmarks/results/<name>.json` with the machine and the time of the run."""
    path = benchmarks_dir() / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **result,
    }
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path

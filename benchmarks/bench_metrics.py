"""Benchmark the metric library: time to compute the main metrics (the whole HTML report:
31 KPIs, the funnel, the cohort table and the breakdowns) for 1M patients / 100M events.

Synthetic canonical tables are generated with numpy into Parquet under /tmp (not committed),
loaded into a DuckDB warehouse, and the report's metrics are computed as of one date. A
baseline (10k patients / 1M events) runs in the same invocation; the ratio of the two totals
against the ratio of the data sizes shows how the cost scales.

    python benchmarks/bench_metrics.py [--patients 1000000] [--events 100000000]

Each report is computed in a child process of its own, so its peak memory (the child's VmHWM)
is its own and not the high-water mark of the process that generated and loaded the data; the
load average is recorded next to each figure (the machine may be shared). Run it at a reduced
size first (`--patients 100000 --events 10000000`).

Writes benchmarks/results/metrics.json (metrics_pP_eE.json at other sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import ibis

sys.path.insert(0, str(Path(__file__).parent))
from synth_hospital import generate, load_duckdb

from careops.report import build_report
from careops.warehouse import create_tables

RESULTS = Path(__file__).parent / "results" / "metrics.json"
AS_OF = date(2026, 11, 1)


def run(patients: int, events: int, root: Path, memory_limit: str) -> dict:
    """Generate (once), load and compute; return the measurements."""
    data = root / f"p{patients}_e{events}"
    t0 = time.perf_counter()
    if not (data / "parquet" / "_done").exists():
        shutil.rmtree(data, ignore_errors=True)
        generate(data / "parquet", patients, events, chunk=min(patients, 100_000))
        (data / "parquet" / "_done").touch()
    gen_s = time.perf_counter() - t0
    db = data / "wh.duckdb"
    db.unlink(missing_ok=True)
    con = ibis.duckdb.connect(
        str(db), memory_limit=memory_limit, temp_directory=str(data / "spill")
    )
    create_tables(con)
    t0 = time.perf_counter()
    rows = load_duckdb(con, data / "parquet")
    load_s = time.perf_counter() - t0
    con.disconnect()
    report = _child(db, memory_limit, data / "spill")
    return {
        "patients": patients,
        "events": rows["events"],
        "rows": rows,
        "generate_s": round(gen_s, 1),
        "load_s": round(load_s, 1),
        **report,
        "db_mb": round(db.stat().st_size / 2**20),
    }


def peak_rss_bytes() -> int:
    """This process' own peak resident memory (VmHWM; `ru_maxrss` would include the parent's
    high-water mark at fork)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(db: str, memory_limit: str, spill: str) -> dict:
    """The whole report, in this (child) process."""
    con = ibis.duckdb.connect(db, memory_limit=memory_limit, temp_directory=spill, read_only=True)
    con.raw_sql("SET enable_progress_bar = false")
    timings: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    build_report(con, AS_OF, timings=timings)
    total_s = time.perf_counter() - t0
    con.disconnect()
    return {
        "report_total_s": round(total_s, 2),
        "peak_rss_bytes": peak_rss_bytes(),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "metric_s": timings,
    }


def _child(db: Path, memory_limit: str, spill: Path) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            str(db),
            "--memory-limit",
            memory_limit,
            "--spill",
            str(spill),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"report failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--baseline-patients", type=int, default=10_000)
    ap.add_argument("--baseline-events", type=int, default=1_000_000)
    ap.add_argument("--root", default="/tmp/careops-bench-metrics")
    ap.add_argument("--memory-limit", default="8GB")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--spill", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.memory_limit, args.spill)))
        return
    root = Path(args.root)
    base = run(args.baseline_patients, args.baseline_events, root, args.memory_limit)
    print(json.dumps(base, ensure_ascii=False), flush=True)
    main_run = run(args.patients, args.events, root, args.memory_limit)
    print(json.dumps(main_run, ensure_ascii=False), flush=True)
    out = {
        "benchmark": "metrics",
        "what": "all report metrics (31 KPIs, funnel, weekly cohorts, channel and layer "
        "breakdowns) as of one date on DuckDB",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "ibis": ibis.__version__,
        },
        "as_of": AS_OF.isoformat(),
        "memory_limit": args.memory_limit,
        "baseline": base,
        "run": main_run,
        "size_ratio": round(main_run["events"] / base["events"], 1),
        "time_ratio": round(main_run["report_total_s"] / base["report_total_s"], 1),
        "memory": "peak_rss_bytes is the report child's own VmHWM",
        "aim": {"report_total_s_at_1m_100m": 60},
    }
    full = args.patients == 1_000_000 and args.events == 100_000_000
    path = RESULTS if full else RESULTS.with_name(f"metrics_p{args.patients}_e{args.events}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

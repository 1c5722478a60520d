"""Benchmark `careops.sim.simulate`: events/s and peak memory, extrapolated to 1M users × 1 year.

Each size runs in its own process (so peak RSS is that run's own). The baseline (10k users) and
the measured size (100k users by default) run in the same invocation; the ratio of their
throughputs shows whether cost grows linearly with users (chunking keeps memory flat).

    python benchmarks/bench_simulate.py [--users 100000] [--days 365] [--baseline 10000]

Writes benchmarks/results/simulate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "simulate.json"
TARGET_USERS = 1_000_000
CHILD = """
import json, resource, sys, time
from careops.sim import SimConfig, simulate
users, days, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
r = simulate(SimConfig(users=users, days=days, seed=1), out)
secs = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
size = sum(p.stat().st_size for p in __import__("pathlib").Path(out).rglob("*") if p.is_file())
print(json.dumps({"users": users, "days": days, "seconds": round(secs, 2),
                  "events": r.rows["events"], "rows": r.rows, "peak_rss_mb": round(rss_mb, 1),
                  "output_mb": round(size / 2**20, 1),
                  "calibration_ok": r.calibration["all_ok"]}))
"""


def run(users: int, days: int) -> dict:
    """Simulate in a fresh process and return its measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(users), str(days), tmp + "/out"],
            capture_output=True,
            text=True,
            check=True,
        )
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    m["events_per_s"] = round(m["events"] / m["seconds"])
    m["users_per_s"] = round(users / m["seconds"], 1)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--baseline", type=int, default=10_000)
    args = ap.parse_args()
    base = run(args.baseline, args.days)
    main_run = run(args.users, args.days)
    scale = TARGET_USERS / args.users
    result = {
        "benchmark": "simulate",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "baseline": base,
        "measured": main_run,
        "ratio_events_per_s_to_baseline": round(main_run["events_per_s"] / base["events_per_s"], 3),
        "extrapolated_1m_users_1y": {
            "users": TARGET_USERS,
            "days": args.days,
            "events": round(main_run["events"] * scale),
            "minutes": round(main_run["seconds"] * scale / 60, 1),
            "peak_rss_mb": main_run["peak_rss_mb"],
            "note": "time scales with users (chunks of cfg.chunk_users run one after another); "
            "memory is bounded by one chunk, so the peak does not grow with users",
        },
        "aim": {"minutes": 20, "peak_rss_mb": 8192},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

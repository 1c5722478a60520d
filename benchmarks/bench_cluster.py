"""Benchmark `careops cluster` (k-means over k = 2..8 with silhouette) on a simulated hospital.

The simulator makes a hospital of `--users` patients (default 3,000) and the demo's pipeline
loads it; the clustering then runs twice in the same invocation: the baseline (the settings
before this change: scikit-learn threads unlimited, 10 k-means starts, silhouette on up to 5,000
patients) and the current `cluster_patients`. Both are timed in wall-clock and CPU seconds, and
the chosen k and cluster sizes are compared (the speed-up must not change the answer).

    python benchmarks/bench_cluster.py [--users 3000] [--days 365] [--warehouse duckdb:///…]

Writes benchmarks/results/cluster.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from careops.tags import cluster as C
from careops.tags.snapshot import tags_at
from careops.warehouse import warehouse

RESULTS = Path(__file__).parent / "results" / "cluster.json"


def baseline(con, as_of: dt.date, seed: int = 0) -> tuple[int, list[int]]:
    """The clustering as it was: KMeans(n_init=10) per k, threads unlimited, silhouette on up
    to 5,000 patients."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    data = tags_at(con, as_of, [*C.FEATURES, *C.PROFILE_LAYERS]).order_by("user_id").to_pyarrow()
    z, _ = C._matrix(data)
    scores, models = {}, {}
    for k in range(2, 9):
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        scores[k] = float(
            silhouette_score(z, model.labels_, sample_size=min(5000, len(z)), random_state=seed)
        )
        models[k] = model
    best = max(scores, key=lambda k: (scores[k], -k))
    labels = models[best].predict(z)
    return best, sorted((int(n) for n in np.bincount(labels)), reverse=True)


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - w, 2), round(time.process_time() - c, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--warehouse", help="an existing demo warehouse (skips the simulation)")
    ap.add_argument("--as-of", help="YYYY-MM-DD (default: the end of the simulation)")
    args = ap.parse_args()
    url, as_of = args.warehouse, args.as_of and dt.date.fromisoformat(args.as_of)
    if url is None:
        from careops.demo import prepare_folder, run_demo, warehouse_url
        from careops.service import Ops
        from careops.sim import SimConfig

        folder = Path(tempfile.mkdtemp(prefix="bench-cluster-")) / "demo"
        url = warehouse_url(folder)
        ops = Ops.open(url, f"sqlite:///{folder.parent / 'state.db'}")
        prepare_folder(folder, ops.state_url)
        cfg = SimConfig(users=args.users, days=args.days, seed=0)
        as_of = run_demo(ops, folder, cfg).as_of
        ops.close()
    assert as_of is not None, "--as-of is needed with --warehouse"
    with warehouse(url, read_only=True) as con:
        (k0, sizes0), wall0, cpu0 = timed(lambda: baseline(con, as_of))
        result, wall1, cpu1 = timed(lambda: C.cluster_patients(con, as_of))
    sizes1 = [c.size for c in result.clusters]
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },
        "patients": sum(sizes1),
        "as_of": as_of.isoformat(),
        "baseline": {"wall_s": wall0, "cpu_s": cpu0, "k": k0, "sizes": sizes0},
        "current": {
            "wall_s": wall1,
            "cpu_s": cpu1,
            "k": result.k,
            "sizes": sizes1,
            "names": [c.name_zh for c in result.clusters],
        },
        "speedup_wall": round(wall0 / wall1, 1) if wall1 else None,
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

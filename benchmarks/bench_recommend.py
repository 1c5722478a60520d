"""Benchmark: recommendations for every patient of a simulated hospital (DuckDB).

    careops bench recommend -- [--patients 100000] [--days 365] [--data DIR] [--skip-train]

Simulates `--patients` patients over `--days` days (once; kept under `--data`, default
/tmp/careops-bench-recommend-<patients>), loads them into a DuckDB warehouse, then measures:
training (`recommend.service.train`: two ALS fits — the model and its holdout check — and the
holdout evaluation), and top-10 recommendations for every patient registered before the date
(`recommend_all`) with reasons, without reasons, and by popularity alone under the same rules
(the baseline: the ratio shows what the factors and the reasons cost), each with wall time and
peak memory. The holdout NDCG@10 of the model beside popularity is copied from the model's
evaluation. Writes benchmarks/results/recommend.json; 1M figures are a linear extrapolation
and say so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sim_warehouse import simulated_warehouse


def main(argv: list[str]) -> None:
    from careops.bench import machine, measure, save
    from careops.models.recommend import service
    from careops.service import Ops

    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--skip-train", action="store_true", help="use the newest model")
    args = ap.parse_args(argv)
    wh, cfg = simulated_warehouse("recommend", args.patients, args.days, args.data)
    ops = Ops.open(f"duckdb:///{wh}")
    as_of = cfg.end
    figures: dict[str, dict] = {}

    def cpu(fn):
        """`measure` plus the process's CPU seconds (all threads): on a shared machine the wall
        time counts the other jobs' load, the CPU time does not."""
        c0 = time.process_time()
        m = measure(fn)
        return m, round(time.process_time() - c0, 2)

    if not args.skip_train:
        t, tc = cpu(lambda: service.train(ops, as_of))
        ev = t.value.evaluation
        figures["train"] = {
            "seconds": round(t.seconds, 2),
            "cpu_seconds": tc,
            "peak_gb": t.peak_gb,
            **ev["data"],
            "blend": ev.get("holdout", {}).get("blend", {}).get("weights"),
        }
        h = ev.get("holdout", {})
        if "warm" in h:
            figures["holdout_ndcg10"] = {
                "model": h["warm"]["all"]["model"]["ndcg"],
                "popularity": h["warm"]["all"]["popularity"]["ndcg"],
                "ratio": h["ratio_ndcg"],
                "new_patients_fallback": h["cold"]["fallback"]["ndcg"],
                "new_patients_popularity": h["cold"]["popularity"]["ndcg"],
            }
        print(f"train: {t.seconds:.1f} s ({tc:.1f} s CPU), {t.peak_gb:.2f} GB", flush=True)
    runs = {
        "score_with_reasons": {"with_reasons": True},
        "score_no_reasons": {"with_reasons": False},
        "popularity": {"popularity_only": True},
    }
    for name, kw in runs.items():
        r, rc = cpu(lambda kw=kw: service.recommend_all(ops, as_of, **kw))
        res = r.value
        figures[name] = {
            "seconds": round(r.seconds, 2),
            "cpu_seconds": rc,
            "peak_gb": r.peak_gb,
            "rows": res.table.num_rows,
            "patients": len(set(res.table.column("user_id").to_pylist())),
            "steps": res.seconds,
        }
        print(f"{name}: {r.seconds:.1f} s ({rc:.1f} s CPU), {r.peak_gb:.2f} GB", flush=True)
    base = figures["popularity"]["seconds"]
    base_cpu = figures["popularity"]["cpu_seconds"]
    for name in ("score_with_reasons", "score_no_reasons"):
        f = figures[name]
        f["ratio_to_popularity"] = round(f["seconds"] / max(base, 1e-9), 2)
        f["cpu_ratio_to_popularity"] = round(f["cpu_seconds"] / max(base_cpu, 1e-9), 2)
    scale = 1_000_000 / args.patients
    figures["score_1m_extrapolated"] = {
        "seconds_with_reasons": round(figures["score_with_reasons"]["seconds"] * scale, 1),
        "seconds_no_reasons": round(figures["score_no_reasons"]["seconds"] * scale, 1),
        "cpu_seconds_with_reasons": round(figures["score_with_reasons"]["cpu_seconds"] * scale, 1),
        "note": "linear extrapolation of the measured size (reading, fold-in and ranking are "
        "linear in patients); wall time at the load of the run, CPU seconds summed over the "
        "process's threads (2 cores: an idle machine's wall time is at least half of it); "
        "memory: the history matrix grows linearly, ranking is chunked",
    }
    path = save(
        "recommend",
        {
            "patients": args.patients,
            "days": args.days,
            "as_of": as_of.isoformat(),
            "machine_at_start": machine(),
            "figures": figures,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main(sys.argv[1:])

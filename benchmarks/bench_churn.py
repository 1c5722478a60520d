"""Benchmark: churn training and scoring on a simulated hospital (DuckDB).

    careops bench churn -- [--patients 100000] [--days 365] [--data DIR] [--skip-train]

Simulates `--patients` patients over `--days` days (once; kept under `--data`, default
/tmp/careops-bench-churn-<patients>), loads them into a DuckDB warehouse, then measures in one
run: feature extraction alone (`load_features`, one Ibis query), training
(`churn.service.train`: 12 as-of dates of features and labels, LightGBM, calibration) and
scoring every patient still a user with reasons (`churn.service.score`), each with wall time
and peak memory of the process. The baseline is the feature extraction itself: scoring's
ratio to it shows what the model and the reasons add. Writes benchmarks/results/churn.json;
the 1M figures are extrapolated linearly from the measured size and said to be.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sim_warehouse import simulated_warehouse


def main(argv: list[str]) -> None:
    from careops.bench import machine, measure, save
    from careops.models.churn import service
    from careops.models.churn.features import load_features
    from careops.service import Ops

    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--skip-train", action="store_true", help="score with the newest model")
    args = ap.parse_args(argv)
    wh, cfg = simulated_warehouse("churn", args.patients, args.days, args.data)
    ops = Ops.open(f"duckdb:///{wh}")
    as_of = cfg.end
    figures: dict[str, dict] = {}

    def features():
        with ops.warehouse(read_only=True) as con:
            return len(load_features(con, as_of, ops.settings))

    f = measure(features)
    figures["features"] = {"seconds": round(f.seconds, 2), "peak_gb": f.peak_gb, "rows": f.value}
    print(f"features: {f.seconds:.1f} s, {f.peak_gb:.2f} GB, {f.value} patients", flush=True)
    if not args.skip_train:
        t = measure(lambda: service.train(ops, as_of))
        figures["train"] = {
            "seconds": round(t.seconds, 2),
            "peak_gb": t.peak_gb,
            "rows": t.value.evaluation["rows"],
        }
        print(f"train: {t.seconds:.1f} s, {t.peak_gb:.2f} GB", flush=True)
    s = measure(lambda: service.score(ops, as_of))
    n = s.value.table.num_rows
    figures["score"] = {
        "seconds": round(s.seconds, 2),
        "peak_gb": s.peak_gb,
        "scored": n,
        "ratio_to_features": round(s.seconds / max(f.seconds, 1e-9), 2),
    }
    print(f"score: {s.seconds:.1f} s, {s.peak_gb:.2f} GB, {n} scored", flush=True)
    scale = 1_000_000 / args.patients
    figures["score_1m_extrapolated"] = {
        "seconds": round(s.seconds * scale, 1),
        "note": "linear extrapolation of the measured size (features and trees are linear in "
        "patients and facts); peak memory scales with the feature matrix",
        "peak_gb": round(s.peak_gb * scale, 2),
    }
    path = save(
        "churn",
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

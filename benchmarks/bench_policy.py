"""Benchmark the send policy: one batch of 1M candidate sends with consents, caps, quiet hours,
active hours, the global control group and channel choice — decisions per second.

Baseline, measured in the same run: the same `decide` called one candidate at a time (what a
per-patient loop costs) on the first `--baseline` candidates, scaled to decisions per second.

    python benchmarks/bench_policy.py [--candidates 1000000] [--users 400000] [--baseline 200]

Writes benchmarks/results/policy.json (`careops bench policy`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

import numpy as np
import pyarrow as pa

from careops.bench import measure, save
from careops.journeys.policy import decide

TS = pa.timestamp("us", tz="UTC")


def world(n: int, n_users: int, now: dt.datetime, seed: int = 0):
    rng = np.random.default_rng(seed)
    now_us = int(now.timestamp() * 1_000_000)
    uu = np.array([f"u{i}" for i in range(n_users)], dtype=object)
    users = uu[rng.integers(0, n_users, n)]
    cand = pa.table(
        {
            "candidate_id": pa.array([f"c{i}" for i in range(n)]),
            "user_id": pa.array(users, pa.string()),
            "journey": pa.array(rng.choice(["new_user", "silent_recall", "chronic_bp"], n)),
            "step": pa.array(["s1"] * n),
            "purpose": pa.array(
                rng.choice(["marketing", "service", "medical"], n, p=[0.7, 0.2, 0.1])
            ),
            "channel": pa.array(rng.choice(["auto", "sms", "wechat"], n)),
            "due_at": pa.array(np.full(n, now_us - 1), pa.int64()).cast(TS),
        }
    )
    profiles = pa.table(
        {
            "user_id": pa.array(uu, pa.string()),
            "age": pa.array(rng.integers(18, 90, n_users)),
            "usual_active_hour": pa.array(rng.choice([10, 20, 23, -1], n_users)),
            "sms": pa.array(rng.random(n_users) < 0.95),
            "wechat": pa.array(rng.random(n_users) < 0.7),
            "app_push": pa.array(rng.random(n_users) < 0.5),
            "email": pa.array(np.zeros(n_users, bool)),
            "phone": pa.array(rng.random(n_users) < 0.9),
        }
    )
    consents = pa.table(
        {
            "user_id": pa.array(np.concatenate([uu, uu[: n_users // 5]]), pa.string()),
            "channel": pa.array(["all"] * n_users + ["sms"] * (n_users // 5)),
            "purpose": pa.array(["all"] * n_users + ["marketing"] * (n_users // 5)),
            "granted": pa.array(
                np.concatenate([rng.random(n_users) < 0.9, rng.random(n_users // 5) < 0.5])
            ),
            "ts": pa.array(
                np.concatenate(
                    [
                        np.full(n_users, now_us - 30 * 86_400_000_000),
                        np.full(n_users // 5, now_us - 86_400_000_000),
                    ]
                ),
                pa.int64(),
            ).cast(TS),
        }
    )
    k = n_users // 2
    history = pa.table(
        {
            "user_id": pa.array(uu[rng.integers(0, n_users, k)], pa.string()),
            "journey": pa.array(rng.choice(["new_user", "silent_recall"], k)),
            "purpose": pa.array(rng.choice(["marketing", "service"], k)),
            "sent_at": pa.array(now_us - rng.integers(0, 7 * 86_400_000_000, k), pa.int64()).cast(
                TS
            ),
        }
    )
    return cand, profiles, consents, history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=400_000)
    ap.add_argument("--baseline", type=int, default=200)
    args = ap.parse_args()
    now = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    cand, profiles, consents, history = world(args.candidates, args.users, now)

    run = measure(lambda: decide(cand, now, profiles=profiles, consents=consents, history=history))
    out = run.value
    counts = out.group_by(["decision", "reason"]).aggregate([("candidate_id", "count")])
    rows = sorted(counts.to_pylist(), key=lambda r: -r["candidate_id_count"])

    m = min(args.baseline, args.candidates)
    base = measure(
        lambda: [
            decide(cand.slice(i, 1), now, profiles=profiles, consents=consents, history=history)
            for i in range(m)
        ]
    )
    rate = args.candidates / run.seconds
    base_rate = m / base.seconds
    result = {
        "data": {
            "candidates": args.candidates,
            "users": args.users,
            "consent_rows": consents.num_rows,
            "history_rows": history.num_rows,
        },
        "cpus": os.cpu_count(),
        "seconds": round(run.seconds, 2),
        "decisions_per_s": round(rate),
        "peak_rss_gb": round(run.peak_gb, 2),
        "aim_seconds": 60,
        "meets_aim": run.seconds <= 60,
        "baseline": {
            "what": "decide() one candidate at a time (each call re-reads the side tables)",
            "candidates": m,
            "seconds": round(base.seconds, 2),
            "decisions_per_s": round(base_rate),
        },
        "ratio_to_baseline": round(rate / base_rate, 1),
        "decisions": {f"{r['decision']}:{r['reason']}": r["candidate_id_count"] for r in rows},
    }
    path = save("policy", result)
    import json

    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"saved {path}")


if __name__ == "__main__":
    main()

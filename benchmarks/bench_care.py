"""Benchmark and figures of the care programmes on a simulated hospital (docs/care.md).

    careops bench care -- [--patients 10000] [--days 365] [--seed 42] [--requests 200]

Simulates the hospital, loads it with `ingest_files` (which evaluates the abnormal-reading
rules on the observations), then measures: the load with its alerts and, as the baseline, the
alert evaluation of the observations load alone (re-run: raises nothing new); alerts per rule
against the simulator's truth (glucose-crisis patients); the package figures (renewal by
activation, patients behind in the activation window, SLA breaches per package, control before
vs after enrolment); and the latency from a reading's arrival at the event intake to its task
(one reading per request; the task's created_at minus the time the request was sent).
Writes benchmarks/results/care.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    from careops.bench import save
    from careops.care import packages as P
    from careops.care.alerts_service import on_loads
    from careops.care.catalogue import load_catalogue
    from careops.ingest.service import ingest_files
    from careops.intake.service import receive_events, stop_intake
    from careops.service import Ops
    from careops.sim import SimConfig, simulate, table_paths
    from careops.tasks.store import tasks

    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="careops-bench-care-"))
    cfg = SimConfig(users=args.patients, days=args.days, seed=args.seed, start=dt.date(2025, 1, 1))
    simulate(cfg, root / "sim")
    ops = Ops.open(f"duckdb:///{root / 'w.duckdb'}", f"sqlite:///{root / 's.db'}")
    t0 = time.perf_counter()
    report = ingest_files(ops, table_paths(root / "sim"))
    load_s = time.perf_counter() - t0
    loads = [f.load_id for f in report.files if f.tables.get("observations")]

    def count() -> int:
        with ops.state.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(tasks)).scalar_one())

    before = count()
    with ops.warehouse() as con:
        t0 = time.perf_counter()
        on_loads(ops, con, loads)
        alerts_s = time.perf_counter() - t0
        n_obs = int(con.table("observations").count().execute())
    rerun_new = count() - before
    with ops.state.connect() as c:
        rows = c.execute(sa.select(tasks.c.user_id, tasks.c.detail)).all()
    by: dict[str, set[str]] = {}
    for u, d in rows:
        by.setdefault(d["rule"], set()).add(u)
    truth = pq.read_table(root / "sim" / "ground_truth" / "users.parquet").to_pylist()
    crisis = {r["user_id"] for r in truth if r["glucose_crisis"]}
    s, cat, end = ops.settings, load_catalogue(), cfg.end
    with ops.warehouse(read_only=True) as con:
        ren = P.renewal(con, end, s)
        behind = P.activation(con, end, s)
        short = P.activation(con, end, s, behind_only=False)
        sla = P.sla(con, cat, end, s, days=args.days)
        outcomes = P.outcomes(con, cat, end, s)
    sent_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    lat = []
    try:
        for i in range(args.requests):
            sent = dt.datetime.now(dt.UTC)
            event = {
                "event_id": f"bench{i}",
                "user_id": f"BENCH{i}",
                "ts": sent_at.isoformat(),
                "name": "device_reading",
                "properties": {"systolic": 190, "diastolic": 100},
            }
            receive_events(ops, [event])
            with ops.state.connect() as c:
                created = c.execute(
                    sa.select(tasks.c.created_at).where(tasks.c.user_id == f"BENCH{i}")
                ).scalar_one()
            created = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created
            lat.append((created - sent).total_seconds() * 1000)
    finally:
        stop_intake(ops.warehouse_url, ops.settings)
        ops.close()
    lat.sort()
    result = {
        "patients": args.patients,
        "days": args.days,
        "seed": args.seed,
        "observations": n_obs,
        "load_with_alerts_s": round(load_s, 2),
        "alerts_on_observations_load_s": round(alerts_s, 3),
        "alerts_again_new_tasks": rerun_new,
        "alert_tasks": len(rows),
        "alert_patients_per_rule": {k: len(v) for k, v in by.items()},
        "glucose_high_3d_in_truth_crisis": len(by.get("glucose_high_3d", set()) & crisis),
        "truth_crisis_patients": len(crisis),
        "renewal": {
            "activated": [ren.activated.renewed, ren.activated.ended, ren.activated.rate],
            "not_activated": [
                ren.not_activated.renewed,
                ren.not_activated.ended,
                ren.not_activated.rate,
            ],
        },
        "activation_short": len(short),
        "activation_behind_pace": len(behind),
        "sla": [[r.package_id, r.tier, r.consultations, r.breaches] for r in sla.rows],
        "outcomes": [[o.package_id, o.patients, o.rate_before, o.rate_after] for o in outcomes],
        "latency_ms": {
            "requests": len(lat),
            "median": round(statistics.median(lat), 1),
            "p95": round(lat[int(0.95 * (len(lat) - 1))], 1),
            "max": round(lat[-1], 1),
        },
    }
    print(save("care", result))
    for k, v in result.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main(sys.argv[1:])

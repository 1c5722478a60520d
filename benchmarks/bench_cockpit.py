"""Benchmark the cockpit's pages: each page's server time against the plain service calls it
is built on, on a simulated hospital.

The hospital is simulated and ingested once (kept under /tmp/careops-bench-cockpit-<N>, see
`sim_warehouse.py`), the tags are snapshotted at the as-of date and 30 days before (the
layers page and its migration matrix read them), an operations account is added, and the
app of `careops serve` is driven in process through HTTP (Starlette's test client: the whole
ASGI stack, session cookie, templates and all, without a socket). Each page is requested once
to warm it, then `--reps` times; p50 and p95 of those are compared with the same number of
calls of the service functions the page calls (its baseline: the domain work without the
shell), measured in the same run. The ratio page/baseline is the cost of the shell.

    python benchmarks/bench_cockpit.py [--patients 20000] [--days 365] [--reps 5]

Writes benchmarks/results/cockpit.json (cockpit_pN.json at other sizes). The load average
is recorded: the machine may be shared, and then absolute times are not comparable.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from sim_warehouse import simulated_warehouse

PASSWORD = "bench password for the cockpit"
DEFAULT_PATIENTS = 20_000
RULE = 'age >= 60 and lifecycle == "silent"'
RULE_Q = "age%20%3E%3D%2060%20and%20lifecycle%20%3D%3D%20%22silent%22"


def _pcts(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3)}


def _timed(fn: Callable[[], Any], reps: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> None:
    from fastapi.testclient import TestClient

    from careops.api.app import create_app
    from careops.bench import save
    from careops.config import get_settings
    from careops.errors import AlreadyExists
    from careops.identity import accounts
    from careops.metrics import service as metrics
    from careops.patients import service as patients
    from careops.segments import service as segments
    from careops.service import Ops
    from careops.tags import service as tags
    from careops.web import funnels, views

    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=DEFAULT_PATIENTS)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    wh, cfg = simulated_warehouse("cockpit", args.patients, args.days)
    build_s = time.perf_counter() - t0
    root = wh.parent
    as_of = cfg.start + timedelta(days=args.days)
    settings = get_settings()
    warehouse, state = f"duckdb:///{wh}", f"sqlite:///{root / 'state.db'}"
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    t0 = time.perf_counter()
    for day in (as_of - timedelta(days=30), as_of):
        tags.compute(ops, day)
    snapshot_s = time.perf_counter() - t0
    with ops.warehouse(read_only=True) as con:
        n_patients = int(con.table("patients").count().to_pyarrow().as_py())
        n_events = int(con.table("events").count().to_pyarrow().as_py())
        some = con.table("patients").order_by("user_id").limit(1).user_id.to_pyarrow()[0].as_py()
    with contextlib.suppress(AlreadyExists):  # kept from an earlier run on this warehouse
        accounts.add_user(ops, "bench-ops", "operations", PASSWORD, ())
    ops.close()

    app = create_app(settings, warehouse=warehouse, state=state)
    pages: dict[str, dict[str, Any]] = {}
    with TestClient(app, follow_redirects=False) as client:
        form = client.get("/cockpit/login").text
        csrf = re.search(r'name="csrf" value="([^"]*)"', form).group(1)
        r = client.post(
            "/cockpit/login", data={"csrf": csrf, "username": "bench-ops", "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        svc = Ops.open(warehouse=warehouse, state=state, settings=settings)
        q = funnels.check_query(as_of, [], None, None, None, None, None, 30)
        day = as_of.isoformat()
        cases: dict[str, tuple[str, Callable[[], Any]]] = {
            "overview": (
                f"/cockpit/overview?as_of={day}",
                lambda: views.overview(svc, as_of, "zh"),
            ),
            "layers": (
                f"/cockpit/layers?as_of={day}",
                lambda: (
                    tags.layers(svc, as_of),
                    tags.migration(svc, as_of - timedelta(days=30), as_of, "lifecycle"),
                ),
            ),
            "funnels": (
                f"/cockpit/funnels?as_of={day}",
                lambda: (
                    metrics.metric(
                        svc,
                        "funnel",
                        as_of,
                        steps=",".join(q.steps),
                        period_days=q.period_days,
                        conversion_days=q.conversion_days,
                    ),
                    metrics.metric(
                        svc,
                        "cohort_retention",
                        as_of,
                        grain="week",
                        days="1,7,30",
                        window_days=q.cohort_days,
                    ),
                ),
            ),
            "drill": (
                f"/cockpit/layers/lifecycle/active?as_of={day}",
                lambda: patients.portraits(
                    svc,
                    [
                        r["user_id"]
                        for r in segments.export_page(
                            svc, segments.Target(rule='lifecycle == "active"'), as_of, limit=10
                        ).rows
                    ],
                    as_of,
                ),
            ),
            "segment_count": (
                f"/cockpit/segments/count?as_of={day}&rule={RULE_Q}",
                lambda: segments.count(svc, segments.Target(rule=RULE), as_of),
            ),
            "portrait": (
                f"/cockpit/patients/{some}?as_of={day}",
                lambda: patients.portrait(svc, some, as_of),
            ),
        }
        for name, (path, baseline) in cases.items():

            def page(path: str = path) -> None:
                resp = client.get(path)
                assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])

            page_t = _timed(page, args.reps)
            base_t = _timed(baseline, args.reps)
            p, b = _pcts(page_t), _pcts(base_t)
            pages[name] = {
                "path": path.split("?")[0],
                "page": p,
                "baseline_service": b,
                "ratio_p50": round(p["p50_s"] / b["p50_s"], 2) if b["p50_s"] else None,
                "load_avg_1m": round(os.getloadavg()[0], 1),
            }
            if name == "drill":  # the former way: one portrait (one connection) per patient
                ids = [
                    r["user_id"]
                    for r in segments.export_page(
                        svc, segments.Target(rule='lifecycle == "active"'), as_of, limit=10
                    ).rows
                ]

                def one_by_one(ids: list[str] = ids) -> list[Any]:
                    return [patients.portrait(svc, u, as_of) for u in ids]

                pages[name]["portraits_one_by_one"] = _pcts(_timed(one_by_one, args.reps))
            print(
                f"{name:14s} page p50 {p['p50_s']:.3f}s p95 {p['p95_s']:.3f}s · "
                f"service p50 {b['p50_s']:.3f}s · ratio {pages[name]['ratio_p50']}"
            )
        svc.close()

    result = {
        "data": {
            "patients": n_patients,
            "events": n_events,
            "days": args.days,
            "as_of": as_of.isoformat(),
        },
        "build_s": round(build_s, 1),
        "snapshot_s": round(snapshot_s, 1),
        "reps": args.reps,
        "pages": pages,
        "load_avg": [round(x, 1) for x in os.getloadavg()],
        "target": "≤ 1 s warm per page on 1M patients / 100M events (issue 17 §4)",
    }
    name = "cockpit" if args.patients == DEFAULT_PATIENTS else f"cockpit_p{args.patients}"
    print(save(name, result))


if __name__ == "__main__":
    main()

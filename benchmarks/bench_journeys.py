"""Benchmark the journey engine: one marketing message step over a large audience, with the
default caps (marketing ≤ 1 a day, ≤ 3 in 7 days, counting a send history in the outbox) and
quiet hours, through the whole engine path (claim a batch, read profiles and consents, decide,
write progress + outbox + decisions in one transaction) — decisions per second.

Baseline in the same run: the same engine with batches of one enrolment (what a per-patient
loop costs), on the first `--baseline` enrolments.

    python benchmarks/bench_journeys.py [--patients 100000] [--batch 5000] [--baseline 200]
                                        [--state sqlite|postgres] [--pg ADMIN_URL] [--name NAME]

`--state postgres` puts the state store in a new database on the PostgreSQL server of
`--pg` (default: $CAREOPS_TEST_PG or the local server), dropped after the run.

After the run every send is checked against the rules by SQL on the state store and the
warehouse: none without a marketing grant, none beyond the daily cap (history + new), none in
quiet hours. Writes benchmarks/results/journeys.json (`journeys_postgres.json` on PostgreSQL,
or `--name`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from careops.bench import measure, save
from careops.journeys import store
from careops.journeys.audience import Reader
from careops.journeys.definition import parse
from careops.journeys.engine import advance
from careops.service import Ops
from careops.warehouse import connect, create_tables

TS = pa.timestamp("us", tz="UTC")
JOURNEY = """
key: bench
name: {zh: 基准, en: Bench}
version: 1
trigger: {kind: event, event: bench_start}
steps:
  - id: offer
    type: message
    purpose: marketing
    channel: auto
    template:
      zh: 本周健康讲座开放报名。具体诊疗请遵医嘱。
      en: "Health talk this week. Follow your doctor's advice."
"""


PG_ADMIN = os.environ.get("CAREOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def state_store(kind: str, folder: Path, admin: str) -> Iterator[str]:
    """The URL of an empty state store: a SQLite file in `folder`, or a new PostgreSQL
    database (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'state.db'}"
        return
    name = f"careops_bench_{uuid.uuid4().hex[:12]}"
    url = admin.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


def world(folder: Path, n: int, now: dt.datetime, seed: int = 0, state: str | None = None) -> Ops:
    """A warehouse of `n` patients (contacts, consents: 85 % grant marketing) and a state store
    with each patient enrolled at the message step, due now; 30 % have a marketing send today."""
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i:07d}" for i in range(n)], dtype=object)
    url = f"duckdb:///{folder / 'wh.duckdb'}"
    con = connect(url)
    create_tables(con)
    reg = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    _insert(con, "patients", {
        "user_id": pa.array(users, pa.string()),
        "registered_at": pa.array([reg] * n, TS),
        "birth_date": pa.array([dt.date(1940 + int(y), 1, 1) for y in rng.integers(0, 60, n)]),
    })  # fmt: skip
    grant = rng.random(n) < 0.85
    _insert(con, "consents", {
        "user_id": pa.array(users, pa.string()),
        "channel": pa.array(["all"] * n),
        "purpose": pa.array(["marketing"] * n),
        "granted": pa.array(grant.astype(np.int64)),
        "ts": pa.array([reg] * n, TS),
        "source": pa.array(["signup"] * n),
    })  # fmt: skip
    contact_cols = ("load_id", "table_name", "record_id", "user_id", "name", "phone", "email",
                    "wechat_openid", "id_number", "key_id")  # fmt: skip
    con.insert(
        "contacts",
        pa.table(
            {c: pa.array(users if c in ("user_id", "record_id") else
                         (["sealed"] * n if c in ("phone", "wechat_openid") else [None] * n),
                         pa.string()) for c in contact_cols}
        ),
    )  # fmt: skip
    con.disconnect()
    ops = Ops.open(warehouse=url, state=state or f"sqlite:///{folder / 'state.db'}")
    with ops.state.begin() as conn:
        conn.execute(
            sa.insert(store.enrolments),
            [
                {"journey": "bench", "version": 1, "user_id": u, "entry_no": 1, "entered_at": now,
                 "status": "active", "step": "offer", "seq": 0, "step_at": now,
                 "waiting": False, "next_due": now}
                for u in users
            ],
        )  # fmt: skip
        earlier = now - dt.timedelta(hours=2)
        sent_today = users[rng.random(n) < 0.3]
        conn.execute(
            sa.insert(store.outbox),
            [
                {"key": f"old:{u}", "enrolment_id": 0, "journey": "other", "step": "x",
                 "user_id": u, "kind": "message", "channel": "sms", "purpose": "marketing",
                 "decided_at": earlier, "status": "sent", "attempts": 1, "sent_at": earlier}
                for u in sent_today
            ],
        )  # fmt: skip
    return ops


def _insert(con, table: str, cols: dict) -> None:
    from careops.schema import TABLES

    schema = TABLES[table].arrow_schema()
    n = len(next(iter(cols.values())))
    data = pa.table(
        [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema],
        schema=schema,
    )
    con.insert(table, data)


def drain(ops: Ops, now: dt.datetime, batch: int, limit: int | None = None) -> int:
    journey = parse(JOURNEY).journey
    loaded = [parse(JOURNEY)]
    done = 0
    with ops.warehouse(read_only=True) as con:
        reader = Reader(con, ops.settings, {})
        while limit is None or done < limit:
            r = advance(ops, reader, {"bench": journey}, now, loaded, batch=batch)
            if r is None:
                break
            done += r.steps
    return done


def violations(ops: Ops, now: dt.datetime) -> dict[str, int]:
    """Independent SQL checks of the sends the run decided."""
    o = store.outbox.c
    with ops.state.connect() as conn:
        new = conn.execute(
            sa.select(o.user_id, o.decided_at).where(o.journey == "bench", o.kind == "message")
        ).all()
        per_user = dict(
            conn.execute(
                sa.select(o.user_id, sa.func.count())
                .where(o.kind == "message", o.purpose == "marketing")
                .group_by(o.user_id)
            ).all()
        )
    with ops.warehouse(read_only=True) as con:
        granted = set(
            con.sql("select user_id from consents where granted = 1").to_pyarrow()["user_id"]
            .to_pylist()
        )  # fmt: skip
    local = now.astimezone(ops.settings.tz)
    quiet = local.hour >= 21 or local.hour < 8
    return {
        "without_consent": sum(u not in granted for u, _ in new),
        "over_daily_cap": sum(per_user.get(u, 0) > 1 for u, _ in new),
        "in_quiet_hours": len(new) if quiet else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--baseline", type=int, default=200)
    ap.add_argument("--state", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL (--state postgres)")
    ap.add_argument("--name", default=None, help="results file name (default by state store)")
    args = ap.parse_args()
    now = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    with tempfile.TemporaryDirectory() as tmp, state_store(args.state, Path(tmp), args.pg) as st:
        ops = world(Path(tmp), args.patients, now, state=st)
        cpu = time.process_time()
        run = measure(lambda: drain(ops, now, args.batch))
        cpu = time.process_time() - cpu
        bad = violations(ops, now)
        ops.close()
    with tempfile.TemporaryDirectory() as tmp, state_store(args.state, Path(tmp), args.pg) as st:
        ops = world(Path(tmp), args.baseline, now, state=st)
        base = measure(lambda: drain(ops, now, 1, args.baseline))
        ops.close()
    rate = run.value / run.seconds
    base_rate = base.value / base.seconds
    result = {
        "state": args.state,
        "patients": args.patients,
        "batch": args.batch,
        "seconds": round(run.seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "decisions_per_s": round(rate),
        "decisions_per_cpu_s": round(run.value / cpu) if cpu else None,
        "extrapolated_1m_s": round(1_000_000 / rate, 1),
        "peak_rss_gb": round(run.peak_gb, 2),
        "baseline_decisions_per_s": round(base_rate, 1),
        "ratio": round(rate / base_rate, 1),
        "violations": bad,
    }
    print(result)
    save(args.name or ("journeys" if args.state == "sqlite" else "journeys_postgres"), result)
    if any(bad.values()):
        raise SystemExit(f"violations: {bad}")


if __name__ == "__main__":
    main()

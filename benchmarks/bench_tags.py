"""Benchmark: every tag and layer for 1M patients / 100M events on DuckDB.

    python benchmarks/bench_tags.py [--patients 1000000] [--events 100000000] [--data DIR]
                                    [--generate-only]

Run it at a reduced size first (`--patients 100000 --events 10000000`; the other tables scale
with the patients) on a shared machine; the load average is recorded next to each figure.

Generates synthetic canonical tables with numpy once (Parquet under /tmp, not committed), loads
them into a DuckDB warehouse, then measures in the same run:
  * CareOps (`careops.tags.compute_tags`, Ibis) computing all tags and layers,
  * the same computation written by hand in DuckDB SQL (the baseline),
  * an ad-hoc event segment count over all patients.
Writes benchmarks/results/tags.json with the machine, the data size, each time, peak memory and
the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

N_PATIENTS = 1_000_000
N_EVENTS = int(os.environ.get("BENCH_EVENTS", 100_000_000))
#: rows of the other tables at 1M patients (scaled with --patients)
OTHER_ROWS = {
    "consultations": 4_000_000,
    "orders": 5_000_000,
    "prescriptions": 2_000_000,
    "observations": 6_000_000,
    "conditions": 300_000,
}


def _rows(name: str) -> int:
    return max(1, OTHER_ROWS[name] * N_PATIENTS // 1_000_000)


AS_OF = date(2026, 11, 1)
SPAN_DAYS = 400
CHUNK = 10_000_000
UTC = UTC
EPOCH_END = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=8)  # as_of 00:00 Shanghai
QUERIES = [
    "失眠怎么办",
    "高血压饮食",
    "头痛发热",
    "糖尿病 血糖",
    "儿童 咳嗽",
    "胃痛",
    "减肥",
    "颈椎病",
    "失眠 焦虑",
    "感冒药",
    "疫苗 接种",
    "体检 套餐",
]
EVENT_NAMES = [
    "app_open",
    "view_content",
    "search",
    "view_doctor",
    "share",
    "message_open",
    "message_click",
    "invite",
]
EVENT_P = [0.40, 0.25, 0.12, 0.12, 0.04, 0.04, 0.02, 0.01]


def _ids(prefix: str, n: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(n), pa.string()), "")


def _ts(rng: np.random.Generator, n: int, span_days: int = SPAN_DAYS) -> pa.Array:
    end_us = int(EPOCH_END.timestamp() * 1e6) + 10 * 86_400_000_000  # some facts after as_of
    start_us = end_us - span_days * 86_400_000_000
    return pa.array(rng.integers(start_us, end_us, n), pa.timestamp("us", tz="UTC"))


def _users(rng: np.random.Generator, n: int) -> np.ndarray:
    # skewed activity: a minority of patients produce most events
    scale = 40_000 * N_PATIENTS / 1_000_000
    return np.minimum((rng.pareto(1.2, n) * scale).astype(np.int64), N_PATIENTS - 1)


def generate(root: Path, seed: int = 7) -> None:
    """Write the synthetic canonical tables under `root` (skipped when already there)."""
    from careops.schema import TABLES

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    done = root / "_done"
    if done.exists():
        return

    def write(name: str, cols: dict[str, pa.Array]) -> None:
        schema = TABLES[name].arrow_schema()
        n = len(next(iter(cols.values())))
        arrays = [
            cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema
        ]
        pq.write_table(pa.table(arrays, schema=schema), root / f"{name}.parquet")

    uid = np.arange(N_PATIENTS)
    day_us = 86_400_000_000
    reg_us = int(EPOCH_END.timestamp() * 1e6) - rng.integers(0, 3 * 365, N_PATIENTS) * day_us
    birth = (np.datetime64("2026-01-01") - rng.integers(0, 90 * 365, N_PATIENTS)).astype("M8[D]")
    managed = np.where(rng.random(N_PATIENTS) < 0.05, rng.integers(0, N_PATIENTS, N_PATIENTS), -1)
    write(
        "patients",
        {
            "user_id": _ids("u", uid),
            "registered_at": pa.array(reg_us, pa.timestamp("us", tz="UTC")),
            "birth_date": pa.array(birth),
            "sex": pa.array(rng.choice(["M", "F", "U"], N_PATIENTS, p=[0.48, 0.5, 0.02])),
            "region": pa.array(rng.choice(["华东", "华北", "华南", "西南", "东北"], N_PATIENTS)),
            "managed_by": pc.if_else(
                pa.array(managed >= 0),
                _ids("u", np.maximum(managed, 0)),
                pa.nulls(N_PATIENTS, pa.string()),
            ),
        },
    )
    # events in Parquet row groups of CHUNK rows
    ev_schema = TABLES["events"].arrow_schema()
    qjson = pa.array([json.dumps({"query": q}, ensure_ascii=False) for q in QUERIES])
    with pq.ParquetWriter(root / "events.parquet", ev_schema) as writer:
        for start in range(0, N_EVENTS, CHUNK):
            n = min(CHUNK, N_EVENTS - start)
            names = rng.choice(len(EVENT_NAMES), n, p=EVENT_P)
            props = pc.if_else(
                pa.array(names == 2),
                pc.take(qjson, pa.array(rng.integers(0, len(QUERIES), n))),
                pa.nulls(n, pa.string()),
            )
            writer.write_table(
                pa.table(
                    [
                        _ids("e", np.arange(start, start + n)),
                        _ids("u", _users(rng, n)),
                        _ts(rng, n),
                        pc.take(pa.array(EVENT_NAMES), pa.array(names)),
                        props,
                    ],
                    schema=ev_schema,
                )
            )
            print(f"events {start + n:,}", file=sys.stderr, flush=True)
    n = _rows("consultations")
    write(
        "consultations",
        {
            "consultation_id": _ids("c", np.arange(n)),
            "user_id": _ids("u", _users(rng, n)),
            "started_at": _ts(rng, n),
            "department": pa.array(rng.choice(["全科", "心内科", "内分泌科", "儿科", "急诊科"], n)),
            "mode": pa.array(rng.choice(["text", "video", "phone", "offline"], n)),
            "diagnosis_code": pa.array(
                rng.choice(["I10", "E11.9", "J06.9", "K29.7", "G47.0", "R50"], n)
            ),
            "price_cny": pa.array(rng.choice([0.0, 29.0, 59.0, 99.0], n)),
        },
    )
    n = _rows("orders")
    write(
        "orders",
        {
            "order_id": _ids("o", np.arange(n)),
            "user_id": _ids("u", _users(rng, n)),
            "ts": _ts(rng, n),
            "category": pa.array(
                rng.choice(
                    ["consultation", "drug", "checkup", "package", "device"],
                    n,
                    p=[0.4, 0.35, 0.1, 0.05, 0.1],
                )
            ),
            "amount_cny": pa.array(np.round(rng.gamma(1.5, 120, n), 2)),
            "status": pa.array(rng.choice(["paid", "refunded", "failed"], n, p=[0.9, 0.05, 0.05])),
        },
    )
    n = _rows("prescriptions")
    write(
        "prescriptions",
        {
            "prescription_id": _ids("p", np.arange(n)),
            "user_id": _ids("u", _users(rng, n)),
            "ts": _ts(rng, n),
            "drug_name": pa.array(
                rng.choice(["氨氯地平片", "二甲双胍片", "布洛芬", "阿莫西林"], n)
            ),
            "days_supply": pa.array(rng.choice([7, 14, 30], n)),
        },
    )
    n = _rows("observations")
    write(
        "observations",
        {
            "observation_id": _ids("b", np.arange(n)),
            "user_id": _ids("u", _users(rng, n)),
            "ts": _ts(rng, n),
            "code": pa.array(rng.choice(["8480-6", "8462-4", "2339-0", "29463-7"], n)),
            "value": pa.array(np.round(rng.normal(120, 25, n), 1)),
        },
    )
    n = _rows("conditions")
    write(
        "conditions",
        {
            "condition_id": _ids("d", np.arange(n)),
            "user_id": _ids("u", rng.integers(0, N_PATIENTS, n)),
            "system": pa.array(np.full(n, "icd10")),
            "code": pa.array(rng.choice(["I10", "E11", "J45", "Z88.0", "Z82.4"], n)),
            "category": pa.array(
                rng.choice(["diagnosis", "allergy", "family_history"], n, p=[0.7, 0.15, 0.15])
            ),
            "status": pa.array(np.full(n, "active")),
        },
    )
    done.touch()


def main() -> None:
    global N_PATIENTS, N_EVENTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=N_PATIENTS)
    ap.add_argument("--events", type=int, default=N_EVENTS)
    ap.add_argument("--data", help="data folder (default /tmp/careops-bench-tags-pP-eE)")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--skip-profile", action="store_true", help="no per-family profile")
    ap.add_argument("--skip-naive", action="store_true", help="skip the previous baseline")
    ap.add_argument(
        "--measure", choices=("ibis", "sql", "naive", "segment", "profile"), help=argparse.SUPPRESS
    )
    ap.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.warehouse)))
        return
    N_PATIENTS, N_EVENTS = args.patients, args.events
    root = Path(args.data or f"/tmp/careops-bench-tags-p{N_PATIENTS}-e{N_EVENTS}")
    t0 = time.perf_counter()
    generate(root)
    print(f"data ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.generate_only:
        return
    run(root, profile=not args.skip_profile, naive=not args.skip_naive)


# ---------------------------------------------------------------- hand-written DuckDB SQL


def _q(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _prefix(col: str, prefixes) -> str:
    return (
        "(" + " OR ".join(f"starts_with({col}, {_q(p)})" for p in prefixes) + ")"
        if prefixes
        else "FALSE"
    )


def _like(col: str, words) -> str:
    return "(" + " OR ".join(f"contains({col}, {_q(w)})" for w in words) + ")"


def _in(values) -> str:
    return "(" + ", ".join(_q(v) for v in values) + ")"


def baseline_sql(as_of: date) -> str:
    """All tags and layers as one hand-written DuckDB query, written as an expert would.

    - time filters compare the raw TIMESTAMPTZ with a literal (zone maps prune old row groups;
      no per-row `CAST(ts AS TIMESTAMP)`, which is a time-zone lookup per row),
    - a fact's local day and hour are integer `epoch_us` arithmetic,
    - the event aggregates read only the longest window they need (≤ 90 days),
    - active days are counted as distinct days only inside the window,
    - the usual hour is one `arg_max` per user instead of a window ranking,
    - search and content text is the JSON value (`properties.query` / `.topic`), as CareOps
      reads it.
    """
    from careops.config import get_settings
    from careops.tags import codes

    st = get_settings()
    t, lc, h, v = st.tags, st.lifecycle, st.health, st.value
    local0 = datetime.combine(as_of, datetime.min.time(), tzinfo=st.tz)
    cutoff = local0.astimezone(UTC)
    off = int(local0.utcoffset().total_seconds())

    def instant(moment: datetime) -> str:
        return f"TIMESTAMPTZ '{moment.strftime('%Y-%m-%d %H:%M:%S')}+00'"

    def since(n: int) -> str:  # the fact is in the n local days before as_of
        return instant(cutoff - timedelta(days=n))

    def dn(col: str) -> str:  # local day number of a timestamp (integer arithmetic)
        return f"((epoch_us({col}) // 1000000 + {off}) // 86400)"

    def day(col: str) -> str:  # local date of an aggregated timestamp
        return f"(DATE '1970-01-01' + CAST({dn(col)} AS INTEGER))"

    D = f"DATE {_q(as_of.isoformat())}"
    D_NUM = (as_of - date(1970, 1, 1)).days
    W = lc.active_window_days
    EV_DAYS = max(t.habit_days, t.need_days, t.self_check_days, t.urgent_days, W)
    cond = instant(cutoff)
    chronic_co = " , ".join(
        f"count(*) FILTER (WHERE {_prefix('dx', c.icd10)}) AS dx_{c.code}" for c in codes.CHRONIC
    )
    chronic_cd = " , ".join(
        f"count(*) FILTER (WHERE clinical AND ((system = 'icd10' AND {_prefix('code', c.icd10)})"
        f" OR (system = 'snomed' AND code IN {_in(c.snomed) if c.snomed else _in([''])}))) "
        f"AS {c.code}"
        for c in codes.CHRONIC
    )
    chronic_rx = " , ".join(
        f"count(*) FILTER (WHERE {_prefix('dcode', c.atc)} OR "
        f"{_like('dname', c.drug_names) if c.drug_names else 'FALSE'}) AS {c.code}"
        for c in codes.CHRONIC
    )
    any_dx = " OR ".join(_prefix("dx", c.icd10) for c in codes.CHRONIC)
    has = {
        c.code: f"(coalesce(cd.{c.code}, 0) + coalesce(co.dx_{c.code}, 0) + "
        f"coalesce(rx.{c.code}, 0) > 0)"
        for c in codes.CHRONIC
    }
    chronic_any = " OR ".join(has.values())
    start, end = t.night_hours
    night = f"(h >= {start} OR h < {end})" if start > end else f"(h >= {start} AND h < {end})"

    def steps(x: str, cuts, op: str = ">=") -> str:
        return "(" + " + ".join(f"CAST({x} {op} {c} AS INT)" for c in cuts) + ")"

    bands = t.age_bands
    band_cases = " ".join(
        f"WHEN age >= {lo} THEN {_q(f'{lo}+' if hi is None else f'{lo}-{hi - 1}')}"
        for lo, hi in reversed(list(zip(bands, (*bands[1:], None), strict=True)))
    )
    return f"""
WITH
p AS (SELECT user_id, registered_at, birth_date, sex, region, managed_by,
             {day("registered_at")} AS reg_day
      FROM patients WHERE registered_at < {cond}),
ev_raw AS (SELECT user_id, name, ts,
                  coalesce(CASE name WHEN 'search' THEN json_extract_string(properties, '$.query')
                                     WHEN 'view_content'
                                     THEN json_extract_string(properties, '$.topic') END, '')
                    AS props,
                  ((epoch_us(ts) // 1000000 + {off}) // 3600) % 24 AS h
           FROM events WHERE ts < {cond} AND ts >= {since(EV_DAYS)}),
co_raw AS (SELECT *, coalesce(diagnosis_code, '') AS dx
           FROM consultations WHERE started_at < {cond}),
od_raw AS (SELECT *, CAST(amount_cny AS DECIMAL(18, 2)) AS cents
           FROM orders WHERE ts < {cond}),
act AS (SELECT user_id, {day("max(ts)")} AS last_day,
               count(DISTINCT {dn("ts")}) FILTER (WHERE ts >= {since(W)}) AS days_window,
               count(*) AS days_total
        FROM (SELECT user_id, ts FROM events WHERE ts < {cond}
              UNION ALL SELECT user_id, started_at FROM consultations WHERE started_at < {cond}
              UNION ALL SELECT user_id, ts FROM orders WHERE ts < {cond}) GROUP BY user_id),
ev AS (SELECT user_id,
         count(*) FILTER (WHERE ts >= {since(t.habit_days)}) AS habit,
         count(*) FILTER (WHERE ts >= {since(t.habit_days)} AND {night}) AS night,
         count(*) FILTER (WHERE name = 'search' AND ts >= {since(t.self_check_days)})
           AS search_self_check,
         count(*) FILTER (WHERE name IN {_in(codes.INTERACTIVE_EVENTS)} AND ts >= {since(W)})
           AS interactive_window,
         count(*) FILTER (WHERE name IN {_in(codes.CONTRIBUTION_EVENTS)}
                          AND ts >= {since(t.need_days)}) AS contribution,
         count(*) FILTER (WHERE name IN ('search', 'view_content') AND ts >= {since(t.need_days)}
                          AND {_like("props", codes.ACUTE_WORDS)}) AS acute_need,
         count(*) FILTER (WHERE name IN ('search', 'view_content') AND ts >= {since(t.need_days)}
                          AND {_like("props", codes.PREVENTION_WORDS)}) AS prevention_need,
         count(*) FILTER (WHERE name IN ('search', 'view_content') AND ts >= {since(t.need_days)}
                          AND {_like("props", codes.RESOURCE_WORDS)}) AS resource_need,
         count(*) FILTER (WHERE name = 'search' AND ts >= {since(t.urgent_days)}
                          AND {_like("props", codes.ACUTE_WORDS)}) AS recent_acute
       FROM ev_raw GROUP BY user_id),
hr AS (SELECT user_id, arg_max(h, n * 24 + 23 - h) AS usual
       FROM (SELECT user_id, h, count(*) AS n FROM ev_raw
             WHERE ts >= {since(t.habit_days)} GROUP BY user_id, h) GROUP BY user_id),
co AS (SELECT user_id, max(started_at) AS last_at,
         count(*) FILTER (WHERE started_at >= {since(30)}) AS n30,
         count(*) FILTER (WHERE started_at >= {since(90)}) AS n90,
         count(*) FILTER (WHERE started_at >= {since(W)}) AS n_window,
         count(*) FILTER (WHERE dx <> '') AS with_dx,
         count(*) FILTER (WHERE ({_prefix("dx", codes.ACUTE_ICD10)}
                                 OR coalesce(department, '') IN {_in(codes.ACUTE_DEPARTMENTS)})
                          AND started_at >= {since(t.need_days)}) AS acute_need,
         count(*) FILTER (WHERE ({_prefix("dx", codes.ACUTE_ICD10)}
                                 OR coalesce(department, '') IN {_in(codes.ACUTE_DEPARTMENTS)})
                          AND started_at >= {since(t.urgent_days)}) AS acute_urgent,
         count(*) FILTER (WHERE ({any_dx}) AND started_at >= {since(t.need_days)}) AS chronic_need,
         count(*) FILTER (WHERE mode = 'offline' AND started_at >= {since(t.need_days)})
           AS resource_need,
         count(*) FILTER (WHERE started_at >= {since(t.treatment_days)}) AS treatment,
         count(*) FILTER (WHERE started_at >= {since(t.recovery_days)}) AS recovery,
         {chronic_co}
       FROM co_raw GROUP BY user_id),
od AS (SELECT user_id, {day("max(ts)")} AS last_day, count(*) AS total, sum(cents) AS spend,
         count(*) FILTER (WHERE ts >= {since(30)}) AS n30,
         count(*) FILTER (WHERE ts >= {since(90)}) AS n90,
         count(*) FILTER (WHERE ts >= {since(W)}) AS n_window,
         count(*) FILTER (WHERE ts >= {since(t.rfm_days)}) AS rfm_n,
         sum(cents) FILTER (WHERE ts >= {since(t.rfm_days)}) AS rfm_spend,
         count(*) FILTER (WHERE category IN ('checkup', 'package', 'device')
                          AND ts >= {since(t.need_days)}) AS health_need,
         count(*) FILTER (WHERE category = 'drug' AND ts >= {since(t.need_days)})
           AS resource_need
       FROM od_raw WHERE status = 'paid' GROUP BY user_id),
ob AS (SELECT user_id, count(*) AS total,
         {day(f"max(ts) FILTER (WHERE code IN {_in(codes.BP_CODES)})")} AS last_bp_day,
         {day(f"max(ts) FILTER (WHERE code IN {_in(codes.GLUCOSE_CODES)})")}
           AS last_glucose_day,
         count(*) FILTER (WHERE ts >= {since(W)}) AS n_window,
         count(*) FILTER (WHERE ts >= {since(t.need_days)}) AS need,
         count(*) FILTER (WHERE ts >= {since(t.urgent_days)} AND (
             (code = '{codes.SYSTOLIC}' AND value >= {h.bp_systolic_max})
             OR (code = '{codes.DIASTOLIC}' AND value >= {h.bp_diastolic_max})
             OR (code IN {_in(codes.GLUCOSE_CODES)} AND value > {h.glucose_alert_mmol})))
           AS abnormal_urgent
       FROM observations WHERE ts < {cond} GROUP BY user_id),
cd AS (SELECT user_id, count(*) AS total,
         count(*) FILTER (WHERE category = 'allergy') AS allergy,
         count(*) FILTER (WHERE category = 'family_history') AS family_history,
         {chronic_cd}
       FROM (SELECT *, coalesce(category, 'diagnosis') AS category_,
                    coalesce(status, 'active') NOT IN ('inactive', 'remission', 'resolved')
                    AND coalesce(category, 'diagnosis') IN ('diagnosis', 'problem') AS clinical
             FROM conditions
             WHERE onset_at IS NULL OR onset_at < {cond})
       GROUP BY user_id),
rx AS (SELECT user_id, count(*) AS total,
         count(*) FILTER (WHERE {D_NUM} - {dn("ts")}
                          <= coalesce(days_supply, 0) * (coalesce(refills, 0) + 1)) AS running,
         count(*) FILTER (WHERE ts >= {since(t.recovery_days)}) AS recovery,
         {chronic_rx}
       FROM (SELECT *, coalesce(drug_code, '') AS dcode, coalesce(drug_name, '') AS dname
             FROM prescriptions WHERE ts < {cond}) GROUP BY user_id),
en AS (SELECT user_id, count(*) AS total,
         count(*) FILTER (WHERE start_at >= {since(t.need_days)}) AS need
       FROM encounters WHERE start_at < {cond} GROUP BY user_id),
pk AS (SELECT coalesce(u.user_id, e.user_id) AS user_id, coalesce(u.uses_window, 0) AS uses_window,
              coalesce(e.enrolled, 0) AS enrolled
       FROM (SELECT user_id, count(*) FILTER (WHERE ts >= {since(W)}) AS uses_window
             FROM entitlement_usage WHERE ts < {cond} GROUP BY user_id) u
       FULL OUTER JOIN (
             SELECT user_id, count(*) AS enrolled FROM enrollments
             WHERE start_at < {cond} AND (end_at IS NULL OR end_at >= {cond})
               AND coalesce(status, 'active') IN ('active', 'expired') GROUP BY user_id) e
       ON u.user_id = e.user_id),
fam AS (SELECT managed_by AS user_id, count(*) AS manages FROM p
        WHERE managed_by IS NOT NULL GROUP BY managed_by)
SELECT
  p.user_id,
  CAST(co.last_at AS TIMESTAMP) AS last_consult_at,
  coalesce(co.n30, 0) AS consults_30d, coalesce(co.n90, 0) AS consults_90d,
  coalesce(od.n30, 0) AS orders_30d, coalesce(od.n90, 0) AS orders_90d,
  kw.keywords AS search_keywords,
  CAST(hr.usual AS BIGINT) AS usual_active_hour,
  coalesce(ev.habit, 0) > 0 AND coalesce(CAST(coalesce(ev.night, 0) AS DOUBLE)
      / nullif(coalesce(ev.habit, 0), 0), 0) >= {t.night_min_share} AS night_owl,
  coalesce(act.days_window, 0) AS active_days_30d,
  coalesce(co.n_window, 0) + coalesce(od.n_window, 0) + coalesce(pk.uses_window, 0)
    AS services_30d,
  CASE WHEN coalesce(act.last_day, p.reg_day) > p.reg_day THEN coalesce(act.last_day, p.reg_day)
       ELSE p.reg_day END AS last_active_day,
  CAST(date_diff('day', last_active_day, {D}) - 1 AS BIGINT) AS inactive_days,
  {", ".join(f"{has[c.code]} AS has_{c.code}" for c in codes.CHRONIC)},
  nullif(concat_ws(',', {
        ", ".join(f"CASE WHEN has_{c.code} THEN '{c.code}' END" for c in codes.CHRONIC)
    }), '') AS chronic_conditions,
  ({chronic_any}) AS chronic,
  coalesce(cd.allergy, 0) > 0 AS allergy,
  coalesce(cd.family_history, 0) > 0 AS family_history,
  CAST(date_diff('day', ob.last_bp_day, {D}) - 1 AS BIGINT) AS days_without_bp,
  CAST(date_diff('day', ob.last_glucose_day, {D}) - 1 AS BIGINT) AS days_without_glucose,
  CASE WHEN coalesce(rx.running, 0) > 0 OR coalesce(co.treatment, 0) > 0 THEN 'in_treatment'
       WHEN coalesce(rx.recovery, 0) > 0 OR coalesce(co.recovery, 0) > 0 THEN 'recovery'
       WHEN coalesce(ev.search_self_check, 0) > 0 THEN 'self_check'
       ELSE 'prevention' END AS health_stage,
  CASE WHEN coalesce(ob.abnormal_urgent, 0) > 0 OR coalesce(co.acute_urgent, 0) > 0
            OR coalesce(ev.recent_acute, 0) > 0 THEN 'high'
       WHEN chronic OR health_stage IN ('in_treatment', 'recovery') THEN 'mid'
       ELSE 'low' END AS need_priority,
  CASE WHEN date_diff('day', p.reg_day, {D}) <= {lc.new_max_days} THEN 'new'
       WHEN inactive_days > {lc.churned_min_days} THEN 'churned'
       WHEN inactive_days >= {lc.silent_min_days} THEN 'silent'
       WHEN active_days_30d >= {lc.active_min_days}
            AND services_30d >= {lc.active_min_services} THEN 'active'
       ELSE 'occasional' END AS lifecycle,
  lifecycle <> 'new' AND inactive_days >= {lc.churn_risk_days}
    AND inactive_days < {lc.silent_min_days} AS churn_risk,
  coalesce(co.acute_need, 0) + coalesce(ev.acute_need, 0) AS s_acute,
  coalesce(ob.need, 0) + coalesce(od.health_need, 0) + coalesce(co.chronic_need, 0)
    + coalesce(pk.enrolled, 0) AS s_manage,
  coalesce(od.resource_need, 0) + coalesce(co.resource_need, 0) + coalesce(en.need, 0)
    + coalesce(ev.resource_need, 0) AS s_resources,
  coalesce(ev.prevention_need, 0) AS s_prevent,
  CASE WHEN s_acute > 0 AND s_acute >= s_manage AND s_acute >= s_resources
            AND s_acute >= s_prevent THEN 'acute'
       WHEN s_manage > 0 AND s_manage >= s_resources AND s_manage >= s_prevent
            THEN 'health_management'
       WHEN s_resources > 0 AND s_resources >= s_prevent THEN 'medical_resources'
       WHEN s_prevent > 0 THEN 'prevention'
       WHEN chronic THEN 'health_management' ELSE 'prevention' END AS health_need,
  CASE WHEN coalesce(cd.total, 0) + coalesce(ob.total, 0) + coalesce(rx.total, 0)
            + coalesce(en.total, 0) + coalesce(co.with_dx, 0) > 0 THEN 'medical'
       WHEN coalesce(act.days_total, 0) > 0 THEN 'behavioral' ELSE 'basic' END AS data_richness,
  lifecycle = 'active' AND coalesce(co.n_window, 0) >= {lc.frequent_consulter_min}
    AS frequent_consulter,
  lifecycle = 'active' AND coalesce(ob.n_window, 0) + coalesce(pk.uses_window, 0)
    + coalesce(pk.enrolled, 0) > 0 AS health_manager,
  lifecycle = 'active' AND coalesce(ev.interactive_window, 0) > 0 AS interactive,
  CASE WHEN frequent_consulter THEN 'frequent_consulter'
       WHEN health_manager THEN 'health_manager'
       WHEN interactive THEN 'interactive' END AS active_subgroup,
  CAST(year({D}) - year(p.birth_date) - CASE WHEN month(p.birth_date) > {as_of.month}
       OR (month(p.birth_date) = {as_of.month} AND day(p.birth_date) > {as_of.day})
       THEN 1 ELSE 0 END AS BIGINT) AS age,
  coalesce(age >= {t.elderly_min_age}, FALSE) AS elderly,
  coalesce(age <= {t.child_max_age}, FALSE) AS child,
  CASE WHEN age IS NULL THEN 'unknown' {band_cases} ELSE 'unknown' END AS age_band,
  coalesce(p.sex, 'U') AS sex, p.region,
  CAST(date_diff('day', p.reg_day, {D}) AS BIGINT) AS registered_days,
  p.managed_by, p.managed_by IS NOT NULL AS proxy_managed,
  coalesce(fam.manages, 0) > 0 AS family_manager,
  CAST(CASE WHEN od.last_day IS NOT NULL AND date_diff('day', od.last_day, {D}) <= {t.rfm_days}
       THEN 1 + {steps(f"date_diff('day', od.last_day, {D})", t.rfm_recency_days, "<=")}
       ELSE 0 END AS BIGINT) AS rfm_recency,
  CAST({steps("coalesce(od.rfm_n, 0)", t.rfm_frequency)} AS BIGINT) AS rfm_frequency,
  CAST({steps("coalesce(od.rfm_spend, 0)", t.rfm_monetary_cny)} AS BIGINT) AS rfm_monetary,
  rfm_recency + rfm_frequency + rfm_monetary AS rfm_score,
  CAST({steps("coalesce(ev.contribution, 0)", t.contribution)} AS BIGINT) AS health_contribution,
  coalesce(od.total, 0) AS paid_orders,
  CAST(coalesce(od.spend, 0) AS DOUBLE) AS spend_cny,
  paid_orders >= {t.repurchase_min_orders} AS repurchase_confirmed,
  spend_cny > {v.ltv_high_cny} AND NOT repurchase_confirmed AS high_spend_unconfirmed,
  CASE WHEN spend_cny > {v.ltv_high_cny} AND repurchase_confirmed THEN 'ltv_high'
       WHEN spend_cny >= {v.ltv_mid_cny} THEN 'ltv_mid' ELSE 'ltv_low' END AS ltv_tier,
  CASE WHEN rfm_score + health_contribution >= {t.value_high_min} AND repurchase_confirmed
       THEN 'high' WHEN rfm_score + health_contribution >= {t.value_mid_min} THEN 'mid'
       ELSE 'low' END AS value
FROM p
LEFT JOIN act USING (user_id) LEFT JOIN ev USING (user_id) LEFT JOIN hr USING (user_id)
LEFT JOIN co USING (user_id) LEFT JOIN od USING (user_id) LEFT JOIN ob USING (user_id)
LEFT JOIN cd USING (user_id) LEFT JOIN rx USING (user_id) LEFT JOIN en USING (user_id)
LEFT JOIN pk USING (user_id) LEFT JOIN fam USING (user_id) LEFT JOIN kw USING (user_id)
"""


def baseline(con, as_of: date) -> None:
    """The hand-written computation: SQL for everything, the same jieba step for keywords."""
    from collections import Counter, defaultdict

    from careops.config import get_settings
    from careops.tags.keywords import query_of, tokens

    st = get_settings()
    cutoff = datetime.combine(as_of, datetime.min.time(), tzinfo=st.tz).astimezone(UTC)
    start = cutoff - timedelta(days=st.tags.keyword_days)
    fmt = "%Y-%m-%d %H:%M:%S"
    pairs = con.raw_sql(f"""
        SELECT user_id, properties, count(*) AS n FROM events
        WHERE name = 'search' AND ts < TIMESTAMPTZ '{cutoff.strftime(fmt)}+00'
          AND ts >= TIMESTAMPTZ '{start.strftime(fmt)}+00'
        GROUP BY user_id, properties""").fetch_arrow_table()
    counts: dict[str, Counter] = defaultdict(Counter)
    for u, p_, n in zip(
        pairs["user_id"].to_pylist(),
        pairs["properties"].to_pylist(),
        pairs["n"].to_pylist(),
        strict=True,
    ):
        for tok in tokens(query_of(p_)):
            counts[u][tok] += n
    users = sorted(counts)
    kw = pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "keywords": pa.array(
                [
                    ",".join(
                        w for w, _ in sorted(counts[u].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
                    )
                    for u in users
                ],
                pa.string(),
            ),
        }
    )
    con.con.register("kw", kw)
    con.raw_sql(f"CREATE OR REPLACE TABLE baseline_tags AS {baseline_sql(as_of)}")
    con.con.unregister("kw")


# ---------------------------------------------------------------- the previous baseline


def naive_sql(as_of: date) -> str:
    """The previous baseline, kept to measure what the rewrite saves: `CAST(ts AS TIMESTAMP)` in
    every filter and for every local day and hour, 400 days of events, DISTINCT over all days."""
    from careops.config import get_settings
    from careops.tags import codes

    st = get_settings()
    t, lc, h, v = st.tags, st.lifecycle, st.health, st.value
    cut = (datetime(as_of.year, as_of.month, as_of.day) - timedelta(hours=8)).isoformat(sep=" ")
    off = 8 * 3600

    def day(col: str) -> str:
        return f"CAST(CAST({col} AS TIMESTAMP) + INTERVAL {off} SECOND AS DATE)"

    def since(n: int) -> str:
        return f"DATE {_q((as_of - timedelta(days=n)).isoformat())}"

    D = f"DATE {_q(as_of.isoformat())}"
    W = lc.active_window_days
    cond = "TIMESTAMP " + _q(cut)
    chronic_co = " , ".join(
        f"count(*) FILTER (WHERE {_prefix('dx', c.icd10)}) AS dx_{c.code}" for c in codes.CHRONIC
    )
    chronic_cd = " , ".join(
        f"count(*) FILTER (WHERE clinical AND ((system = 'icd10' AND {_prefix('code', c.icd10)})"
        f" OR (system = 'snomed' AND code IN {_in(c.snomed) if c.snomed else _in([''])}))) "
        f"AS {c.code}"
        for c in codes.CHRONIC
    )
    chronic_rx = " , ".join(
        f"count(*) FILTER (WHERE {_prefix('dcode', c.atc)} OR "
        f"{_like('dname', c.drug_names) if c.drug_names else 'FALSE'}) AS {c.code}"
        for c in codes.CHRONIC
    )
    any_dx = " OR ".join(_prefix("dx", c.icd10) for c in codes.CHRONIC)
    has = {
        c.code: f"(coalesce(cd.{c.code}, 0) + coalesce(co.dx_{c.code}, 0) + "
        f"coalesce(rx.{c.code}, 0) > 0)"
        for c in codes.CHRONIC
    }
    chronic_any = " OR ".join(has.values())
    start, end = t.night_hours
    night = f"(h >= {start} OR h < {end})" if start > end else f"(h >= {start} AND h < {end})"

    def steps(x: str, cuts, op: str = ">=") -> str:
        return "(" + " + ".join(f"CAST({x} {op} {c} AS INT)" for c in cuts) + ")"

    bands = t.age_bands
    band_cases = " ".join(
        f"WHEN age >= {lo} THEN {_q(f'{lo}+' if hi is None else f'{lo}-{hi - 1}')}"
        for lo, hi in reversed(list(zip(bands, (*bands[1:], None), strict=True)))
    )
    return f"""
WITH
p AS (SELECT user_id, registered_at, birth_date, sex, region, managed_by,
             {day("registered_at")} AS reg_day
      FROM patients WHERE CAST(registered_at AS TIMESTAMP) < {cond}),
ev_raw AS (SELECT user_id, name, coalesce(properties, '') AS props, {day("ts")} AS day,
                  hour(CAST(ts AS TIMESTAMP) + INTERVAL {off} SECOND) AS h
           FROM events WHERE CAST(ts AS TIMESTAMP) < {cond}),
co_raw AS (SELECT *, coalesce(diagnosis_code, '') AS dx, {day("started_at")} AS day
           FROM consultations WHERE CAST(started_at AS TIMESTAMP) < {cond}),
od_raw AS (SELECT *, {day("ts")} AS day, CAST(amount_cny AS DECIMAL(18, 2)) AS cents
           FROM orders WHERE CAST(ts AS TIMESTAMP) < {cond}),
act AS (SELECT user_id, max(day) AS last_day,
               count(*) FILTER (WHERE day >= {since(W)}) AS days_window, count(*) AS days_total
        FROM (SELECT user_id, day FROM ev_raw UNION SELECT user_id, day FROM co_raw
              UNION SELECT user_id, day FROM od_raw) GROUP BY user_id),
ev AS (SELECT user_id,
         count(*) FILTER (WHERE day >= {since(t.habit_days)}) AS habit,
         count(*) FILTER (WHERE day >= {since(t.habit_days)} AND {night}) AS night,
         count(*) FILTER (WHERE name = 'search' AND day >= {since(t.self_check_days)})
           AS search_self_check,
         count(*) FILTER (WHERE name IN {_in(codes.INTERACTIVE_EVENTS)} AND day >= {since(W)})
           AS interactive_window,
         count(*) FILTER (WHERE name IN {_in(codes.CONTRIBUTION_EVENTS)}
                          AND day >= {since(t.need_days)}) AS contribution,
         count(*) FILTER (WHERE name IN ('search', 'view_content') AND day >= {since(t.need_days)}
                          AND {_like("props", codes.ACUTE_WORDS)}) AS acute_need,
         count(*) FILTER (WHERE name IN ('search', 'view_content') AND day >= {since(t.need_days)}
                          AND {_like("props", codes.PREVENTION_WORDS)}) AS prevention_need,
         count(*) FILTER (WHERE name IN ('search', 'view_content') AND day >= {since(t.need_days)}
                          AND {_like("props", codes.RESOURCE_WORDS)}) AS resource_need,
         count(*) FILTER (WHERE name = 'search' AND day >= {since(t.urgent_days)}
                          AND {_like("props", codes.ACUTE_WORDS)}) AS recent_acute
       FROM ev_raw GROUP BY user_id),
hr AS (SELECT user_id, h AS usual FROM (
         SELECT user_id, h, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, h) AS r
         FROM (SELECT user_id, h, count(*) AS n FROM ev_raw
               WHERE day >= {since(t.habit_days)} GROUP BY user_id, h)) WHERE r = 1),
co AS (SELECT user_id, max(started_at) AS last_at,
         count(*) FILTER (WHERE day >= {since(30)}) AS n30,
         count(*) FILTER (WHERE day >= {since(90)}) AS n90,
         count(*) FILTER (WHERE day >= {since(W)}) AS n_window,
         count(*) FILTER (WHERE dx <> '') AS with_dx,
         count(*) FILTER (WHERE ({_prefix("dx", codes.ACUTE_ICD10)}
                                 OR coalesce(department, '') IN {_in(codes.ACUTE_DEPARTMENTS)})
                          AND day >= {since(t.need_days)}) AS acute_need,
         count(*) FILTER (WHERE ({_prefix("dx", codes.ACUTE_ICD10)}
                                 OR coalesce(department, '') IN {_in(codes.ACUTE_DEPARTMENTS)})
                          AND day >= {since(t.urgent_days)}) AS acute_urgent,
         count(*) FILTER (WHERE ({any_dx}) AND day >= {since(t.need_days)}) AS chronic_need,
         count(*) FILTER (WHERE mode = 'offline' AND day >= {since(t.need_days)})
           AS resource_need,
         count(*) FILTER (WHERE day >= {since(t.treatment_days)}) AS treatment,
         count(*) FILTER (WHERE day >= {since(t.recovery_days)}) AS recovery,
         {chronic_co}
       FROM co_raw GROUP BY user_id),
od AS (SELECT user_id, max(day) AS last_day, count(*) AS total, sum(cents) AS spend,
         count(*) FILTER (WHERE day >= {since(30)}) AS n30,
         count(*) FILTER (WHERE day >= {since(90)}) AS n90,
         count(*) FILTER (WHERE day >= {since(W)}) AS n_window,
         count(*) FILTER (WHERE day >= {since(t.rfm_days)}) AS rfm_n,
         sum(cents) FILTER (WHERE day >= {since(t.rfm_days)}) AS rfm_spend,
         count(*) FILTER (WHERE category IN ('checkup', 'package', 'device')
                          AND day >= {since(t.need_days)}) AS health_need,
         count(*) FILTER (WHERE category = 'drug' AND day >= {since(t.need_days)})
           AS resource_need
       FROM od_raw WHERE status = 'paid' GROUP BY user_id),
ob AS (SELECT user_id, count(*) AS total,
         max(day) FILTER (WHERE code IN {_in(codes.BP_CODES)}) AS last_bp_day,
         max(day) FILTER (WHERE code IN {_in(codes.GLUCOSE_CODES)}) AS last_glucose_day,
         count(*) FILTER (WHERE day >= {since(W)}) AS n_window,
         count(*) FILTER (WHERE day >= {since(t.need_days)}) AS need,
         count(*) FILTER (WHERE day >= {since(t.urgent_days)} AND (
             (code = '{codes.SYSTOLIC}' AND value >= {h.bp_systolic_max})
             OR (code = '{codes.DIASTOLIC}' AND value >= {h.bp_diastolic_max})
             OR (code IN {_in(codes.GLUCOSE_CODES)} AND value > {h.glucose_alert_mmol})))
           AS abnormal_urgent
       FROM (SELECT *, {day("ts")} AS day FROM observations
             WHERE CAST(ts AS TIMESTAMP) < {cond}) GROUP BY user_id),
cd AS (SELECT user_id, count(*) AS total,
         count(*) FILTER (WHERE category = 'allergy') AS allergy,
         count(*) FILTER (WHERE category = 'family_history') AS family_history,
         {chronic_cd}
       FROM (SELECT *, coalesce(category, 'diagnosis') AS category_,
                    coalesce(status, 'active') NOT IN ('inactive', 'remission', 'resolved')
                    AND coalesce(category, 'diagnosis') IN ('diagnosis', 'problem') AS clinical
             FROM conditions
             WHERE onset_at IS NULL OR CAST(onset_at AS TIMESTAMP) < {cond})
       GROUP BY user_id),
rx AS (SELECT user_id, count(*) AS total,
         count(*) FILTER (WHERE date_diff('day', day, {D})
                          <= coalesce(days_supply, 0) * (coalesce(refills, 0) + 1)) AS running,
         count(*) FILTER (WHERE day >= {since(t.recovery_days)}) AS recovery,
         {chronic_rx}
       FROM (SELECT *, {day("ts")} AS day, coalesce(drug_code, '') AS dcode,
                    coalesce(drug_name, '') AS dname
             FROM prescriptions WHERE CAST(ts AS TIMESTAMP) < {cond}) GROUP BY user_id),
en AS (SELECT user_id, count(*) AS total,
         count(*) FILTER (WHERE {day("start_at")} >= {since(t.need_days)}) AS need
       FROM encounters WHERE CAST(start_at AS TIMESTAMP) < {cond} GROUP BY user_id),
pk AS (SELECT coalesce(u.user_id, e.user_id) AS user_id, coalesce(u.uses_window, 0) AS uses_window,
              coalesce(e.enrolled, 0) AS enrolled
       FROM (SELECT user_id, count(*) FILTER (WHERE {day("ts")} >= {since(W)}) AS uses_window
             FROM entitlement_usage WHERE CAST(ts AS TIMESTAMP) < {cond} GROUP BY user_id) u
       FULL OUTER JOIN (
             SELECT user_id, count(*) AS enrolled FROM enrollments
             WHERE CAST(start_at AS TIMESTAMP) < {cond}
               AND (end_at IS NULL OR CAST(end_at AS TIMESTAMP) >= {cond})
               AND coalesce(status, 'active') IN ('active', 'expired') GROUP BY user_id) e
       ON u.user_id = e.user_id),
fam AS (SELECT managed_by AS user_id, count(*) AS manages FROM p
        WHERE managed_by IS NOT NULL GROUP BY managed_by)
SELECT
  p.user_id,
  CAST(co.last_at AS TIMESTAMP) AS last_consult_at,
  coalesce(co.n30, 0) AS consults_30d, coalesce(co.n90, 0) AS consults_90d,
  coalesce(od.n30, 0) AS orders_30d, coalesce(od.n90, 0) AS orders_90d,
  kw.keywords AS search_keywords,
  CAST(hr.usual AS BIGINT) AS usual_active_hour,
  coalesce(ev.habit, 0) > 0 AND coalesce(CAST(coalesce(ev.night, 0) AS DOUBLE)
      / nullif(coalesce(ev.habit, 0), 0), 0) >= {t.night_min_share} AS night_owl,
  coalesce(act.days_window, 0) AS active_days_30d,
  coalesce(co.n_window, 0) + coalesce(od.n_window, 0) + coalesce(pk.uses_window, 0)
    AS services_30d,
  CASE WHEN coalesce(act.last_day, p.reg_day) > p.reg_day THEN coalesce(act.last_day, p.reg_day)
       ELSE p.reg_day END AS last_active_day,
  CAST(date_diff('day', last_active_day, {D}) - 1 AS BIGINT) AS inactive_days,
  {", ".join(f"{has[c.code]} AS has_{c.code}" for c in codes.CHRONIC)},
  nullif(concat_ws(',', {
        ", ".join(f"CASE WHEN has_{c.code} THEN '{c.code}' END" for c in codes.CHRONIC)
    }), '') AS chronic_conditions,
  ({chronic_any}) AS chronic,
  coalesce(cd.allergy, 0) > 0 AS allergy,
  coalesce(cd.family_history, 0) > 0 AS family_history,
  CAST(date_diff('day', ob.last_bp_day, {D}) - 1 AS BIGINT) AS days_without_bp,
  CAST(date_diff('day', ob.last_glucose_day, {D}) - 1 AS BIGINT) AS days_without_glucose,
  CASE WHEN coalesce(rx.running, 0) > 0 OR coalesce(co.treatment, 0) > 0 THEN 'in_treatment'
       WHEN coalesce(rx.recovery, 0) > 0 OR coalesce(co.recovery, 0) > 0 THEN 'recovery'
       WHEN coalesce(ev.search_self_check, 0) > 0 THEN 'self_check'
       ELSE 'prevention' END AS health_stage,
  CASE WHEN coalesce(ob.abnormal_urgent, 0) > 0 OR coalesce(co.acute_urgent, 0) > 0
            OR coalesce(ev.recent_acute, 0) > 0 THEN 'high'
       WHEN chronic OR health_stage IN ('in_treatment', 'recovery') THEN 'mid'
       ELSE 'low' END AS need_priority,
  CASE WHEN date_diff('day', p.reg_day, {D}) <= {lc.new_max_days} THEN 'new'
       WHEN inactive_days > {lc.churned_min_days} THEN 'churned'
       WHEN inactive_days >= {lc.silent_min_days} THEN 'silent'
       WHEN active_days_30d >= {lc.active_min_days}
            AND services_30d >= {lc.active_min_services} THEN 'active'
       ELSE 'occasional' END AS lifecycle,
  lifecycle <> 'new' AND inactive_days >= {lc.churn_risk_days}
    AND inactive_days < {lc.silent_min_days} AS churn_risk,
  coalesce(co.acute_need, 0) + coalesce(ev.acute_need, 0) AS s_acute,
  coalesce(ob.need, 0) + coalesce(od.health_need, 0) + coalesce(co.chronic_need, 0)
    + coalesce(pk.enrolled, 0) AS s_manage,
  coalesce(od.resource_need, 0) + coalesce(co.resource_need, 0) + coalesce(en.need, 0)
    + coalesce(ev.resource_need, 0) AS s_resources,
  coalesce(ev.prevention_need, 0) AS s_prevent,
  CASE WHEN s_acute > 0 AND s_acute >= s_manage AND s_acute >= s_resources
            AND s_acute >= s_prevent THEN 'acute'
       WHEN s_manage > 0 AND s_manage >= s_resources AND s_manage >= s_prevent
            THEN 'health_management'
       WHEN s_resources > 0 AND s_resources >= s_prevent THEN 'medical_resources'
       WHEN s_prevent > 0 THEN 'prevention'
       WHEN chronic THEN 'health_management' ELSE 'prevention' END AS health_need,
  CASE WHEN coalesce(cd.total, 0) + coalesce(ob.total, 0) + coalesce(rx.total, 0)
            + coalesce(en.total, 0) + coalesce(co.with_dx, 0) > 0 THEN 'medical'
       WHEN coalesce(act.days_total, 0) > 0 THEN 'behavioral' ELSE 'basic' END AS data_richness,
  lifecycle = 'active' AND coalesce(co.n_window, 0) >= {lc.frequent_consulter_min}
    AS frequent_consulter,
  lifecycle = 'active' AND coalesce(ob.n_window, 0) + coalesce(pk.uses_window, 0)
    + coalesce(pk.enrolled, 0) > 0 AS health_manager,
  lifecycle = 'active' AND coalesce(ev.interactive_window, 0) > 0 AS interactive,
  CASE WHEN frequent_consulter THEN 'frequent_consulter'
       WHEN health_manager THEN 'health_manager'
       WHEN interactive THEN 'interactive' END AS active_subgroup,
  CAST(year({D}) - year(p.birth_date) - CASE WHEN month(p.birth_date) > {as_of.month}
       OR (month(p.birth_date) = {as_of.month} AND day(p.birth_date) > {as_of.day})
       THEN 1 ELSE 0 END AS BIGINT) AS age,
  coalesce(age >= {t.elderly_min_age}, FALSE) AS elderly,
  coalesce(age <= {t.child_max_age}, FALSE) AS child,
  CASE WHEN age IS NULL THEN 'unknown' {band_cases} ELSE 'unknown' END AS age_band,
  coalesce(p.sex, 'U') AS sex, p.region,
  CAST(date_diff('day', p.reg_day, {D}) AS BIGINT) AS registered_days,
  p.managed_by, p.managed_by IS NOT NULL AS proxy_managed,
  coalesce(fam.manages, 0) > 0 AS family_manager,
  CAST(CASE WHEN od.last_day IS NOT NULL AND date_diff('day', od.last_day, {D}) <= {t.rfm_days}
       THEN 1 + {steps(f"date_diff('day', od.last_day, {D})", t.rfm_recency_days, "<=")}
       ELSE 0 END AS BIGINT) AS rfm_recency,
  CAST({steps("coalesce(od.rfm_n, 0)", t.rfm_frequency)} AS BIGINT) AS rfm_frequency,
  CAST({steps("coalesce(od.rfm_spend, 0)", t.rfm_monetary_cny)} AS BIGINT) AS rfm_monetary,
  rfm_recency + rfm_frequency + rfm_monetary AS rfm_score,
  CAST({steps("coalesce(ev.contribution, 0)", t.contribution)} AS BIGINT) AS health_contribution,
  coalesce(od.total, 0) AS paid_orders,
  CAST(coalesce(od.spend, 0) AS DOUBLE) AS spend_cny,
  paid_orders >= {t.repurchase_min_orders} AS repurchase_confirmed,
  spend_cny > {v.ltv_high_cny} AND NOT repurchase_confirmed AS high_spend_unconfirmed,
  CASE WHEN spend_cny > {v.ltv_high_cny} AND repurchase_confirmed THEN 'ltv_high'
       WHEN spend_cny >= {v.ltv_mid_cny} THEN 'ltv_mid' ELSE 'ltv_low' END AS ltv_tier,
  CASE WHEN rfm_score + health_contribution >= {t.value_high_min} AND repurchase_confirmed
       THEN 'high' WHEN rfm_score + health_contribution >= {t.value_mid_min} THEN 'mid'
       ELSE 'low' END AS value
FROM p
LEFT JOIN act USING (user_id) LEFT JOIN ev USING (user_id) LEFT JOIN hr USING (user_id)
LEFT JOIN co USING (user_id) LEFT JOIN od USING (user_id) LEFT JOIN ob USING (user_id)
LEFT JOIN cd USING (user_id) LEFT JOIN rx USING (user_id) LEFT JOIN en USING (user_id)
LEFT JOIN pk USING (user_id) LEFT JOIN fam USING (user_id) LEFT JOIN kw USING (user_id)
"""


def naive(con, as_of: date) -> None:
    """The previous baseline computation (see `naive_sql`), into `naive_tags`."""
    from collections import Counter, defaultdict

    from careops.tags.keywords import query_of, tokens

    st_days = 30
    cut = (datetime(as_of.year, as_of.month, as_of.day) - timedelta(hours=8)).isoformat(sep=" ")
    pairs = con.raw_sql(f"""
        SELECT user_id, properties, count(*) AS n FROM events
        WHERE name = 'search' AND CAST(ts AS TIMESTAMP) < TIMESTAMP '{cut}'
          AND CAST(CAST(ts AS TIMESTAMP) + INTERVAL 28800 SECOND AS DATE)
              >= DATE '{(as_of - timedelta(days=st_days)).isoformat()}'
        GROUP BY user_id, properties""").fetch_arrow_table()
    counts: dict[str, Counter] = defaultdict(Counter)
    for u, p_, n in zip(
        pairs["user_id"].to_pylist(),
        pairs["properties"].to_pylist(),
        pairs["n"].to_pylist(),
        strict=True,
    ):
        for tok in tokens(query_of(p_)):
            counts[u][tok] += n
    users = sorted(counts)
    kw = pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "keywords": pa.array(
                [
                    ",".join(
                        w for w, _ in sorted(counts[u].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
                    )
                    for u in users
                ],
                pa.string(),
            ),
        }
    )
    con.con.register("kw", kw)
    con.raw_sql(f"CREATE OR REPLACE TABLE naive_tags AS {naive_sql(as_of)}")
    con.con.unregister("kw")


# ---------------------------------------------------------------- measurements

SEGMENT_RULE = 'searched("失眠", within="30d") and sex == "F" and age between 25 and 45'
#: CareOps family → the baseline's CTE computing the same per-user aggregates
FAMILY_CTES = {
    "act": "act",
    "ev": "ev",
    "hour": "hr",
    "co": "co",
    "od": "od",
    "ob": "ob",
    "cd": "cd",
    "rx": "rx",
    "en": "en",
    "pk": "pk",
    "fam": "fam",
}


def peak_rss_bytes() -> int:
    """This process' own peak resident memory (VmHWM). Not `ru_maxrss`: across fork and exec a
    child's ru_maxrss starts at its parent's high-water mark (here the warehouse load)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def profile(con) -> dict:
    """Each family alone: CareOps' Ibis family vs the baseline's CTE, materialised the same way."""
    from careops.tags.context import TagContext
    from careops.tags.families import FAMILIES

    ctx = TagContext(con, AS_OF)
    sql = baseline_sql(AS_OF)
    head = sql[: sql.index("\nSELECT\n  p.user_id")]
    out = {}
    for fam, cte in FAMILY_CTES.items():
        t0 = time.perf_counter()
        con.create_table("_bench_family", obj=FAMILIES[fam](ctx), temp=True, overwrite=True)
        ibis_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        con.raw_sql(f"CREATE OR REPLACE TEMP TABLE _bench_cte AS {head} SELECT * FROM {cte}")
        sql_s = time.perf_counter() - t0
        out[fam] = {
            "careops_s": round(ibis_s, 2),
            "baseline_s": round(sql_s, 2),
            "ratio": round(ibis_s / sql_s, 2) if sql_s else None,
        }
        print("profile", fam, out[fam], file=sys.stderr, flush=True)
    return out


def measure(kind: str, warehouse: str) -> dict:
    """Run one measurement in this process (a fresh child) and report its time and peak memory."""
    from careops.warehouse import connect

    con = connect(f"duckdb:///{warehouse}")
    if os.environ.get("BENCH_MEMORY_LIMIT"):  # same limit for CareOps and the baseline
        con.raw_sql(f"SET memory_limit = '{os.environ['BENCH_MEMORY_LIMIT']}'")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    extra: dict = {}
    if kind == "ibis":
        from careops.tags.snapshot import store_snapshot

        rows = store_snapshot(con, AS_OF)
    elif kind == "sql":
        baseline(con, AS_OF)
        rows = con.table("baseline_tags").count().execute()
    elif kind == "naive":
        naive(con, AS_OF)
        rows = con.table("naive_tags").count().execute()
    elif kind == "segment":
        from careops.segments import count

        rows = count(con, SEGMENT_RULE, AS_OF)
    elif kind == "profile":
        extra["families"] = profile(con)
        rows = 0
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 2),
        "peak_rss_bytes": peak_rss_bytes(),
        "rows": int(rows),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **extra,
    }


def _child(kind: str, warehouse: str) -> dict:
    import subprocess

    proc = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--warehouse", warehouse],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load(root: Path) -> str:
    """Load the Parquet files into a DuckDB warehouse (once), fact tables in time order as
    ingestion stores them (`careops.warehouse.load.TIME_ORDER`)."""
    from careops.warehouse import connect, create_tables
    from careops.warehouse.load import TIME_ORDER

    path = root / "warehouse.duckdb"
    con = connect(f"duckdb:///{path}")
    create_tables(con)
    for name in (
        "patients",
        "events",
        "consultations",
        "orders",
        "prescriptions",
        "observations",
        "conditions",
    ):
        if con.table(name).count().execute() == 0:
            order = f" ORDER BY {TIME_ORDER[name]}" if name in TIME_ORDER else ""
            con.raw_sql(
                f"INSERT INTO {name} SELECT * FROM read_parquet('{root / name}.parquet')" + order
            )
    con.disconnect()
    return str(path)


def same_tables(warehouse: str, a: str, b: str) -> bool:
    """Whether two stored tag tables hold the same rows (every tag column)."""
    from careops.tags.registry import all_tags
    from careops.warehouse import connect

    con = connect(f"duckdb:///{warehouse}")
    cols = ", ".join(t.name for t in all_tags())
    q = (
        f"SELECT count(*) FROM (SELECT user_id, {cols} FROM {{}} EXCEPT ALL SELECT user_id, "
        f"{cols} FROM {{}})"
    )
    diff = con.raw_sql(q.format(a, b)).fetchone()[0] + con.raw_sql(q.format(b, a)).fetchone()[0]
    con.disconnect()
    return diff == 0


def same_result(warehouse: str) -> dict:
    """Compare CareOps' snapshot with the baseline table, row for row."""
    from careops.tags.registry import all_tags
    from careops.tags.snapshot import snapshot_name
    from careops.warehouse import connect

    con = connect(f"duckdb:///{warehouse}")
    cols = ", ".join(t.name for t in all_tags())
    a = f"SELECT user_id, {cols} FROM {snapshot_name(AS_OF)}"
    b = f"SELECT user_id, {cols} FROM baseline_tags"
    only_a = con.raw_sql(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0]
    only_b = con.raw_sql(f"SELECT count(*) FROM ({b} EXCEPT ALL {a})").fetchone()[0]
    lifecycle = dict(
        con.raw_sql(
            f"SELECT lifecycle, count(*) FROM {snapshot_name(AS_OF)} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    con.disconnect()
    return {
        "rows_only_in_careops": only_a,
        "rows_only_in_baseline": only_b,
        "identical": only_a == 0 and only_b == 0,
        "lifecycle": lifecycle,
    }


def run(root: Path, profile: bool = True, naive: bool = True) -> None:
    load_before = list(os.getloadavg())
    t0 = time.perf_counter()
    warehouse = load(root)  # in this process; each measurement runs in a child of its own
    load_s = time.perf_counter() - t0
    results = {}
    kinds = (
        *(("naive",) if naive else ()),
        "sql",
        "ibis",
        "segment",
        *(("profile",) if profile else ()),
    )
    for kind in kinds:
        results[kind] = _child(kind, warehouse)
        print(
            kind,
            {k: v for k, v in results[kind].items() if k != "families"},
            file=sys.stderr,
            flush=True,
        )
    check = same_result(warehouse)
    ibis_s, sql_s = results["ibis"]["seconds"], results["sql"]["seconds"]
    report = {
        "benchmark": "tags",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        },
        "data": {
            "patients": N_PATIENTS,
            "events": N_EVENTS,
            "as_of": AS_OF.isoformat(),
            "other_rows": {k: _rows(k) for k in OTHER_ROWS},
            "load_seconds": round(load_s, 1),
        },
        "duckdb_memory_limit": os.environ.get("BENCH_MEMORY_LIMIT", "default (80% of RAM)"),
        "load_average_before_after": [load_before, list(os.getloadavg())],
        "memory": "peak_rss_bytes is each child's own VmHWM (fresh process per measurement)",
        "baseline": "hand-written DuckDB SQL as an expert writes it: raw TIMESTAMPTZ windows, "
        "integer epoch_us local days/hours, 90-day event reads, distinct days only "
        "inside the window, arg_max for the usual hour, JSON values for text",
        "all_tags_and_layers": {
            "careops_ibis": results["ibis"],
            "handwritten_duckdb_sql": results["sql"],
            "ratio_to_baseline": round(ibis_s / sql_s, 3) if sql_s else None,
            "same_result": check,
            "aim": {"seconds": 120, "peak_bytes": 8 * 2**30, "ratio": 1.1},
        },
        "segment_count": {"rule": SEGMENT_RULE, **results["segment"], "aim_seconds": 2},
    }
    if naive:
        naive_s = results["naive"]["seconds"]
        report["previous_baseline"] = {
            **results["naive"],
            "what": "the baseline before this rewrite (CAST(ts AS TIMESTAMP) "
            "per row, 400 days of events, DISTINCT over all days, row_number for the hour)",
            "speedup_of_new_baseline": round(naive_s / sql_s, 2) if sql_s else None,
            "same_rows_as_new_baseline": same_tables(warehouse, "naive_tags", "baseline_tags"),
        }
    if profile:
        report["per_family"] = results["profile"]
    name = (
        "tags"
        if N_PATIENTS == 1_000_000 and N_EVENTS == 100_000_000
        else f"tags_p{N_PATIENTS}_e{N_EVENTS}"
    )
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n")
    print(json.dumps(report, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Benchmark: every tag and layer for 1M patients / 100M events on DuckDB.

    python benchmarks/bench_tags.py [--data /tmp/careops-bench-tags] [--generate-only]

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
AS_OF = date(2026, 11, 1)
SPAN_DAYS = 400
CHUNK = 10_000_000
UTC = UTC
EPOCH_END = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=8)  # as_of 00:00 Shanghai
QUERIES = ["失眠怎么办", "高血压饮食", "头痛发热", "糖尿病 血糖", "儿童 咳嗽", "胃痛", "减肥",
           "颈椎病", "失眠 焦虑", "感冒药", "疫苗 接种", "体检 套餐"]
EVENT_NAMES = ["app_open", "view_content", "search", "view_doctor", "share", "message_open",
               "message_click", "invite"]
EVENT_P = [0.40, 0.25, 0.12, 0.12, 0.04, 0.04, 0.02, 0.01]


def _ids(prefix: str, n: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(n), pa.string()), "")


def _ts(rng: np.random.Generator, n: int, span_days: int = SPAN_DAYS) -> pa.Array:
    end_us = int(EPOCH_END.timestamp() * 1e6) + 10 * 86_400_000_000  # some facts after as_of
    start_us = end_us - span_days * 86_400_000_000
    return pa.array(rng.integers(start_us, end_us, n), pa.timestamp("us", tz="UTC"))


def _users(rng: np.random.Generator, n: int) -> np.ndarray:
    # skewed activity: a minority of patients produce most events
    return np.minimum((rng.pareto(1.2, n) * 40_000).astype(np.int64), N_PATIENTS - 1)


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
        arrays = [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type)
                  for f in schema]
        pq.write_table(pa.table(arrays, schema=schema), root / f"{name}.parquet")

    uid = np.arange(N_PATIENTS)
    day_us = 86_400_000_000
    reg_us = int(EPOCH_END.timestamp() * 1e6) - rng.integers(0, 3 * 365, N_PATIENTS) * day_us
    birth = (np.datetime64("2026-01-01") - rng.integers(0, 90 * 365, N_PATIENTS)).astype("M8[D]")
    managed = np.where(rng.random(N_PATIENTS) < 0.05, rng.integers(0, N_PATIENTS, N_PATIENTS), -1)
    write("patients", {
        "user_id": _ids("u", uid),
        "registered_at": pa.array(reg_us, pa.timestamp("us", tz="UTC")),
        "birth_date": pa.array(birth),
        "sex": pa.array(rng.choice(["M", "F", "U"], N_PATIENTS, p=[0.48, 0.5, 0.02])),
        "region": pa.array(rng.choice(["华东", "华北", "华南", "西南", "东北"], N_PATIENTS)),
        "managed_by": pc.if_else(pa.array(managed >= 0), _ids("u", np.maximum(managed, 0)),
                                 pa.nulls(N_PATIENTS, pa.string())),
    })
    # events in Parquet row groups of CHUNK rows
    ev_schema = TABLES["events"].arrow_schema()
    qjson = pa.array([json.dumps({"query": q}, ensure_ascii=False) for q in QUERIES])
    with pq.ParquetWriter(root / "events.parquet", ev_schema) as writer:
        for start in range(0, N_EVENTS, CHUNK):
            n = min(CHUNK, N_EVENTS - start)
            names = rng.choice(len(EVENT_NAMES), n, p=EVENT_P)
            props = pc.if_else(pa.array(names == 2),
                               pc.take(qjson, pa.array(rng.integers(0, len(QUERIES), n))),
                               pa.nulls(n, pa.string()))
            writer.write_table(pa.table([
                _ids("e", np.arange(start, start + n)), _ids("u", _users(rng, n)),
                _ts(rng, n), pc.take(pa.array(EVENT_NAMES), pa.array(names)), props,
            ], schema=ev_schema))
            print(f"events {start + n:,}", file=sys.stderr, flush=True)
    n = 4_000_000
    write("consultations", {
        "consultation_id": _ids("c", np.arange(n)), "user_id": _ids("u", _users(rng, n)),
        "started_at": _ts(rng, n),
        "department": pa.array(rng.choice(["全科", "心内科", "内分泌科", "儿科", "急诊科"], n)),
        "mode": pa.array(rng.choice(["text", "video", "phone", "offline"], n)),
        "diagnosis_code": pa.array(rng.choice(["I10", "E11.9", "J06.9", "K29.7", "G47.0", "R50"],
                                              n)),
        "price_cny": pa.array(rng.choice([0.0, 29.0, 59.0, 99.0], n)),
    })
    n = 5_000_000
    write("orders", {
        "order_id": _ids("o", np.arange(n)), "user_id": _ids("u", _users(rng, n)),
        "ts": _ts(rng, n),
        "category": pa.array(rng.choice(["consultation", "drug", "checkup", "package", "device"],
                                        n, p=[0.4, 0.35, 0.1, 0.05, 0.1])),
        "amount_cny": pa.array(np.round(rng.gamma(1.5, 120, n), 2)),
        "status": pa.array(rng.choice(["paid", "refunded", "failed"], n, p=[0.9, 0.05, 0.05])),
    })
    n = 2_000_000
    write("prescriptions", {
        "prescription_id": _ids("p", np.arange(n)), "user_id": _ids("u", _users(rng, n)),
        "ts": _ts(rng, n),
        "drug_name": pa.array(rng.choice(["氨氯地平片", "二甲双胍片", "布洛芬", "阿莫西林"], n)),
        "days_supply": pa.array(rng.choice([7, 14, 30], n)),
    })
    n = 6_000_000
    write("observations", {
        "observation_id": _ids("b", np.arange(n)), "user_id": _ids("u", _users(rng, n)),
        "ts": _ts(rng, n),
        "code": pa.array(rng.choice(["8480-6", "8462-4", "2339-0", "29463-7"], n)),
        "value": pa.array(np.round(rng.normal(120, 25, n), 1)),
    })
    n = 300_000
    write("conditions", {
        "condition_id": _ids("d", np.arange(n)),
        "user_id": _ids("u", rng.integers(0, N_PATIENTS, n)),
        "system": pa.array(np.full(n, "icd10")),
        "code": pa.array(rng.choice(["I10", "E11", "J45", "Z88.0", "Z82.4"], n)),
        "category": pa.array(rng.choice(["diagnosis", "allergy", "family_history"], n,
                                        p=[0.7, 0.15, 0.15])),
        "status": pa.array(np.full(n, "active")),
    })
    done.touch()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/careops-bench-tags")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    generate(Path(args.data))
    print(f"data ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.generate_only:
        return
    run(Path(args.data))


def run(root: Path) -> None:  # filled in below
    raise NotImplementedError


if __name__ == "__main__":
    main()

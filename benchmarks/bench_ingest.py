"""Ingestion throughput: N events from Parquet and from CSV through `careops ingest`.

Baseline, measured in the same run: a bare DuckDB `INSERT INTO events SELECT * FROM
read_parquet(...)` (and `read_csv`) of the same file into a fresh warehouse, no validation.
Aims (issue 3): ≥ 1M rows/s from Parquet; validation costing ≤ 2× the bare load.

The events are in random time order, so CareOps sorts them by `ts` on insert (zone maps); the
`parquet_time_ordered` figure loads the same rows already in time order (an export written as
events happen), which CareOps recognises without sorting. Each figure carries the 1-minute load
average when it was taken: on a shared machine compare the ratios of one run, not seconds.

    careops bench ingest [--rows 10000000] [--data /tmp/careops-bench-ingest]
                         [--formats parquet,parquet_time_ordered,csv]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from careops.bench import measure, save
from careops.config import Settings
from careops.ingest.pipeline import ingest_paths
from careops.warehouse import connect, create_tables

NAMES = np.array(["app_open", "search", "view_content", "view_doctor", "share", "message_open"])
PROPS = np.array(['{"query": "失眠"}', '{"topic": "高血压"}', '{"doctor_id": "d12"}', "{}"])


def make_events(rows: int, folder: Path) -> tuple[Path, Path]:
    """Write `rows` synthetic events once as Parquet and as CSV (kept for later runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    parquet, csv = folder / f"events_{rows}.parquet", folder / f"events_{rows}.csv"
    if parquet.exists() and csv.exists():
        return parquet, csv
    rng = np.random.default_rng(1)
    writer = None
    chunk = 2_000_000
    with pacsv.CSVWriter(
        csv,
        pa.schema(
            [
                ("event_id", pa.string()),
                ("user_id", pa.string()),
                ("ts", pa.timestamp("us", tz="UTC")),
                ("name", pa.string()),
                ("properties", pa.string()),
            ]
        ),
    ) as csv_writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            base = np.datetime64("2025-01-01T00:00:00", "us")
            offsets = rng.integers(0, 300 * 86_400_000_000, n).astype("timedelta64[us]")
            table = pa.table(
                {
                    "event_id": pa.array(np.char.add("e", np.arange(start, start + n).astype(str))),
                    "user_id": pa.array(
                        np.char.add("u", rng.integers(0, 1_000_000, n).astype(str))
                    ),
                    "ts": pa.array(base + offsets, pa.timestamp("us", tz="UTC")),
                    "name": pa.array(NAMES[rng.integers(0, len(NAMES), n)]),
                    "properties": pa.array(PROPS[rng.integers(0, len(PROPS), n)]),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table)
            csv_writer.write_table(table)
    writer.close()
    return parquet, csv


def time_ordered(parquet: Path) -> Path:
    """The same events sorted by time (written once, kept for later runs)."""
    path = parquet.with_name(parquet.stem + "_by_ts.parquet")
    if not path.exists():
        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{parquet}') ORDER BY ts) TO '{path}' "
            "(FORMAT parquet)"
        )
        con.close()
    return path


def bare_load(path: Path, reader: str, target: Path) -> int:
    con = duckdb.connect(str(target))
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, user_id VARCHAR, ts TIMESTAMPTZ, "
        "name VARCHAR, properties VARCHAR)"
    )
    con.execute(f"INSERT INTO events SELECT * FROM {reader}('{path}')")
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    return n


def make_patients(folder: Path) -> Path:
    """The 1M patients the events belong to, so that no event is flagged as an unknown user."""
    path = folder / "patients_1m.parquet"
    if not path.exists():
        n = 1_000_000
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array(np.char.add("u", np.arange(n).astype(str))),
                    "registered_at": pa.array(
                        np.full(n, np.datetime64("2024-06-01", "us")), pa.timestamp("us", tz="UTC")
                    ),
                }
            ),
            path,
        )
    return path


def careops_warehouse(target: Path, patients: Path):
    """A fresh warehouse holding the patients (set up outside the timed part)."""
    con = connect(f"duckdb:///{target}")
    create_tables(con)
    ingest_paths(con, [patients], settings=Settings(), kind="patients")
    return con


def careops_load(con, path: Path) -> int:
    report = ingest_paths(con, [path], settings=Settings(), kind="events")
    return report.tables["events"]["loaded"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/careops-bench-ingest"))
    parser.add_argument(
        "--formats",
        default="parquet,parquet_time_ordered,csv",
        help="comma-separated: parquet, parquet_time_ordered, csv",
    )
    args = parser.parse_args()
    parquet, csv = make_events(args.rows, args.data)
    patients = make_patients(args.data)
    work = args.data / "work"
    results = {}
    inputs = {"parquet": (parquet, "read_parquet"), "csv": (csv, "read_csv")}
    if "parquet_time_ordered" in args.formats:
        inputs["parquet_time_ordered"] = (time_ordered(parquet), "read_parquet")
    for label in args.formats.split(","):
        path, reader = inputs[label]
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        load_before = os.getloadavg()[0]
        bare = measure(lambda p=path, r=reader: bare_load(p, r, work / "bare.duckdb"))
        con = careops_warehouse(work / "careops.duckdb", patients)
        load_between = os.getloadavg()[0]
        ours = measure(lambda p=path, c=con: careops_load(c, p))
        con.disconnect()
        assert bare.value == ours.value == args.rows, (bare.value, ours.value)
        results[label] = {
            "rows": args.rows,
            "careops_seconds": round(ours.seconds, 2),
            "careops_rows_per_s": round(args.rows / ours.seconds),
            "careops_peak_gb": ours.peak_gb,
            "baseline_seconds": round(bare.seconds, 2),
            "baseline_rows_per_s": round(args.rows / bare.seconds),
            "ratio_to_baseline": round(ours.seconds / bare.seconds, 2),
            "load_avg_1m": {
                "before_baseline": round(load_before, 2),
                "before_careops": round(load_between, 2),
                "after": round(os.getloadavg()[0], 2),
            },
        }
        print(label, results[label], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    path = save(
        "ingest",
        {
            "baseline": "bare DuckDB INSERT INTO events SELECT * FROM read_parquet()/read_csv()",
            "aims": {"parquet_rows_per_s": 1_000_000, "ratio_to_baseline": 2.0},
            "results": results,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()

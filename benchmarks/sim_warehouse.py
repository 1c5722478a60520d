"""The simulated hospital the model benchmarks share: simulate once, ingest into DuckDB, reuse.

`simulated_warehouse(name, patients, days, data)` returns the DuckDB file and the simulator's
configuration; the data is kept under `data` (default /tmp/careops-bench-<name>-<patients>) so a
second run skips the simulation and the ingestion.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from careops.sim import SimConfig

SEED = 11
START = dt.date(2025, 1, 1)


def sim_config(patients: int, days: int, seed: int = SEED) -> SimConfig:
    """The benchmarks' simulator settings (seed 11 from 2025-01-01, chunks of ≤ 50,000)."""
    return SimConfig(
        users=patients,
        days=days,
        seed=seed,
        start=START,
        chunk_users=min(patients, 50_000),
    )


def simulated_warehouse(
    name: str, patients: int, days: int, data: Path | None = None
) -> tuple[Path, SimConfig]:
    """The DuckDB warehouse of a simulated hospital (made on the first call) and its config."""
    from careops.config import get_settings
    from careops.ingest.pipeline import ingest_paths
    from careops.sim import simulate
    from careops.sim.writer import table_paths
    from careops.warehouse import connect, create_tables

    cfg = sim_config(patients, days)
    root = data or Path(f"/tmp/careops-bench-{name}-{patients}")
    wh = root / "wh.duckdb"
    if not wh.exists():
        root.mkdir(parents=True, exist_ok=True)
        out = simulate(cfg, root / "sim").out
        tmp = root / "wh.duckdb.part"
        tmp.unlink(missing_ok=True)
        con = connect(f"duckdb:///{tmp}")
        create_tables(con)
        ingest_paths(con, table_paths(out), settings=get_settings())
        con.disconnect()
        tmp.rename(wh)
    return wh, cfg

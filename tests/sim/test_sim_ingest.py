"""A simulated hospital goes through the real ingestion door with nothing quarantined."""

from __future__ import annotations

import datetime as dt

import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.sim import SimConfig, simulate
from careops.sim.writer import table_paths


@pytest.mark.parametrize(
    "backend", [pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_small_simulation_ingests_with_zero_quarantined_rows(tmp_path, make_warehouse, backend):
    cfg = SimConfig(
        users=400,
        days=90,
        seed=5,
        start=dt.date(2025, 2, 1),
        chunk_users=250,
        truth_horizon_days=365,
    )
    result = simulate(cfg, tmp_path / "sim")
    con = make_warehouse(backend)
    report = ingest_paths(con, table_paths(result.out), settings=get_settings())
    assert report.exit_code == 0, report.to_json()
    tables = report.tables
    assert all(
        c["quarantined"] == 0 and c["duplicates"] == 0 and c["flagged"] == 0
        for c in tables.values()
    ), tables
    for name, rows in result.rows.items():
        if name.startswith("ground_truth") or rows == 0:
            continue
        assert tables[name]["loaded"] == rows, name
        assert con.table(name).count().execute() == rows


def test_the_whole_simulation_folder_ingests(tmp_path, make_warehouse):
    cfg = SimConfig(users=150, days=40, seed=6, start=dt.date(2025, 2, 1), truth_horizon_days=365)
    out = simulate(cfg, tmp_path / "sim").out
    report = ingest_paths(make_warehouse("duckdb"), [out], settings=get_settings())
    assert report.exit_code == 0, report.to_json()["rejected"]

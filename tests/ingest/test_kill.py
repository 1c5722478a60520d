"""kill -9 in the middle of a load leaves the batch wholly absent; a rerun then loads it once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from careops.warehouse import connect, create_tables

N = 400_000


@pytest.fixture(scope="module")
def big_events(tmp_path_factory):
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("kill") / "events.parquet"
    base = np.datetime64("2025-01-01T00:00:00", "us")
    ts = base + rng.integers(0, 300 * 86_400_000_000, N).astype("timedelta64[us]")
    table = pa.table(
        {
            "event_id": pa.array([f"e{i}" for i in range(N)]),
            "user_id": pa.array([f"u{i}" for i in rng.integers(0, 50_000, N)]),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "name": pa.array(
                np.array(["app_open", "search", "view_content"])[rng.integers(0, 3, N)]
            ),
            "properties": pa.array(['{"topic": "高血压"}'] * N),
        }
    )
    pq.write_table(table, path)
    return path


def _ingest(url: str, path) -> subprocess.Popen:
    env = {**os.environ, "CAREOPS_CONFIG": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "careops", "ingest", str(path), "-w", url, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def _count(url: str) -> int:
    con = connect(url)
    try:
        return int(con.table("events").count().execute())
    finally:
        con.disconnect()


def _tables(url: str) -> set[str]:
    """Every table a new session sees (a killed load's staging tables must not be among them)."""
    con = connect(url)
    try:
        return set(con.list_tables())
    finally:
        con.disconnect()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_mid_load_then_rerun(kind, big_events, tmp_path, request):
    def new_url(name: str) -> str:
        if kind == "postgres":
            return request.getfixturevalue("pg_database")()
        return f"duckdb:///{tmp_path / (name + '.duckdb')}"

    url = new_url("w")
    # how long a whole load takes here, on a throw-away warehouse
    probe = new_url("probe")
    start = time.monotonic()
    proc = _ingest(probe, big_events)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-2000:]
    full = time.monotonic() - start
    con = connect(url)  # the warehouse exists before the load, as it would in production
    create_tables(con)
    con.disconnect()
    tables = _tables(url)
    seen = set()
    for fraction in (0.3, 0.6, 0.9):
        proc = _ingest(url, big_events)
        time.sleep(full * fraction)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        rows = _count(url)
        assert rows in (0, N), f"half-loaded batch: {rows} rows after kill at {fraction}"
        assert _tables(url) == tables  # no staging table left behind
        seen.add(rows)
        if rows == N:
            break
    proc = _ingest(url, big_events)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-2000:]
    assert _count(url) == N
    assert 0 in seen  # at least one kill did land before the commit

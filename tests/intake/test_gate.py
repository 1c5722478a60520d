"""The service's gate into its DuckDB file: readers beside the writer in one process, one
writer at a time, and the file free for other processes between uses."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from careops.errors import WarehouseBusy
from careops.warehouse import create_tables, warehouse
from careops.warehouse.connect import disown, own


@pytest.fixture
def url(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with warehouse(url) as con:
        create_tables(con)
    gate = own(url, wait_s=5)
    yield url
    disown(url)
    assert gate is not None


def test_readers_run_beside_the_writer_and_writers_take_turns(url):
    order: list[str] = []
    writing = threading.Event()

    def write(name: str, hold: float) -> None:
        with warehouse(url) as con:
            order.append(f"{name} in")
            writing.set()
            con.raw_sql(
                f"INSERT INTO events (event_id, user_id, ts, name) VALUES ('{name}', 'u', "
                "now(), 'x')"
            )
            time.sleep(hold)
            order.append(f"{name} out")

    first = threading.Thread(target=write, args=("w1", 0.5))
    first.start()
    writing.wait()
    second = threading.Thread(target=write, args=("w2", 0))
    second.start()
    with warehouse(url, read_only=True) as con:  # same mode inside the process: no error
        assert con.raw_sql("SELECT count(*) FROM patients").fetchone()[0] == 0
    first.join()
    second.join()
    assert order == ["w1 in", "w1 out", "w2 in", "w2 out"]
    with warehouse(url, read_only=True) as con:
        assert con.raw_sql("SELECT count(*) FROM events").fetchone()[0] == 2


def test_between_uses_another_process_may_write(url):
    with warehouse(url) as con:
        con.raw_sql("SELECT 1")
    path = url.removeprefix("duckdb:///")
    code = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE t (x INT)')"
    done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_service_waits_for_a_cli_holding_the_file_then_says_so(url):
    own(url, wait_s=0.5)
    path = url.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy, match=r"waited 0\.5 s"), warehouse(url, read_only=True):
            pass
    finally:
        holder.kill()
        holder.wait()

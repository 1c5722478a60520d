import datetime as dt

import pyarrow as pa
import pytest

from careops.errors import ConfigError, WarehouseError
from careops.schema import TABLES
from careops.warehouse import backend_kind, connect
from tests.conftest import fill


def test_every_canonical_table_is_created(warehouse):
    tables = set(warehouse.list_tables())
    assert set(TABLES) <= tables
    assert {"_loads", "quarantine", "ingest_flags", "ingest_extras"} <= tables


def test_fill_and_read_back_orders(warehouse):
    ts = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
    fill(
        warehouse,
        {
            "orders": pa.table(
                {
                    "order_id": ["o1", "o2"],
                    "user_id": ["u1", "u1"],
                    "ts": [ts, ts],
                    "category": ["drug", "consultation"],
                    "amount_cny": [35.5, 60.0],
                    "status": ["paid", "paid"],
                }
            )
        },
    )
    t = warehouse.table("orders")
    assert t.amount_cny.sum().execute() == pytest.approx(95.5)
    assert t.count().execute() == 2


def test_duckdb_url_forms(tmp_path):
    con = connect(f"duckdb:///{tmp_path}/w.duckdb")
    assert backend_kind(con) == "duckdb"
    assert (tmp_path / "w.duckdb").exists()
    assert backend_kind(connect("duckdb:///:memory:")) == "duckdb"


def test_unknown_scheme_names_the_forms():
    with pytest.raises(ConfigError, match="duckdb:///"):
        connect("mysql://x")


@pytest.mark.postgres
def test_unreachable_postgres_is_a_warehouse_error():
    with pytest.raises(WarehouseError, match="cannot open warehouse"):
        connect("postgresql://postgres@127.0.0.1:1/nowhere")


def test_read_only_refuses_a_missing_duckdb_file_and_creates_nothing(tmp_path):
    with pytest.raises(WarehouseError, match="does not exist"):
        connect(f"duckdb:///{tmp_path}/no/w.duckdb", read_only=True)
    assert not (tmp_path / "no").exists()


def test_read_only_opens_an_existing_file_for_reading_only(tmp_path):
    connect(f"duckdb:///{tmp_path}/w.duckdb").create_table("t", schema={"a": "int64"})
    con = connect(f"duckdb:///{tmp_path}/w.duckdb", read_only=True)
    assert "t" in con.list_tables()
    with pytest.raises(Exception, match="read-only"):
        con.raw_sql("CREATE TABLE u (a INT)")


def test_the_context_manager_closes_the_connection_also_on_an_exception(tmp_path):
    """The cause of the old 'Could not set lock on file': a raised exception kept the DuckDB
    handle alive, so the next process could not open the file."""
    import subprocess
    import sys

    from careops.warehouse import warehouse

    url = f"duckdb:///{tmp_path}/w.duckdb"
    with pytest.raises(RuntimeError), warehouse(url) as con:
        con.raw_sql("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("boom")
    # another process can now open the file for writing (DuckDB: one writing process)
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "print(c.execute('select x from t').fetchone()[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "w.duckdb")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_a_second_writer_gets_a_clear_busy_error_not_a_traceback(tmp_path):
    import subprocess
    import sys

    from careops.errors import Conflict, WarehouseBusy

    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "c.execute('create table t(x int)'); print('ready', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy) as caught:
            connect(f"duckdb:///{path}")
        assert isinstance(caught.value, Conflict)
        assert "另一个进程" in str(caught.value) and caught.value.exit_code == 3
    finally:
        holder.kill()
        holder.wait()

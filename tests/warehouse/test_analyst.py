"""The analyst SQL door end to end: normal analysis works on every engine; every way out of the
warehouse is refused with a clear `Forbidden`, by the engine itself as well as by the check."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa
import pytest

from careops.errors import CareOpsError, Forbidden, InvalidInput
from careops.state.store import read_audit
from careops.warehouse.analyst import QueryCancelled, QueryTimeout, run_query
from tests.warehouse.conftest import N_EVENTS, T0


def rows(ops, text, **kw) -> list[dict]:
    with run_query(ops, text, **kw) as run:
        return pa.Table.from_batches(list(run), schema=run.schema).to_pylist()


# --- normal analysis on all three engines ------------------------------------------------------


def test_joins_ctes_windows_count_distinct_and_timestamps(any_ops):
    got = rows(
        any_ops,
        """
        WITH spend AS (
            SELECT user_id, sum(amount_cny) AS total, count(*) AS n FROM orders GROUP BY user_id)
        SELECT p.user_id, p.city, s.total, s.n,
               rank() OVER (ORDER BY s.total DESC) AS spend_rank,
               (SELECT count(DISTINCT e.name) FROM events e WHERE e.user_id = p.user_id) AS kinds
        FROM patients p JOIN spend s ON s.user_id = p.user_id
        ORDER BY p.user_id""",
    )
    assert got == [
        {"user_id": "u1", "city": "上海", "total": 30.0, "n": 2, "spend_rank": 3, "kinds": 2},
        {"user_id": "u2", "city": "北京", "total": 30.5, "n": 1, "spend_rank": 2, "kinds": 2},
        {"user_id": "u3", "city": "广州", "total": 40.0, "n": 1, "spend_rank": 1, "kinds": 2},
    ]


def test_count_and_count_distinct_side_by_side(any_ops):
    """PostgreSQL names both columns `count`; they come back as `count` and `count_2`."""
    got = rows(any_ops, "SELECT count(*), count(distinct user_id) FROM events")
    assert len(got) == 1 and sorted(got[0].values()) == [3, N_EVENTS]
    assert len(got[0]) == 2


def test_timestamps_come_back_as_utc_instants(any_ops):
    got = rows(any_ops, "SELECT min(ts) AS first, max(ts) AS last FROM events")[0]
    assert got["first"] == T0
    assert got["last"] == T0 + dt.timedelta(hours=N_EVENTS - 1)


def test_rows_stream_in_batches_never_all_at_once(any_ops):
    with run_query(any_ops, "SELECT event_id FROM events ORDER BY event_id", batch_rows=16) as run:
        sizes = [b.num_rows for b in run]
    assert sum(sizes) == N_EVENTS and max(sizes) <= 16 and len(sizes) >= N_EVENTS // 16


def test_every_run_is_audited_with_text_rows_and_actor(analyst_ops):
    ops = analyst_ops("duckdb")
    rows(ops, "SELECT * FROM orders WHERE amount_cny > 15")
    with pytest.raises(Forbidden):
        rows(ops, "SELECT * FROM quarantine")
    refused, ran = read_audit(ops.state, limit=2)
    assert ran["action"] == "sql" and ran["actor"] == ops.actor.label
    assert ran["detail"]["query"] == "SELECT * FROM orders WHERE amount_cny > 15"
    assert ran["detail"]["rows"] == 3 and ran["detail"]["outcome"] == "ok"
    assert refused["detail"]["outcome"] == "refused" and refused["detail"]["rows"] == 0
    assert "quarantine" in refused["detail"]["problem"]


# --- escape attempts: DuckDB -------------------------------------------------------------------

SECRET = "top-secret-line"


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.csv"
    path.write_text(f"a\n{SECRET}\n")
    return path


DUCKDB_DOORS = {
    "read_csv": "SELECT * FROM read_csv('{f}')",
    "read_csv_auto": "SELECT * FROM read_csv_auto('{f}')",
    "string_as_table": "SELECT * FROM '{f}'",
    "from_first_string": "FROM '{f}'",
    "read_text": "SELECT * FROM read_text('{f}')",
    "read_text_scalar_position": "SELECT (SELECT content FROM read_text('{f}'))",
    "read_blob": "SELECT * FROM read_blob('{f}')",
    "read_parquet": "SELECT * FROM read_parquet('{f}')",
    "read_json": "SELECT * FROM read_json('{f}')",
    "sniff_csv": "SELECT * FROM sniff_csv('{f}')",
    "glob": "SELECT * FROM glob('{d}/*')",
    "query_table": "SELECT * FROM query_table('quarantine')",
    "query": "SELECT * FROM query('SELECT * FROM read_csv(''{f}'')')",
    "sqlite_scan_state_store": "SELECT * FROM sqlite_scan('{state}', 'audit_log')",
    "postgres_scan": "SELECT * FROM postgres_scan('host=127.0.0.1 user=postgres', 'public', 't')",
    "quoted_name": "SELECT * FROM \"read_csv\"('{f}')",
    "schema_prefixed": "SELECT * FROM main.read_csv('{f}')",
    "system_prefixed": "SELECT * FROM system.main.read_csv('{f}')",
    "method_call": "SELECT '{f}'.read_text()",
    "in_subquery": "SELECT * FROM orders WHERE user_id IN (SELECT a FROM read_csv('{f}'))",
    "in_cte": "WITH x AS (SELECT * FROM read_csv('{f}')) SELECT * FROM x",
    "getenv": "SELECT getenv('HOME')",
    "current_setting": "SELECT current_setting('enable_external_access')",
    "duckdb_settings": "SELECT * FROM duckdb_settings()",
    "attach": "ATTACH '{state}' AS s (TYPE sqlite)",
    "copy_out": "COPY orders TO '{d}/leak.csv'",
    "copy_select": "COPY (SELECT * FROM orders) TO '{d}/leak.csv'",
    "install": "INSTALL httpfs",
    "load": "LOAD sqlite",
    "set_access": "SET enable_external_access = true",
    "pragma": "PRAGMA database_list",
    "quarantine_raw_records": "SELECT raw FROM quarantine",
    "contacts": "SELECT * FROM contacts",
    "loads_ledger": "SELECT source FROM _loads",
    "cte_shadow_later": "WITH a AS (SELECT * FROM quarantine), quarantine AS (SELECT 1 AS x) "
    "SELECT * FROM a",
    "other_database": "SELECT * FROM other.main.orders",
    "create": "CREATE TABLE t AS SELECT 1",
    "insert": "INSERT INTO orders SELECT * FROM orders",
    "two_statements": "SELECT 1; COPY orders TO '{d}/leak.csv'",
}


@pytest.mark.parametrize("door", DUCKDB_DOORS)
def test_duckdb_doors_are_refused(analyst_ops, secret_file, tmp_path, door):
    ops = analyst_ops("duckdb")
    text = DUCKDB_DOORS[door].format(
        f=secret_file, d=tmp_path, state=ops.state_url.removeprefix("sqlite:///")
    )
    with pytest.raises(CareOpsError) as caught:
        rows(ops, text)
    assert isinstance(caught.value, Forbidden | InvalidInput)
    assert SECRET not in str(caught.value)
    if door != "two_statements":
        assert isinstance(caught.value, Forbidden), caught.value
    assert not (tmp_path / "leak.csv").exists()


# The first wall alone: the same doors, sent to the locked-down DuckDB without the statement
# check. The engine must refuse each of them by itself.
ENGINE_DOORS = [
    "read_csv",
    "read_csv_auto",
    "string_as_table",
    "from_first_string",
    "read_text",
    "read_blob",
    "read_parquet",
    "read_json",
    "sniff_csv",
    "glob",
    "query",
    "sqlite_scan_state_store",
    "postgres_scan",
    "quoted_name",
    "schema_prefixed",
    "system_prefixed",
    "in_subquery",
    "in_cte",
    "attach",
    "copy_out",
    "copy_select",
    "install",
    "load",
    "set_access",
    "create",
    "insert",
]


@pytest.mark.parametrize("door", ENGINE_DOORS)
def test_duckdb_engine_refuses_without_the_statement_check(
    analyst_ops, secret_file, tmp_path, door
):
    from careops.warehouse.analyst_engines import DuckDBSession

    ops = analyst_ops("duckdb")
    text = DUCKDB_DOORS[door].format(
        f=secret_file, d=tmp_path, state=ops.state_url.removeprefix("sqlite:///")
    )
    with ops.warehouse(read_only=True) as con:
        session = DuckDBSession(con, 100)
        with pytest.raises(Exception) as caught:
            session.start(text)
            list(session.batches())
    message = str(caught.value)
    assert SECRET not in message
    assert any(
        s in message
        for s in (
            "Permission Error",
            "configuration has been locked",
            "read-only",
            "not in the catalog",
            "does not exist",
        )
    ), message
    assert not (tmp_path / "leak.csv").exists()


def test_duckdb_warehouse_tables_stay_readable_after_lockdown(analyst_ops):
    from careops.warehouse.analyst_engines import DuckDBSession

    ops = analyst_ops("duckdb")
    with ops.warehouse(read_only=True) as con:
        session = DuckDBSession(con, 100)
        session.start("SELECT count(*) AS n FROM events")
        assert [b.to_pylist() for b in session.batches()] == [[{"n": N_EVENTS}]]


# --- escape attempts: PostgreSQL ---------------------------------------------------------------

PG_DOORS = {
    "pg_read_file": "SELECT pg_read_file('/etc/passwd')",
    "pg_read_binary_file": "SELECT pg_read_binary_file('/etc/passwd')",
    "pg_ls_dir": "SELECT * FROM pg_ls_dir('.')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "lo_export": "SELECT lo_export(1, '/tmp/careops-leak')",
    "copy_to_program": "COPY orders TO PROGRAM 'touch /tmp/careops-leak'",
    "copy_to_file": "COPY orders TO '/tmp/careops-leak'",
    "terminate": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "cancel": "SELECT pg_cancel_backend({pid})",
    "reload": "SELECT pg_reload_conf()",
    "set_config": "SELECT set_config('statement_timeout', '0', false)",
    "set_config_role": "SELECT set_config('role', 'postgres', true)",
    "qualified_set_config": "SELECT \"pg_catalog\".\"set_config\"('role', 'postgres', true)",
    "set_role": "SET ROLE postgres",
    "reset_role": "RESET ROLE",
    "alter_system": "ALTER SYSTEM SET log_statement = 'none'",
    "query_to_xml": "SELECT query_to_xml('SELECT * FROM quarantine', true, false, '')",
    "query_to_xml_set_role": (
        "SELECT query_to_xml('SELECT set_config(''role'',''postgres'',true)', true, false, '')"
    ),
    "ts_stat_runs_sql": (
        "SELECT * FROM ts_stat('SELECT to_tsvector(set_config(''role'', ''postgres'', false))')"
    ),
    "ts_stat_in_select": ("SELECT (ts_stat('SELECT to_tsvector(raw) FROM quarantine')).word"),
    "dblink": "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)",
    "state_store_audit": "SELECT * FROM audit_log",
    "other_schema": "SELECT * FROM pg_catalog.pg_authid",
    "quarantine": "SELECT raw FROM quarantine",
    "contacts": "SELECT * FROM contacts",
    "create_extension": "CREATE EXTENSION dblink",
    "insert": "INSERT INTO orders (order_id) VALUES ('x')",
    "select_into": "SELECT * INTO leak FROM orders",
    "do_block": "DO $$ BEGIN PERFORM 1; END $$",
    "two_statements": "SELECT 1; SET ROLE postgres",
}


@pytest.fixture
def admin_pid():
    from tests.conftest import _pg_admin

    admin = _pg_admin()
    yield admin.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert admin.execute("SELECT 1").fetchone() == (1,)  # still alive: nobody signalled it
    admin.close()


@pytest.mark.postgres
@pytest.mark.parametrize("door", PG_DOORS)
def test_postgres_doors_are_refused(analyst_ops, admin_pid, door):
    ops = analyst_ops("postgres")
    with pytest.raises(CareOpsError) as caught:
        rows(ops, PG_DOORS[door].format(pid=admin_pid))
    assert isinstance(caught.value, Forbidden if door != "two_statements" else InvalidInput), (
        caught.value
    )
    assert "13800000000" not in str(caught.value)


PG_ENGINE_DOORS = [
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "lo_import",
    "lo_export",
    "terminate",
    "cancel",
    "reload",
    "query_to_xml",
    "dblink",
    "ts_stat_in_select",
    "state_store_audit",
    "quarantine",
    "contacts",
    "insert",
    "select_into",
    "other_schema",
]


@pytest.mark.postgres
@pytest.mark.parametrize("door", PG_ENGINE_DOORS)
def test_postgres_analyst_role_refuses_without_the_statement_check(analyst_ops, admin_pid, door):
    """The first wall alone: READ ONLY transaction as careops_analyst."""
    from careops.warehouse.analyst_engines import PostgresSession

    ops = analyst_ops("postgres")
    with ops.state.begin() as conn:  # the state store lives in the same database
        conn.exec_driver_sql("SELECT 1")
    session = PostgresSession(ops.warehouse_url, ops.settings, 30, 100)
    try:
        with pytest.raises(Exception) as caught:
            session.start(PG_DOORS[door].format(pid=admin_pid))
            list(session.batches())
    finally:
        session.close()
    # 42501 permission denied, 25006 read-only transaction, 42883 no such function (dblink is
    # not installed), 42P01 no such table; a cursor holds only a query (42601 for INSERT, INTO)
    expected = ("42501", "25006", "42883", "42P01") + (
        ("42601",) if door in ("insert", "select_into") else ()
    )
    assert getattr(caught.value, "sqlstate", None) in expected, caught.value


@pytest.mark.postgres
def test_postgres_analyst_url_must_not_be_the_owner(analyst_ops, monkeypatch):
    ops = analyst_ops("postgres")
    monkeypatch.setattr(ops.settings.sql, "analyst_url", ops.warehouse_url)  # postgres: super
    with pytest.raises(Forbidden, match="superuser"):
        rows(ops, "SELECT count(*) FROM orders")


@pytest.mark.postgres
def test_postgres_analyst_url_login_role(analyst_ops, monkeypatch):
    """Production: a login role of its own; its session cannot switch to another role."""
    import uuid

    from tests.conftest import _pg_admin

    ops = analyst_ops("postgres")
    role = f"careops_t_{uuid.uuid4().hex[:8]}"
    dbname = ops.warehouse_url.rsplit("/", 1)[1]
    admin = _pg_admin()
    admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        with _pg_on(dbname) as db:
            db.execute(f'GRANT SELECT ON orders, events TO "{role}"')
        url = ops.warehouse_url.replace("postgres@", f"{role}@")
        monkeypatch.setattr(ops.settings.sql, "analyst_url", url)
        monkeypatch.setattr(ops.settings.sql, "analyst_role", role)
        assert rows(ops, "SELECT count(*) AS n FROM orders") == [{"n": 4}]
        from careops.warehouse.analyst_engines import PostgresSession

        for door in ("query_to_xml_set_role", "ts_stat_runs_sql"):
            session = PostgresSession(ops.warehouse_url, ops.settings, 30, 100)
            try:
                with pytest.raises(Exception, match="permission denied"):
                    session.start(PG_DOORS[door])
                    list(session.batches())
            finally:
                session.close()
    finally:
        with _pg_on(dbname) as db:
            db.execute(f'DROP OWNED BY "{role}"')
        admin.execute(f'DROP ROLE "{role}"')
        admin.close()


def _pg_on(dbname):
    import psycopg

    from tests.conftest import PG_ADMIN

    return psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{dbname}", autocommit=True)


# --- escape attempts: Spark (the statement check is the wall) ----------------------------------

SPARK_DOORS = {
    "csv_path": "SELECT * FROM csv.`{f}`",
    "text_path": "SELECT * FROM text.`{f}`",
    "parquet_path": "SELECT * FROM parquet.`{d}`",
    "json_path": "SELECT * FROM json.`{f}`",
    "load_data": "LOAD DATA LOCAL INPATH '{f}' INTO TABLE orders",
    "add_jar": "ADD JAR /tmp/x.jar",
    "reflect": "SELECT reflect('java.lang.System', 'getProperty', 'user.home')",
    "java_method": "SELECT java_method('java.lang.System', 'getenv', 'HOME')",
    "try_reflect": "SELECT try_reflect('java.lang.System', 'getProperty', 'user.home')",
    "other_database": "SELECT * FROM default.orders",
    "set_conf": "SET spark.sql.shuffle.partitions = 1",
    "create_using": "CREATE TABLE leak USING csv LOCATION '{d}' AS SELECT * FROM orders",
    "quarantine": "SELECT raw FROM quarantine",
}


@pytest.mark.spark
@pytest.mark.parametrize("door", SPARK_DOORS)
def test_spark_doors_are_refused(analyst_ops, secret_file, tmp_path, door):
    ops = analyst_ops("spark")
    with pytest.raises(Forbidden) as caught:
        rows(ops, SPARK_DOORS[door].format(f=secret_file, d=tmp_path))
    assert SECRET not in str(caught.value)


# --- limits: timeout, cancel -------------------------------------------------------------------

HEAVY = "SELECT count(*) FROM events a, events b, events c, events d, events e"


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_long_query_is_cancelled_at_the_timeout(analyst_ops, kind):
    ops = analyst_ops(kind)
    with pytest.raises(QueryTimeout, match=r"0\.5 s"):
        rows(ops, HEAVY, timeout_s=0.5)
    entry = read_audit(ops.state, limit=1)[0]
    assert entry["detail"]["outcome"] == "timeout"
    assert rows(ops, "SELECT count(*) AS n FROM orders") == [{"n": 4}]  # nothing left hanging


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_cancel_from_another_thread_interrupts_the_engine(analyst_ops, kind):
    ops = analyst_ops(kind)
    with pytest.raises(QueryCancelled), run_query(ops, HEAVY, timeout_s=600) as run:
        timer = threading.Timer(0.3, run.cancel)
        timer.start()
        list(run)
    timer.join()
    assert read_audit(ops.state, limit=1)[0]["detail"]["outcome"] == "cancelled"


def test_refused_before_anything_runs_when_the_query_is_malformed(analyst_ops):
    ops = analyst_ops("duckdb")
    with pytest.raises(InvalidInput, match="nested too deeply"):
        rows(ops, "SELECT " + "(" * 60 + "1" + ")" * 60)
    with pytest.raises(InvalidInput, match="does not parse"):
        rows(ops, "SELEC 1")
    with pytest.raises(InvalidInput, match="query failed"):
        rows(ops, "SELECT nope FROM orders")


def test_no_query_runs_when_the_audit_trail_cannot_be_reached(analyst_ops):
    from careops.errors import Unavailable
    from careops.service import Ops

    ops = analyst_ops("duckdb")
    blind = Ops.open(ops.warehouse_url, "postgresql://nobody@127.0.0.1:1/nowhere")
    with pytest.raises(Unavailable, match="audit trail"):
        rows(blind, "SELECT * FROM orders")

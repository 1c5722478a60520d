"""`careops init`, `tables` and `sql` as a person uses them: output, files, limits, Ctrl-C."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys

import pytest

from careops.state.store import read_audit
from tests.warehouse.conftest import N_EVENTS


@pytest.fixture
def wh(analyst_ops):
    ops = analyst_ops("duckdb")
    return ops


def test_sql_table_shows_limit_rows_and_says_how_many_more(wh, run_cli):
    code, out, err = run_cli(
        "sql",
        "SELECT event_id FROM events ORDER BY event_id",
        "-w",
        wh.warehouse_url,
        "--state",
        wh.state_url,
        "--limit",
        "5",
    )
    assert code == 0, err
    text = " ".join(out.split())
    assert f"{N_EVENTS:,} rows" in text and f"{N_EVENTS - 5:,} more rows not shown" in text
    assert "e004" in out and "e005" not in out


@pytest.mark.parametrize("fmt", ["--csv", "--json"])
def test_sql_csv_and_json_stream_every_row(wh, run_cli, fmt):
    code, out, err = run_cli(
        "sql",
        "SELECT event_id, ts FROM events ORDER BY event_id",
        "-w",
        wh.warehouse_url,
        "--state",
        wh.state_url,
        "--limit",
        "5",
        fmt,
    )
    assert code == 0, err
    if fmt == "--json":
        data = json.loads(out)
        assert len(data) == N_EVENTS and data[0] == {
            "event_id": "e000",
            "ts": "2025-03-01T16:30:00+08:00",
        }
    else:
        lines = out.splitlines()
        assert lines[0] == '"event_id","ts"' and len(lines) == N_EVENTS + 1
        assert lines[1] == '"e000",2025-03-01 16:30:00.000000+0800'


def test_sql_empty_result_still_has_its_header(wh, run_cli):
    code, out, _ = run_cli(
        "sql",
        "SELECT order_id FROM orders WHERE false",
        "-w",
        wh.warehouse_url,
        "--state",
        wh.state_url,
        "--csv",
    )
    assert code == 0 and out == '"order_id"\n'
    code, out, _ = run_cli(
        "sql",
        "SELECT order_id FROM orders WHERE false",
        "-w",
        wh.warehouse_url,
        "--state",
        wh.state_url,
        "--json",
    )
    assert code == 0 and json.loads(out) == []


def test_sql_timestamps_are_shown_in_hospital_time_with_the_zone(wh, run_cli):
    code, out, _ = run_cli(
        "sql",
        "SELECT min(ts) AS first FROM events",
        "-w",
        wh.warehouse_url,
        "--state",
        wh.state_url,
    )
    assert code == 0
    assert "first (Asia/Shanghai)" in out and "2025-03-01 16:30:00+08:00" in out


def test_sql_count_and_count_distinct(wh, run_cli):
    code, out, _ = run_cli(
        "sql",
        "SELECT count(*), count(distinct user_id) FROM events",
        "-w",
        wh.warehouse_url,
        "--state",
        wh.state_url,
        "--json",
    )
    assert code == 0 and sorted(json.loads(out)[0].values()) == [3, N_EVENTS]


def test_sql_from_a_file_and_from_stdin(wh, run_cli, tmp_path, monkeypatch):
    query = tmp_path / "q.sql"
    query.write_text(
        "-- orders per user\nSELECT user_id, count(*) AS n\nFROM orders\nGROUP BY 1 ORDER BY 1\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(
        "sql", "--file", query, "-w", wh.warehouse_url, "--state", wh.state_url, "--json"
    )
    assert code == 0, err
    assert json.loads(out) == [
        {"user_id": "u1", "n": 2},
        {"user_id": "u2", "n": 1},
        {"user_id": "u3", "n": 1},
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT count(*) AS n FROM patients"))
    code, out, _ = run_cli(
        "sql", "-f", "-", "-w", wh.warehouse_url, "--state", wh.state_url, "--json"
    )
    assert code == 0 and json.loads(out) == [{"n": 3}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the query as an argument or with --file"),
        (("SELECT 1", "--file", "x.sql"), "not both"),
        (("--file", "/nonexistent/q.sql"), "no such file"),
        (("SELECT 1", "--csv", "--json"), "choose one of --csv and --json"),
    ],
)
def test_sql_usage_errors(wh, run_cli, args, message):
    code, _, err = run_cli("sql", *args, "-w", wh.warehouse_url, "--state", wh.state_url)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
        ("SELECT raw FROM quarantine", "not a table analysts may read"),
        ("SELECT " + "(" * 80 + "1" + ")" * 80, "nested too deeply"),
        ("COPY orders TO '/tmp/x.csv'", "only SELECT queries are allowed here, not COPY"),
    ],
)
def test_sql_refusals_are_one_clear_line(wh, run_cli, query, message):
    code, out, err = run_cli("sql", query, "-w", wh.warehouse_url, "--state", wh.state_url)
    assert code == 2 and message in err and "Traceback" not in err and out == ""


def test_sql_runs_are_audited(wh, run_cli):
    run_cli("sql", "SELECT count(*) FROM orders", "-w", wh.warehouse_url, "--state", wh.state_url)
    entry = read_audit(wh.state, limit=1)[0]
    assert entry["action"] == "sql" and entry["detail"]["rows"] == 1
    assert entry["detail"]["query"] == "SELECT count(*) FROM orders"


@pytest.mark.postgres
def test_ctrl_c_cancels_a_running_query(analyst_ops):
    """SIGINT while the engine is busy: the query stops, one line, exit 130, no traceback."""
    import time

    from tests.conftest import _pg_admin

    ops = analyst_ops("postgres")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "careops",
            "sql",
            "-w",
            ops.warehouse_url,
            "--state",
            ops.state_url,
            "--timeout",
            "600",
            "SELECT count(*) FROM events a, events b, events c, events d, events e",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    admin = _pg_admin()
    try:
        for _ in range(1200):  # until the engine is working on it (start-up may be slow)
            if admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'careops sql' AND state = 'active'"
            ).fetchone()[0]:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert (
            admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'careops sql'"
            ).fetchone()[0]
            == 0
        )  # nothing left running
    finally:
        proc.kill()
        admin.close()
    assert proc.returncode == 130, err
    assert "query cancelled" in err and "Traceback" not in err
    assert read_audit(ops.state, limit=1)[0]["detail"]["outcome"] == "cancelled"


def test_init_and_tables(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli("init", "-w", url)
    assert code == 0 and "table(s) created" in out and "revision" in out
    code, out, _ = run_cli("init", "-w", url)
    assert code == 0 and "0 table(s) created" in out
    code, out, _ = run_cli("tables", "-w", url, "--json")
    assert code == 0 and json.loads(out)["orders"] == 0


@pytest.mark.postgres
def test_init_on_postgres_sets_up_the_analyst_role(pg_database, run_cli):
    import psycopg

    url = pg_database()
    code, out, err = run_cli("init", "-w", url)
    assert code == 0, err
    assert "analyst role careops_analyst" in out and "SELECT on 16 table(s)" in out
    with psycopg.connect(url) as db:
        granted = {
            r[0]
            for r in db.execute(
                "SELECT table_name FROM information_schema.role_table_grants "
                "WHERE grantee = 'careops_analyst' AND privilege_type = 'SELECT'"
            )
        }
    assert "orders" in granted and not granted & {
        "contacts",
        "quarantine",
        "_loads",
        "ingest_extras",
        "audit_log",
    }
    code, out, err = run_cli(
        "sql", "SELECT count(*), count(distinct user_id) FROM events", "-w", url, "--json"
    )
    assert code == 0, err
    assert json.loads(out) == [{"count": 0, "count_2": 0}]

"""init, tables, quarantine export and the read-only `sql` command."""

from __future__ import annotations

import json

import pyarrow.csv as pacsv
import pytest

from tests.ingest.conftest import write


@pytest.fixture
def loaded(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write(tmp_path / "orders.csv", "order_id,user_id,ts,category,amount_cny,status\n"
          + "".join(f"o{i},u{i % 4},2025-03-0{i % 9 + 1},drug,{i}.5,paid\n" for i in range(40))
          + "bad,u1,2025-03-01,drug,-1,paid\n")
    assert run_cli("ingest", tmp_path / "orders.csv", "-w", url)[0] == 0
    return url


def test_init_is_idempotent(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli("init", "-w", url)
    assert code == 0 and "19 table(s) created" in out and "revision 0002" in out
    code, out, _ = run_cli("init", "-w", url)
    assert code == 0 and "0 table(s) created" in out


def test_tables_json(loaded, run_cli):
    code, out, _ = run_cli("tables", "-w", loaded, "--json")
    counts = json.loads(out)
    assert code == 0
    assert counts["orders"] == 40 and counts["patients"] == 0


def test_quarantine_export_csv(loaded, run_cli, tmp_path):
    code, out, _ = run_cli("quarantine", "export", tmp_path / "bad.csv", "-w", loaded)
    assert code == 0 and "1 record(s)" in out
    rows = pacsv.read_csv(tmp_path / "bad.csv").to_pylist()
    assert rows[0]["record"] == "row 42" and rows[0]["field"] == "amount_cny"


def test_sql_reads(loaded, run_cli):
    code, out, _ = run_cli("sql", "SELECT user_id, count(*) AS n FROM orders GROUP BY 1 "
                           "ORDER BY 1", "-w", loaded, "--json")
    assert code == 0
    assert json.loads(out) == [{"user_id": f"u{i}", "n": 10} for i in range(4)]


@pytest.mark.parametrize(("query", "message"), [
    ("DROP TABLE orders", "only SELECT queries are allowed here, not DROP"),
    ("SELECT 1; DELETE FROM orders", "exactly one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
    ("SELEC * FROM orders", "SQL does not parse"),
    ("SELECT nope FROM orders", "query failed"),
])
def test_sql_refuses_anything_but_reading(loaded, run_cli, query, message):
    code, _, err = run_cli("sql", query, "-w", loaded)
    assert code == 2 and message in err
    assert json.loads(run_cli("tables", "-w", loaded, "--json")[1])["orders"] == 40


@pytest.mark.parametrize("command", [("tables",), ("quarantine", "list"),
                                     ("quarantine", "export", "out.csv"), ("sql", "SELECT 1")])
def test_read_only_commands_do_not_create_a_missing_warehouse(tmp_path, run_cli, command):
    missing = tmp_path / "typo" / "w.duckdb"
    code, _, err = run_cli(*command, "-w", f"duckdb:///{missing}")
    assert code == 2 and "does not exist" in err and "careops init" in err
    assert not missing.exists() and not missing.parent.exists()

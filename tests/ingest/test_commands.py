"""init, tables, quarantine export and the read-only `sql` command."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from tests.ingest.conftest import write


@pytest.fixture
def loaded(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,category,amount_cny,status\n"
        + "".join(f"o{i},u{i % 4},2025-03-0{i % 9 + 1},drug,{i}.5,paid\n" for i in range(40))
        + "bad,u1,2025-03-01,drug,-1,paid\n",
    )
    assert run_cli("ingest", tmp_path / "orders.csv", "-w", url)[0] == 0
    return url


def test_init_is_idempotent(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli("init", "-w", url)
    assert code == 0 and "22 table(s) created" in out and "state store ready at revision 0" in out
    code, out, _ = run_cli("init", "-w", url)
    assert code == 0 and "0 table(s) created" in out


def test_tables_json(loaded, run_cli):
    code, out, _ = run_cli("tables", "-w", loaded, "--json")
    counts = json.loads(out)
    assert code == 0
    assert counts["orders"] == 40 and counts["patients"] == 0


def test_quarantine_export_csv(loaded, run_cli, tmp_path):
    code, out, _ = run_cli("quarantine", "export", tmp_path / "bad.csv", "-w", loaded)
    assert code == 0 and "已导出 1 条记录" in out
    rows = pacsv.read_csv(tmp_path / "bad.csv").to_pylist()
    assert rows[0]["隔离_原记录"] == "row 42" and rows[0]["隔离_字段"] == "amount_cny"
    assert rows[0]["隔离_原因"] == "amount_cny: 低于最小值 0: '-1'"
    assert rows[0]["order_id"] == "bad" and rows[0]["amount_cny"] == -1


def test_quarantine_export_in_english(loaded, run_cli, tmp_path):
    code, out, _ = run_cli(
        "quarantine", "export", tmp_path / "bad.csv", "-w", loaded, "--lang", "en"
    )
    assert code == 0 and "1 record(s)" in out
    row = pacsv.read_csv(tmp_path / "bad.csv").to_pylist()[0]
    assert row["quarantine_reason"] == "amount_cny: below the minimum 0: '-1'"


def test_repaired_export_loads_and_resolves_the_records(loaded, run_cli, tmp_path):
    """Export, repair in a spreadsheet, ingest: the rows load, the records are marked fixed."""
    run_cli("quarantine", "export", tmp_path / "待修复.csv", "-w", loaded)
    text = (tmp_path / "待修复.csv").read_text(encoding="utf-8-sig")
    (tmp_path / "待修复.csv").write_text(text.replace("-1", "1.5"), encoding="utf-8-sig")
    code, out, _ = run_cli("ingest", tmp_path / "待修复.csv", "-w", loaded, "--json")
    assert code == 0, out
    assert json.loads(out)["tables"]["orders"]["loaded"] == 1
    assert json.loads(run_cli("tables", "-w", loaded, "--json")[1])["orders"] == 41
    code, out, _ = run_cli("quarantine", "list", "-w", loaded, "--json")
    assert json.loads(out) == []
    code, out, _ = run_cli("quarantine", "list", "-w", loaded, "--all")
    assert "已修复" in out and "row 42" not in out and "第 42 行" in out


def test_a_fixed_file_loaded_again_resolves_its_earlier_records(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    head = "order_id,user_id,ts,category,amount_cny,status\n"
    write(tmp_path / "orders.csv", head + "o1,u1,2025-03-01,drug,-1,paid\n")
    assert run_cli("ingest", tmp_path / "orders.csv", "-w", url)[0] == 1
    assert len(json.loads(run_cli("quarantine", "list", "-w", url, "--json")[1])) == 1
    write(tmp_path / "orders.csv", head + "o1,u1,2025-03-01,drug,1,paid\n")
    assert run_cli("ingest", tmp_path / "orders.csv", "-w", url)[0] == 0
    assert json.loads(run_cli("quarantine", "list", "-w", url, "--json")[1]) == []
    rows = json.loads(run_cli("quarantine", "list", "-w", url, "--json", "--all")[1])
    assert [r["status"] for r in rows] == ["resolved"] and rows[0]["resolved_by"]


def test_a_repaired_export_of_two_tables_goes_to_each(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write(
        tmp_path / "in" / "orders.csv",
        "order_id,user_id,ts,category,amount_cny,status\n"
        + "".join(f"o{i},u1,2025-03-01,drug,1,paid\n" for i in range(30))
        + "ox,u1,2025-03-01,drug,-1,paid\n",
    )
    write(
        tmp_path / "in" / "patients.csv",
        "user_id,registered_at,sex\n"
        + "".join(f"u{i},2025-01-01,F\n" for i in range(30))
        + "uy,2025-01-01,Q\n",
    )
    assert run_cli("ingest", tmp_path / "in", "-w", url)[0] == 0
    run_cli("quarantine", "export", tmp_path / "fix.parquet", "-w", url)
    import pyarrow.parquet as pq

    fixed = pq.read_table(tmp_path / "fix.parquet").to_pylist()
    for row in fixed:
        row["amount_cny"] = "1" if row["amount_cny"] == "-1" else row["amount_cny"]
        row["sex"] = "U" if row["sex"] == "Q" else row["sex"]
    pq.write_table(pa.Table.from_pylist(fixed), tmp_path / "fix.parquet")
    code, out, _ = run_cli("ingest", tmp_path / "fix.parquet", "-w", url, "--json")
    report = json.loads(out)
    assert code == 0 and report["tables"]["orders"]["loaded"] == 1
    assert report["tables"]["patients"]["loaded"] == 1
    assert report["files"][0]["warnings"] == []  # the other table's empty columns are dropped
    assert json.loads(run_cli("quarantine", "list", "-w", url, "--json")[1]) == []


def test_sql_reads(loaded, run_cli):
    code, out, _ = run_cli(
        "sql",
        "SELECT user_id, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1",
        "-w",
        loaded,
        "--json",
    )
    assert code == 0
    assert json.loads(out) == [{"user_id": f"u{i}", "n": 10} for i in range(4)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DROP TABLE orders", "only SELECT queries are allowed here, not DROP"),
        ("SELECT 1; DELETE FROM orders", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
        ("SELEC * FROM orders", "SQL does not parse"),
        ("SELECT nope FROM orders", "query failed"),
    ],
)
def test_sql_refuses_anything_but_reading(loaded, run_cli, query, message):
    code, _, err = run_cli("sql", query, "-w", loaded)
    assert code == 2 and message in err
    assert json.loads(run_cli("tables", "-w", loaded, "--json")[1])["orders"] == 40


@pytest.mark.parametrize(
    "command",
    [("tables",), ("quarantine", "list"), ("quarantine", "export", "out.csv"), ("sql", "SELECT 1")],
)
def test_read_only_commands_do_not_create_a_missing_warehouse(tmp_path, run_cli, command):
    missing = tmp_path / "typo" / "w.duckdb"
    code, _, err = run_cli(*command, "-w", f"duckdb:///{missing}")
    assert code == 2 and "does not exist" in err and "careops init" in err
    assert not missing.exists() and not missing.parent.exists()

"""`careops ingest --replace`: correct data loaded wrongly, atomically and audited."""

from __future__ import annotations

import json
import re

import ibis
import pytest

from careops.warehouse import connect
from tests.ingest.conftest import write

PATIENTS = "患者ID,注册时间,性别,备注\nP1,2024-01-02,男,a\nP2,2024-01-03,女,b\n"
WRONG = (
    "table: patients\ncolumns: {患者ID: user_id, 注册时间: registered_at, 性别: sex}\n"
    "values: {sex: {男: F, 女: M}}\n"
)


@pytest.fixture
def wrongly_loaded(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write(tmp_path / "患者.csv", PATIENTS)
    write(tmp_path / "wrong.yaml", WRONG)
    write(tmp_path / "right.yaml", WRONG.replace("男: F, 女: M", "男: M, 女: F"))
    code, _, _ = run_cli(
        "ingest",
        tmp_path / "患者.csv",
        "--mapping",
        tmp_path / "wrong.yaml",
        "-w",
        url,
        "--state",
        f"sqlite:///{tmp_path / 's.db'}",
    )
    assert code == 0
    return tmp_path, url


def sexes(url: str) -> dict[str, str]:
    rows = connect(url).table("patients").select("user_id", "sex").to_pyarrow().to_pylist()
    return {r["user_id"]: r["sex"] for r in rows}


def test_a_wrong_mapping_is_corrected_with_replace(wrongly_loaded, run_cli):
    tmp_path, url = wrongly_loaded
    state = f"sqlite:///{tmp_path / 's.db'}"
    args = (
        tmp_path / "患者.csv",
        "--mapping",
        tmp_path / "right.yaml",
        "-w",
        url,
        "--state",
        state,
    )
    code, out, _ = run_cli("ingest", *args)
    assert code == 0 and "--replace" in re.sub(r"\s+", " ", out)  # says how to correct it
    assert sexes(url) == {"P1": "F", "P2": "M"}
    code, out, _ = run_cli("ingest", *args, "--replace", "--json")
    report = json.loads(out)
    assert code == 0 and report["tables"]["patients"]["loaded"] == 2
    assert "2 row(s) removed first" in report["files"][0]["warnings"][-1]
    assert sexes(url) == {"P1": "M", "P2": "F"}
    con = connect(url)
    first = report["files"][0]["replaces"]
    assert len(first) == 1
    extras = con.table("ingest_extras").to_pyarrow()["load_id"].to_pylist()
    assert extras == [report["files"][0]["load_id"]] * 2  # the earlier extras went
    from careops.state import connect_state
    from careops.state.store import read_audit

    assert read_audit(connect_state(state), limit=1)[0]["detail"]["replaces"] == first


def test_replace_is_all_or_nothing(wrongly_loaded, run_cli):
    tmp_path, url = wrongly_loaded
    write(tmp_path / "患者.csv", "患者ID,注册时间,性别\nP1,2024-01-02,男\nP2,x,女\n")
    code, _, _ = run_cli(
        "ingest",
        tmp_path / "患者.csv",
        "--mapping",
        tmp_path / "right.yaml",
        "-w",
        url,
        "--replace",
    )
    assert code == 1  # 1 of 2 bad: rejected whole
    assert sexes(url) == {"P1": "F", "P2": "M"}  # nothing was removed


def test_replace_needs_an_earlier_load(tmp_path, run_cli):
    write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,category,amount_cny,status\no1,u1,2025-01-05,drug,3,paid\n",
    )
    code, _, err = run_cli(
        "ingest", tmp_path / "orders.csv", "--replace", "-w", f"duckdb:///{tmp_path / 'w.duckdb'}"
    )
    assert code == 2 and "never loaded" in err and "without replacing" in err
    assert "(--replace)" in err  # the CLI names the flag of the field the error names


ORDERS = "order_id,user_id,ts,category,amount_cny,status\n"


def _orders(path, ids, amount=1):
    return write(path, ORDERS + "".join(f"o{i},u1,2025-01-05,drug,{amount},paid\n" for i in ids))


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_replace_removes_rows_the_corrected_file_no_longer_has(kind, make_warehouse, tmp_path):
    from careops.config import get_settings
    from careops.ingest.pipeline import ingest_paths

    con = make_warehouse(kind)
    _orders(tmp_path / "other.csv", [9], amount=7)  # another load's row stays
    path = _orders(tmp_path / "orders.csv", [1, 2, 3])
    for p in (tmp_path / "other.csv", path):
        assert ingest_paths(con, [p], settings=get_settings()).exit_code == 0
    _orders(path, [1, 2], amount=5)  # o3 was a mistake
    report = ingest_paths(con, [path], settings=get_settings(), replace=True)
    assert report.exit_code == 0
    rows = con.table("orders").order_by("order_id").to_pyarrow()
    assert rows["order_id"].to_pylist() == ["o1", "o2", "o9"]
    assert rows["amount_cny"].to_pylist() == [5.0, 5.0, 7.0]
    assert report.removed == {"orders": 3} and report.to_json()["removed"] == {"orders": 3}
    assert report.files[0].removed == {"orders": 3}
    ledger = con.table("_loads").filter(ibis._.load_id == report.files[0].load_id).to_pyarrow()
    assert ledger["replaced"].to_pylist() == [3]
    assert ledger["replaces"].to_pylist() == [",".join(report.files[0].replaces)]


def test_replace_finds_the_load_from_another_working_folder(tmp_path, run_cli, monkeypatch):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    _orders(tmp_path / "in" / "orders.csv", [1, 2])
    monkeypatch.chdir(tmp_path / "in")
    assert run_cli("ingest", "orders.csv", "-w", url)[0] == 0  # relative path
    monkeypatch.chdir(tmp_path)
    _orders(tmp_path / "in" / "orders.csv", [1])
    code, out, err = run_cli("ingest", "in/../in/orders.csv", "-w", url, "--replace", "--json")
    assert code == 0, err
    assert json.loads(out)["removed"] == {"orders": 2}
    assert sorted(connect(url).table("orders").order_id.to_pyarrow().to_pylist()) == ["o1"]


def test_the_replace_hint_works_for_the_same_file_under_another_path(wrongly_loaded, run_cli):
    """The file (unchanged) was loaded from another path with a wrong mapping; following the
    hint — `--replace` with the right mapping — corrects it instead of loading nothing."""
    tmp_path, url = wrongly_loaded
    (tmp_path / "copy").mkdir()
    copy = tmp_path / "copy" / "patients_export.csv"
    copy.write_bytes((tmp_path / "患者.csv").read_bytes())
    code, out, _ = run_cli("ingest", copy, "--mapping", tmp_path / "right.yaml", "-w", url)
    assert code == 0 and "--replace" in re.sub(r"\s+", " ", out)
    code, out, err = run_cli(
        "ingest", copy, "--mapping", tmp_path / "right.yaml", "-w", url, "--replace", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["removed"] == {"patients": 2}
    assert sexes(url) == {"P1": "M", "P2": "F"}


def test_replace_by_file_name_when_the_folder_moved(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    _orders(tmp_path / "2024" / "orders.csv", [1, 2, 3])
    assert run_cli("ingest", tmp_path / "2024" / "orders.csv", "-w", url)[0] == 0
    _orders(tmp_path / "moved" / "orders.csv", [1, 2], amount=4)
    code, out, err = run_cli(
        "ingest", tmp_path / "moved" / "orders.csv", "-w", url, "--replace", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["removed"] == {"orders": 3}
    _orders(tmp_path / "other" / "orders.csv", [5])
    assert run_cli("ingest", tmp_path / "other" / "orders.csv", "-w", url)[0] == 0
    _orders(tmp_path / "third" / "orders.csv", [1])
    code, _, err = run_cli("ingest", tmp_path / "third" / "orders.csv", "-w", url, "--replace")
    assert code == 2 and "loaded from several places" in err


def test_replace_in_a_warehouse_from_before_load_ids(tmp_path, run_cli):
    """Rows stored before rows carried their load: create_tables adds the columns and
    --replace falls back to the keys the corrected file holds."""
    import duckdb

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    path = _orders(tmp_path / "orders.csv", [1, 2])
    assert run_cli("ingest", path, "-w", url)[0] == 0
    raw = duckdb.connect(str(tmp_path / "w.duckdb"))
    raw.execute("ALTER TABLE orders DROP COLUMN _load_id")
    for column in ("path", "replaced", "replaces"):
        raw.execute(f"ALTER TABLE _loads DROP COLUMN {column}")
    raw.close()
    _orders(path, [1, 2], amount=8)
    code, out, err = run_cli("ingest", path, "-w", url, "--replace", "--json")
    assert code == 0, err
    assert json.loads(out)["removed"] == {"orders": 2}
    con = connect(url)
    assert con.table("orders").amount_cny.to_pyarrow().to_pylist() == [8.0, 8.0]
    assert "_load_id" in con.table("orders").columns

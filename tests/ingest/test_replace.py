"""`careops ingest --replace`: correct data loaded wrongly, atomically and audited."""

from __future__ import annotations

import json
import re

import pytest

from careops.warehouse import connect
from tests.ingest.conftest import write

PATIENTS = "患者ID,注册时间,性别,备注\nP1,2024-01-02,男,a\nP2,2024-01-03,女,b\n"
WRONG = "table: patients\ncolumns: {患者ID: user_id, 注册时间: registered_at, 性别: sex}\n" \
        "values: {sex: {男: F, 女: M}}\n"


@pytest.fixture
def wrongly_loaded(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write(tmp_path / "患者.csv", PATIENTS)
    write(tmp_path / "wrong.yaml", WRONG)
    write(tmp_path / "right.yaml", WRONG.replace("男: F, 女: M", "男: M, 女: F"))
    code, _, _ = run_cli("ingest", tmp_path / "患者.csv", "--mapping", tmp_path / "wrong.yaml",
                         "-w", url, "--state", f"sqlite:///{tmp_path / 's.db'}")
    assert code == 0
    return tmp_path, url


def sexes(url: str) -> dict[str, str]:
    rows = connect(url).table("patients").select("user_id", "sex").to_pyarrow().to_pylist()
    return {r["user_id"]: r["sex"] for r in rows}


def test_a_wrong_mapping_is_corrected_with_replace(wrongly_loaded, run_cli):
    tmp_path, url = wrongly_loaded
    state = f"sqlite:///{tmp_path / 's.db'}"
    args = (tmp_path / "患者.csv", "--mapping", tmp_path / "right.yaml", "-w", url,
            "--state", state)
    code, out, _ = run_cli("ingest", *args)
    assert code == 0 and "--replace" in re.sub(r"\s+", " ", out)   # says how to correct it
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
    assert extras == [report["files"][0]["load_id"]] * 2          # the earlier extras went
    from careops.state import connect_state
    from careops.state.store import read_audit

    assert read_audit(connect_state(state), limit=1)[0]["detail"]["replaces"] == first


def test_replace_is_all_or_nothing(wrongly_loaded, run_cli):
    tmp_path, url = wrongly_loaded
    write(tmp_path / "患者.csv", "患者ID,注册时间,性别\nP1,2024-01-02,男\nP2,x,女\n")
    code, _, _ = run_cli("ingest", tmp_path / "患者.csv", "--mapping", tmp_path / "right.yaml",
                         "-w", url, "--replace")
    assert code == 1                                       # 1 of 2 bad: rejected whole
    assert sexes(url) == {"P1": "F", "P2": "M"}            # nothing was removed


def test_replace_needs_an_earlier_load(tmp_path, run_cli):
    write(tmp_path / "orders.csv", "order_id,user_id,ts,category,amount_cny,status\n"
          "o1,u1,2025-01-05,drug,3,paid\n")
    code, _, err = run_cli("ingest", tmp_path / "orders.csv", "--replace",
                           "-w", f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert code == 2 and "never loaded" in err and "without --replace" in err

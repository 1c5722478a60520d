"""The ingestion service: the same loads, audit and quarantine export for every shell."""

from __future__ import annotations

import pytest

from careops.ingest.service import (
    IngestOptions,
    export_quarantine,
    ingest_files,
    list_quarantine,
)
from careops.service import Actor, Ops
from careops.state.store import read_audit
from tests.ingest.conftest import write

ORDERS = "order_id,user_id,ts,category,amount_cny,status\n"
BAD = (
    "".join(f"o{i},u1,2025-01-05,drug,{i},paid\n" for i in range(30))
    + "ox,u1,2025-01-05,drug,-1,paid\n"
)  # one bad row of 31


@pytest.fixture
def ops(tmp_path):
    context = Ops.open(
        f"duckdb:///{tmp_path / 'w.duckdb'}",
        f"sqlite:///{tmp_path / 's.db'}",
        actor=Actor("api-client", kind="app"),
    )
    yield context
    context.close()


def test_each_file_is_audited_by_the_service_unreadable_ones_too(ops, tmp_path):
    write(tmp_path / "in" / "orders.csv", ORDERS + BAD)
    write(tmp_path / "in" / "patients.csv", "")  # empty: unreadable
    report = ingest_files(ops, [tmp_path / "in"])
    assert {f.status for f in report.files} == {"loaded", "unreadable"}
    entries = read_audit(ops.state, limit=10)
    assert sorted(e["detail"]["status"] for e in entries) == ["loaded", "unreadable"]
    assert {e["actor"] for e in entries} == {"app:api-client"}
    unreadable = next(e for e in entries if e["detail"]["status"] == "unreadable")
    assert "empty" in unreadable["detail"]["reason"]
    with ops.warehouse(read_only=True) as con:  # closed again after
        ledger = {r["status"]: r for r in con.table("_loads").to_pyarrow().to_pylist()}
    assert set(ledger) == {"loaded", "unreadable"}
    assert "the file is empty" in ledger["unreadable"]["message"]
    assert ledger["unreadable"]["path"] == str((tmp_path / "in" / "patients.csv").resolve())
    assert ledger["unreadable"]["load_id"] == next(
        f.load_id for f in report.files if f.status == "unreadable"
    )


def test_quarantine_export_is_audited(ops, tmp_path):
    write(tmp_path / "orders.csv", ORDERS + BAD)
    load = ingest_files(ops, [tmp_path / "orders.csv"]).files[0].load_id
    records = list_quarantine(ops, load_id=load)
    assert [(r.record, r.field, r.status) for r in records] == [("row 32", "amount_cny", "open")]
    result = export_quarantine(ops, tmp_path / "out" / "fix.csv", load_id=load, headers="en")
    assert result.rows == 1 and result.path.is_file()
    entry = read_audit(ops.state, limit=1)[0]
    assert entry["action"] == "quarantine_export" and entry["actor"] == "app:api-client"
    assert entry["detail"] == {
        "filter": {"load_id": load, "table": None, "include_resolved": False},
        "rows": 1,
        "path": str((tmp_path / "out" / "fix.csv").resolve()),
    }


def test_the_cli_export_is_audited_too(tmp_path, run_cli):
    url, state = f"duckdb:///{tmp_path / 'w.duckdb'}", f"sqlite:///{tmp_path / 's.db'}"
    write(
        tmp_path / "orders.csv",
        ORDERS
        + "o1,u1,2025-01-05,drug,-1,paid\n"
        + "".join(f"o{i},u1,2025-01-05,drug,1,paid\n" for i in range(2, 40)),
    )
    assert run_cli("ingest", tmp_path / "orders.csv", "-w", url, "--state", state)[0] == 0
    code, _, _ = run_cli(
        "quarantine",
        "export",
        tmp_path / "bad.parquet",
        "-w",
        url,
        "--state",
        state,
        "--table",
        "orders",
    )
    assert code == 0
    from careops.state import connect_state

    entry = read_audit(connect_state(state), limit=1)[0]
    assert entry["action"] == "quarantine_export" and entry["detail"]["rows"] == 1
    assert entry["detail"]["filter"]["table"] == "orders"


def test_service_refuses_a_bad_ratio_without_naming_a_flag(ops, tmp_path):
    from careops.errors import InvalidInput

    with pytest.raises(InvalidInput, match="between 0 and 1") as exc:
        ingest_files(ops, [tmp_path], IngestOptions(max_bad_ratio=2))
    assert "--" not in str(exc.value)

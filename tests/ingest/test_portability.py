"""The same ingestion and reference queries give identical results on every backend."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from tests.ingest.conftest import write

FILES = {
    "patients.csv": "user_id,registered_at,birth_date,sex,region,city\n"
    "u1,2024-12-01 09:00:00,1980-02-03,M,广东,深圳\n"
    "u2,2024-12-02T10:00:00+08:00,1990-05-06,F,北京,北京\n"
    "u3,2024-12-03,2019-01-01,U,上海,上海\n",
    "orders.csv": "order_id,user_id,ts,category,sku,amount_cny,status\n"
    + "".join(
        f"o{i},u{i % 3 + 1},2025-01-{i % 28 + 1:02d} 0{i % 9}:00:00,"
        f"{['drug', 'consultation', 'package'][i % 3]},S{i},{10 + i * 7.5},"
        f"{'paid' if i % 5 else 'refunded'}\n"
        for i in range(60)
    )
    + "o0,u1,2025-01-01 00:00:00,drug,S0,10.0,refunded\n",  # exact duplicate
    "observations.csv": "observation_id,user_id,ts,code,value,unit\n"
    "b1,u1,2025-01-02 07:00,8480-6,150,mmHg\n"
    "b2,u1,2025-01-02 07:00,8462-4,95,mmHg\n"
    "g1,u2,2025-01-03 07:00,2339-0,252.2,mg/dL\n",
    # the key (user_id, channel, purpose, ts) is not the leading columns: Spark's anti-join
    # reordered them and its positional insert put ts into granted
    "consents.csv": "user_id,channel,purpose,granted,ts,source\n"
    "u1,sms,marketing,1,2025-01-02 08:00,app\n"
    "u1,sms,marketing,0,2025-01-09 08:00,app\n"
    "u2,all,all,1,2025-01-03 09:30,\n",
}


def _reference_queries(con) -> dict:
    orders = con.table("orders")
    obs = con.table("observations")
    paid = orders.filter(orders.status == "paid")
    revenue = (
        paid.group_by("user_id")
        .agg(revenue=paid.amount_cny.sum(), n=paid.count())
        .order_by("user_id")
    )
    return {
        "patients": con.table("patients").count().execute(),
        "revenue": [
            (r["user_id"], round(r["revenue"], 6), r["n"]) for r in revenue.to_pyarrow().to_pylist()
        ],
        "by_day": orders.group_by(day=orders.ts.date())
        .agg(n=orders.count())
        .order_by("day")
        .to_pyarrow()
        .to_pylist(),
        "first_ts": orders.ts.min().execute(),
        "glucose": round(obs.filter(obs.code == "2339-0").value.max().execute(), 6),
        "units": sorted(obs.unit.execute().tolist()),
        "loads": con.table("_loads").filter(ibis._.status == "loaded").count().execute(),
        "consents": sorted(
            (r["user_id"], r["granted"], _normalise(r["ts"]), r["source"])
            for r in con.table("consents").to_pyarrow().to_pylist()
        ),
    }


def _normalise(value):
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(dt.UTC).replace(tzinfo=None)
        )
    return value


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    for name, text in FILES.items():
        write(root / name, text)
    return root


@pytest.fixture(scope="module")
def duckdb_result(files, tmp_path_factory):
    from careops.warehouse import connect, create_tables

    con = connect(f"duckdb:///{tmp_path_factory.mktemp('ref') / 'w.duckdb'}")
    create_tables(con)
    report = ingest_paths(con, [files], settings=get_settings())
    return report.to_json()["tables"], _reference_queries(con)


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=pytest.mark.spark),
    ],
)
def test_same_results_as_duckdb(kind, files, duckdb_result, make_warehouse):
    con = make_warehouse(kind)
    report = ingest_paths(con, [files], settings=get_settings())
    tables, reference = duckdb_result
    assert report.to_json()["tables"] == tables
    got = _reference_queries(con)
    assert got.keys() == reference.keys()
    for key in reference:
        assert _normalise(got[key]) == _normalise(reference[key]), key
    # and loading the same folder again adds nothing
    again = ingest_paths(con, [files], settings=get_settings())
    assert {f.status for f in again.files} == {"already_loaded"}
    assert con.table("orders").count().execute() == 60


def test_duckdb_reference_values(duckdb_result):
    tables, ref = duckdb_result
    assert tables["orders"] == {"loaded": 60, "duplicates": 1, "quarantined": 0, "flagged": 0}
    assert ref["glucose"] == pytest.approx(252.2 / 18.016)
    assert ref["units"] == ["mm[Hg]", "mm[Hg]", "mmol/L"]
    assert _normalise(ref["first_ts"]) == dt.datetime(2024, 12, 31, 16, 0)  # 00:00 +08:00
    assert ref["consents"] == [
        ("u1", 0, dt.datetime(2025, 1, 9, 0, 0), "app"),
        ("u1", 1, dt.datetime(2025, 1, 2, 0, 0), "app"),
        ("u2", 1, dt.datetime(2025, 1, 3, 1, 30), None),
    ]


@pytest.mark.parametrize(
    "kind",
    [
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=pytest.mark.spark),
    ],
)
def test_replace_and_resolved_quarantine_on_each_backend(kind, make_warehouse, tmp_path):
    from careops.errors import InputError
    from careops.ingest.quarantine import read_quarantine

    con = make_warehouse(kind)
    head = "order_id,user_id,ts,category,amount_cny,status\n"
    path = tmp_path / "orders.csv"
    path.write_text(head + "o1,u1,2025-01-05,drug,-1,paid\n", encoding="utf-8")
    assert ingest_paths(con, [path], settings=get_settings()).exit_code == 1
    path.write_text(head + "o1,u1,2025-01-05,drug,2,paid\n", encoding="utf-8")
    assert ingest_paths(con, [path], settings=get_settings()).exit_code == 0
    assert len(read_quarantine(con)) == 0
    assert read_quarantine(con, include_resolved=True)["status"].to_pylist() == ["resolved"]
    path.write_text(head + "o1,u1,2025-01-05,drug,3,paid\n", encoding="utf-8")
    if kind == "spark":
        with pytest.raises(InputError, match="replacing a load needs a DuckDB or PostgreSQL"):
            ingest_paths(con, [path], settings=get_settings(), replace=True)
        return
    report = ingest_paths(con, [path], settings=get_settings(), replace=True)
    assert report.exit_code == 0 and report.files[0].replaces
    assert con.table("orders").amount_cny.to_pyarrow().to_pylist() == [3.0]

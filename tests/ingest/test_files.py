"""Each bad input of issue 3 with the exact outcome: nothing good lost, nothing half-loaded."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from careops.warehouse import connect
from tests.ingest.conftest import write

PATIENTS = (
    "user_id,registered_at,birth_date,sex,region,city\n"
    "u1,2024-12-01 09:00:00,1980-02-03,M,广东,深圳\n"
    "u2,2024-12-02,1990-05-06,F,北京,北京\n"
)


def orders_csv(rows: int, bad: dict[int, str] | None = None) -> str:
    lines = ["order_id,user_id,ts,category,sku,amount_cny,status"]
    for i in range(rows):
        lines.append((bad or {}).get(i, f"o{i},u1,2025-01-05 08:00:00,drug,SKU{i},{10 + i},paid"))
    return "\n".join(lines) + "\n"


def count(url: str, table: str) -> int:
    return int(connect(url).table(table).count().execute())


def test_clean_folder_loads_everything_patients_first(tmp_path, ingest_json):
    write(tmp_path / "in" / "orders.csv", orders_csv(3))
    write(tmp_path / "in" / "patients.csv", PATIENTS)
    code, report = ingest_json(tmp_path / "in")
    assert code == 0
    assert report["tables"] == {
        "patients": {"loaded": 2, "duplicates": 0, "quarantined": 0, "flagged": 0},
        "orders": {"loaded": 3, "duplicates": 0, "quarantined": 0, "flagged": 0},
    }
    con = connect(ingest_json.url)
    ts = con.table("orders").filter(lambda t: t.order_id == "o0").ts.execute()[0]
    # naive times are hospital time (Asia/Shanghai, UTC+8)
    assert ts.to_pydatetime().replace(tzinfo=None) == dt.datetime(2025, 1, 5, 0, 0)


def test_same_rows_twice_add_nothing(tmp_path, ingest_json):
    write(tmp_path / "orders.csv", orders_csv(4))
    assert ingest_json(tmp_path / "orders.csv")[0] == 0
    # same content: recognised from the ledger
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 0 and report["skipped"][0]["reason"].startswith("same content already loaded")
    # same ids in another file: deduplicated on the key
    write(tmp_path / "orders_again.csv", orders_csv(6))
    code, report = ingest_json(tmp_path / "orders_again.csv")
    assert report["tables"]["orders"] == {
        "loaded": 2,
        "duplicates": 4,
        "quarantined": 0,
        "flagged": 4 + 2,
    }
    assert count(ingest_json.url, "orders") == 6


def test_duplicate_ids_inside_a_file(tmp_path, ingest_json):
    text = orders_csv(
        40,
        bad={
            1: "o0,u1,2025-01-05 08:00:00,drug,SKU0,10,paid",  # identical to row of o0: duplicate
            2: "o0,u1,2025-01-05 08:00:00,drug,SKU0,99,paid",  # same id, other amount: conflict
        },
    )
    write(tmp_path / "orders.csv", text)
    code, report = ingest_json(tmp_path / "orders.csv", "--max-bad-ratio", "0.1")
    assert code == 0
    assert report["tables"]["orders"]["loaded"] == 38
    assert report["tables"]["orders"]["duplicates"] == 1
    assert report["tables"]["orders"]["quarantined"] == 1
    q = connect(ingest_json.url).table("quarantine").to_pyarrow().to_pylist()
    assert q[0]["record"] == "row 4" and q[0]["field"] == "order_id"
    assert "different values (first at row 2)" in q[0]["reason"]


def test_ids_that_differ_only_by_spaces_are_one_id(tmp_path, ingest_json):
    """The query trims keys; the check that decides whether to look for repeats must too, or
    " o0" and "o0" both reach the warehouse (DuckDB has no key constraint to stop them)."""
    text = orders_csv(20, bad={1: " o0 ,u1,2025-01-05 08:00:00,drug,SKU0,10,paid"})
    write(tmp_path / "orders.csv", text)
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 0
    assert report["tables"]["orders"]["duplicates"] == 1
    assert count(ingest_json.url, "orders") == 19


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("o5,u1,2025-13-45 08:00:00,drug,,10,paid", "ts", "not a valid date/time: '2025-13-45"),
        ("o5,u1,2099-01-01,drug,,10,paid", "ts", "in the future: '2099-01-01'"),
        ("o5,u1,2025-01-05,drug,,-3,paid", "amount_cny", "below the minimum 0: '-3'"),
        ("o5,u1,2025-01-05,drugs,,3,paid", "category", "unknown value: 'drugs'; expected one of"),
        ("o5,u1,2025-01-05,drug,,abc,paid", "amount_cny", "not a number: 'abc'"),
        ("o5,,2025-01-05,drug,,3,paid", "user_id", "required field is empty"),
        ("o5,u1,2025-01-05,drug,,3", None, "expected 7 fields, found 6"),
    ],
)
def test_a_bad_row_is_quarantined_with_row_field_and_reason(
    tmp_path, ingest_json, line, field, reason
):
    write(tmp_path / "orders.csv", orders_csv(30, bad={5: line}))
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 0
    assert report["tables"]["orders"]["loaded"] == 29
    assert report["tables"]["orders"]["quarantined"] == 1
    q = connect(ingest_json.url).table("quarantine").to_pyarrow().to_pylist()
    assert len(q) == 1
    assert q[0]["record"] == "row 7"  # header is line 1, the sixth data row is line 7
    assert q[0]["field"] == field
    assert reason in q[0]["reason"]
    assert q[0]["raw"]  # the raw record is kept for repair


def test_too_many_bad_rows_reject_the_file_whole(tmp_path, ingest_json):
    bad = {i: f"o{i},u1,2025-01-05,drug,,-1,paid" for i in range(3)}
    write(tmp_path / "orders.csv", orders_csv(20, bad=bad))  # 15 % bad > 5 %
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 1
    assert report["rejected"][0]["reason"].startswith("3 of 20 records are bad (15.0% > 5%)")
    assert count(ingest_json.url, "orders") == 0
    loads = connect(ingest_json.url).table("_loads").to_pyarrow().to_pylist()
    assert [r["status"] for r in loads] == ["rejected"]
    # the bad rows are kept for repair; a fixed file then loads
    assert count(ingest_json.url, "quarantine") == 3
    write(tmp_path / "orders.csv", orders_csv(20))
    assert ingest_json(tmp_path / "orders.csv")[0] == 0
    assert count(ingest_json.url, "orders") == 20


def test_missing_required_column_rejects_the_file(tmp_path, ingest_json):
    write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,category,sku,status\no1,u1,2025-01-05,drug,,paid\n",
    )
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 1
    assert "missing required column(s) amount_cny" in report["rejected"][0]["reason"]
    assert count(ingest_json.url, "orders") == 0


def test_unknown_extra_columns_are_kept_aside_with_a_warning(tmp_path, ingest_json):
    write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,category,amount_cny,status,渠道\n"
        "o1,u1,2025-01-05,drug,12,paid,小程序\n",
    )
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 0
    assert "ingest_extras: 渠道" in report["files"][0]["warnings"][0]
    extras = connect(ingest_json.url).table("ingest_extras").to_pyarrow().to_pylist()
    assert extras[0]["record_id"] == "o1"
    assert json.loads(extras[0]["data"]) == {"渠道": "小程序"}


def test_gbk_export_with_chinese_headers_and_a_mapping(tmp_path, ingest_json):
    write(
        tmp_path / "his" / "患者.csv",
        "患者ID,注册时间,性别,出生日期\n"
        "P001,2024-01-02,男,1950-03-04\nP002,2024-01-03,女,2018-07-08\n",
        encoding="gbk",
    )
    write(
        tmp_path / "map.yaml",
        "table: patients\ncolumns: {患者ID: user_id, 注册时间: "
        "registered_at, 性别: sex, 出生日期: birth_date}\nvalues: {sex: {男: M, 女: F}}\n",
    )
    code, report = ingest_json(tmp_path / "his", "--mapping", tmp_path / "map.yaml")
    assert code == 0 and report["tables"]["patients"]["loaded"] == 2
    sexes = connect(ingest_json.url).table("patients").order_by("user_id").sex.execute()
    assert list(sexes) == ["M", "F"]


def test_wrong_encoding_is_unreadable_with_advice(tmp_path, ingest_json):
    write(
        tmp_path / "patients.csv", "user_id,registered_at,sex\n张三,2024-01-02,M\n", encoding="gbk"
    )
    code, report = ingest_json(tmp_path / "patients.csv", "--encoding", "utf-8")
    assert code == 2
    assert "not valid utf-8 text" in report["unreadable"][0]["reason"]
    assert "name the right encoding, e.g. gbk" in report["unreadable"][0]["reason"]
    assert count(ingest_json.url, "patients") == 0


def test_empty_file_and_unknown_kinds(tmp_path, ingest_json):
    write(tmp_path / "d" / "events.csv", "")
    write(tmp_path / "d" / "notes.docx", "x")
    write(tmp_path / "d" / "orders.csv", orders_csv(2))
    code, report = ingest_json(tmp_path / "d")
    assert code == 2  # one file could not be read
    assert report["tables"]["orders"]["loaded"] == 2  # the good file still loaded
    assert "the file is empty" in report["unreadable"][0]["reason"]
    assert report["skipped"][0]["source"].endswith("notes.docx")


def test_truncated_csv_keeps_the_complete_rows(tmp_path, ingest_json):
    text = orders_csv(40)
    write(tmp_path / "orders.csv", text[: text.rindex(",paid")])  # cut inside the last row
    code, report = ingest_json(tmp_path / "orders.csv")
    assert code == 0
    assert report["tables"]["orders"]["loaded"] == 39
    assert report["tables"]["orders"]["quarantined"] == 1


def test_malformed_json_line(tmp_path, ingest_json):
    lines = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "user_id": "u1",
                "ts": "2025-01-05T08:00:00Z",
                "name": "search",
                "properties": {"query": "失眠"},
            },
            ensure_ascii=False,
        )
        for i in range(30)
    ]
    lines[3] = '{"event_id": "e3", "user_id": '
    write(tmp_path / "events.jsonl", "\n".join(lines) + "\n")
    code, report = ingest_json(tmp_path / "events.jsonl")
    assert code == 0
    assert report["tables"]["events"]["loaded"] == 29
    q = connect(ingest_json.url).table("quarantine").to_pyarrow().to_pylist()
    assert q[0]["record"] == "line 4" and "malformed JSON" in q[0]["reason"]
    props = connect(ingest_json.url).table("events").properties.execute()[0]
    assert json.loads(props) == {"query": "失眠"}


def test_truncated_parquet_is_unreadable(tmp_path, ingest_json):
    table = pa.table(
        {
            "order_id": ["o1"],
            "user_id": ["u1"],
            "ts": ["2025-01-05"],
            "category": ["drug"],
            "amount_cny": [1.0],
            "status": ["paid"],
        }
    )
    pq.write_table(table, tmp_path / "orders.parquet")
    data = (tmp_path / "orders.parquet").read_bytes()
    (tmp_path / "orders.parquet").write_bytes(data[: len(data) // 2])
    code, report = ingest_json(tmp_path / "orders.parquet")
    assert code == 2
    assert "unreadable Parquet" in report["unreadable"][0]["reason"]


def test_events_of_unknown_users_load_but_are_flagged(tmp_path, ingest_json):
    write(tmp_path / "patients.csv", PATIENTS)
    write(tmp_path / "orders.csv", orders_csv(2, bad={1: "o1,ghost,2025-01-05,drug,,5,paid"}))
    code, report = ingest_json(tmp_path)
    assert code == 0
    assert report["tables"]["orders"] == {
        "loaded": 2,
        "duplicates": 0,
        "quarantined": 0,
        "flagged": 1,
    }
    flags = connect(ingest_json.url).table("ingest_flags").to_pyarrow().to_pylist()
    assert [(f["record_id"], f["user_id"], f["flag"]) for f in flags] == [
        ("o1", "ghost", "unknown_user")
    ]


@pytest.mark.parametrize(
    ("code", "value", "unit", "expect"),
    [
        ("2339-0", "180", "mg/dL", pytest.approx(180 / 18.016)),
        ("29463-7", "150", "[lb_av]", pytest.approx(150 * 0.45359237)),
        ("8302-2", "70", "in", pytest.approx(177.8)),
        ("8480-6", "135", "mmHg", 135.0),
    ],
)
def test_observation_units_are_converted(tmp_path, ingest_json, code, value, unit, expect):
    write(
        tmp_path / "observations.csv",
        "observation_id,user_id,ts,code,value,unit\n"
        f"x1,u1,2025-01-05 07:00,{code},{value},{unit}\n",
    )
    assert ingest_json(tmp_path / "observations.csv")[0] == 0
    row = connect(ingest_json.url).table("observations").to_pyarrow().to_pylist()[0]
    assert row["value"] == expect


def test_unknown_unit_is_quarantined(tmp_path, ingest_json):
    rows = "".join(f"x{i},u1,2025-01-05 07:00,8480-6,120,mmHg\n" for i in range(30))
    write(
        tmp_path / "observations.csv",
        "observation_id,user_id,ts,code,value,unit\n"
        + rows
        + "bad,u1,2025-01-05 07:00,8480-6,120,kPa\n",
    )
    assert ingest_json(tmp_path / "observations.csv")[0] == 0
    q = connect(ingest_json.url).table("quarantine").to_pyarrow().to_pylist()
    assert q[0]["field"] == "unit"
    assert q[0]["reason"].startswith(
        "unit: unit 'kPa' is not valid for LOINC 8480-6; expected mm[Hg]"
    )


def test_usage_errors_exit_2(tmp_path, run_cli):
    code, _, err = run_cli("ingest", tmp_path / "missing.csv", "-w", "duckdb:///:memory:")
    assert code == 2 and "no such file or folder" in err
    code, _, err = run_cli("ingest", tmp_path, "--kind", "orderz", "-w", "duckdb:///:memory:")
    assert code == 2 and "unknown kind 'orderz'" in err and "(--kind)" in err


def test_summary_speaks_chinese_by_default_and_english_on_request(tmp_path, run_cli):
    write(
        tmp_path / "orders.csv",
        orders_csv(20, bad={i: f"o{i},u1,x,drug,,1,paid" for i in range(5)}),
    )
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli("ingest", tmp_path / "orders.csv", "-w", url)
    assert code == 1 and "整批拒绝" in out and "本文件未导入任何数据" in out
    code, out, _ = run_cli("quarantine", "list", "-w", url, "--lang", "en")
    assert "valid" in out and "Quarantine" in out and "open" in out  # cells wrap: 7 columns


def test_events_are_stored_in_time_order_on_duckdb(tmp_path, ingest_json):
    # rows arrive shuffled; stored sorted by ts so row-group min/max let time windows skip
    write(tmp_path / "in" / "patients.csv", PATIENTS)
    days = [5, 1, 9, 3, 7, 2, 8, 4, 6]
    write(
        tmp_path / "in" / "events.csv",
        "event_id,user_id,ts,name\n"
        + "".join(f"e{i},u1,2025-01-0{d} 08:00:00,app_open\n" for i, d in enumerate(days)),
    )
    code, _ = ingest_json(tmp_path / "in")
    assert code == 0
    stored = (
        connect(ingest_json.url).raw_sql("SELECT event_id FROM events ORDER BY rowid").fetchall()
    )
    assert [r[0] for r in stored] == [f"e{days.index(d)}" for d in sorted(days)]


def test_an_enrolment_may_end_in_the_future_but_not_start_there(tmp_path, ingest_json):
    """A package bought last month runs into next year: its end is no fact from the future.
    (Every timestamp was checked against today before, so a one-year package bought in the
    last year was quarantined — and the simulator's data started failing as the clock moved.)"""
    write(
        tmp_path / "enrollments.csv",
        "enrollment_id,user_id,package_id,start_at,end_at,price_cny,status\n"
        "e1,u1,PKG-HTN365,2025-12-07 08:00:00,2099-12-07 08:00:00,1980,active\n"
        "e2,u1,PKG-HTN365,2099-01-01 08:00:00,2100-01-01 08:00:00,1980,active\n",
    )
    code, report = ingest_json(tmp_path / "enrollments.csv", "--max-bad-ratio", "0.5")
    assert code == 0, report
    assert report["tables"]["enrollments"]["loaded"] == 1
    q = connect(ingest_json.url).table("quarantine").to_pyarrow().to_pylist()
    assert [(r["record"], r["field"]) for r in q] == [("row 3", "start_at")]
    assert "in the future" in q[0]["reason"]

"""Segments evaluated on a warehouse: counts, event windows, empty results, export, injection."""

from datetime import date

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from careops.segments import count, export, sample
from careops.segments.errors import RuleError
from careops.tags.errors import TagError
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)
EXAMPLE = 'searched("失眠", within="30d") and sex == "F" and age between 25 and 45'


def hospital() -> Hospital:
    h = Hospital(AS_OF)
    # matches: female, 25 and 45 at the edges, searched 失眠 within 30 days
    h.patient("f25", birth=date(2001, 6, 1), sex="F").event("f25", 30, "search", query="失眠怎么办")
    h.patient("f45", birth=date(1980, 6, 2), sex="F").event("f45", 1, "search", query="长期失眠")
    # misses: searched 31 days ago / male / aged 46 / searched something else
    h.patient("old", birth=date(1990, 1, 1), sex="F").event("old", 31, "search", query="失眠")
    h.patient("male", birth=date(1990, 1, 1), sex="M").event("male", 2, "search", query="失眠")
    h.patient("f46", birth=date(1980, 5, 31), sex="F").event("f46", 2, "search", query="失眠")
    h.patient("other", birth=date(1990, 1, 1), sex="F").event("other", 2, "search", query="头痛")
    h.patient("shares", birth=date(1990, 1, 1), sex="F").event("shares", 1, "share")
    h.event("shares", 2, "share").event("shares", 40, "share")
    h.patient("buyer", sex="M").order("buyer", 3, 50.0).order("buyer", 4, 60.0)
    h.order("buyer", 5, 500.0, status="refunded")
    return h


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    from careops.warehouse import connect, create_tables

    c = connect(f"duckdb:///{tmp_path_factory.mktemp('seg') / 'w.duckdb'}")
    create_tables(c)
    hospital().load(c)
    return c


@pytest.mark.parametrize(
    ("rule", "users"),
    [
        (EXAMPLE, ["f25", "f45"]),
        ('searched("失眠")', ["f25", "f45", "f46", "male", "old"]),
        ('did("share", within="30d", times=2)', ["shares"]),
        ('did("share", within="30d", times=3)', []),
        ('did("share", times=3)', ["shares"]),
        ('sex == "F" and did_not("search", within="30d")', ["old", "shares"]),
        ("bought(times=2)", ["buyer"]),
        ("bought(min_amount=100)", []),
        ('lifecycle == "沉默用户"', ["old"]),
        ('生命周期 == "沉默用户"', ["old"]),
        ('not (sex == "F") and age is null', ["buyer"]),
    ],
)
def test_rules_select_the_right_patients(con, rule, users):
    got = [r["user_id"] for r in sample(con, rule, AS_OF, n=100)]
    assert got == users
    assert count(con, rule, AS_OF) == len(users)


def test_injection_attempt_is_just_a_value(con):
    assert count(con, 'region == "x\'; DROP TABLE patients; --"', AS_OF) == 0
    with pytest.raises(RuleError, match="not a value of tag 'sex'"):
        count(con, 'sex == "F\'; DROP TABLE patients; --"', AS_OF)
    assert count(con, 'searched("\'); DELETE FROM events; --")', AS_OF) == 0
    assert count(con, 'sex == "F"', AS_OF) == 6  # the tables are intact


def test_export_csv_and_parquet(con, tmp_path):
    assert export(con, EXAMPLE, AS_OF, tmp_path / "s.csv", columns=["lifecycle"]) == 2
    raw = (tmp_path / "s.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel shows Chinese right
    table = pacsv.read_csv(tmp_path / "s.csv")
    assert table.column("user_id").to_pylist() == ["f25", "f45"]
    assert table.column_names == ["user_id", "sex", "性别", "age", "lifecycle", "生命周期"]
    assert table.column("性别").to_pylist() == ["女", "女"]
    assert table.column("生命周期").to_pylist() == ["低频用户", "低频用户"]
    assert table.column("lifecycle").to_pylist() == ["occasional", "occasional"]
    assert export(con, EXAMPLE, AS_OF, tmp_path / "s.parquet", columns=["lifecycle"]) == 2
    assert pq.read_table(tmp_path / "s.parquet").column_names == [
        "user_id",
        "sex",
        "age",
        "lifecycle",
    ]
    assert export(con, 'did("share", times=9)', AS_OF, tmp_path / "empty.parquet") == 0
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0
    with pytest.raises(RuleError, match=r"\.csv or \.parquet"):
        export(con, EXAMPLE, AS_OF, tmp_path / "s.xlsx")


def test_bad_dates(con):
    with pytest.raises(TagError, match="earliest registration is 2025"):
        count(con, EXAMPLE, date(2020, 1, 1))
    with pytest.raises(TagError, match="in the future"):
        count(con, EXAMPLE, date(2999, 1, 1))


def test_segment_count_is_the_same_on_every_backend(warehouse):
    hospital().load(warehouse)
    assert count(warehouse, EXAMPLE, AS_OF) == 2
    assert count(warehouse, 'did("share", within="30d", times=2) or bought(times=2)', AS_OF) == 2

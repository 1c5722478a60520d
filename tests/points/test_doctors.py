"""The doctors' peer comparison per department, on hand-worked numbers."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from careops.points import service
from careops.points.sources import doctor_report
from careops.service import Ops
from careops.warehouse import connect, create_tables
from tests.conftest import fill

T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


@pytest.fixture
def ops():
    context = Ops.open()
    con = connect(context.warehouse_url)
    create_tables(con)
    fill(
        con,
        {
            "doctors": pa.table(
                {
                    "doctor_id": ["d1", "d2", "d3", "d4", "k1"],
                    "name": ["甲", "乙", "丙", "丁", "戊"],
                    "department": ["儿科", "儿科", "儿科", "儿科", "内科"],
                    "title": ["主治"] * 5,
                }
            )
        },
    )
    con.disconnect()
    yield context
    context.close()


def test_doctors_are_ranked_against_their_departments_median(ops):
    def give(doc, rule, n, day=0):
        for i in range(n):
            service.earn(
                ops, "doctor", doc, rule, f"{doc}-{rule}-{i}", at=T0 + dt.timedelta(days=day)
            )

    give("d1", "answer", 6)  # 60
    give("d1", "good_rating", 4)  # +20 = 80
    give("d2", "answer", 4)  # 40
    give("d3", "answer", 2)  # 20; d4 earned nothing: 0
    give("k1", "article", 1)  # 50, alone in 内科
    give("d4", "answer", 9, day=40)  # outside the period
    rows = doctor_report(ops, T0, T0 + dt.timedelta(days=30))
    kids = [r for r in rows if r.department == "儿科"]
    assert [(r.doctor_id, r.points, r.rank) for r in kids] == [
        ("d1", 80, 1),
        ("d2", 40, 2),
        ("d3", 20, 3),
        ("d4", 0, 4),
    ]
    # median of 0, 20, 40, 80 = 30; d1 has 80/30 of it and more than 3 of 4 colleagues
    assert kids[0].dept_median == 30.0
    assert kids[0].vs_median == pytest.approx(80 / 30)
    assert [r.percentile for r in kids] == [75.0, 50.0, 25.0, 0.0]
    assert kids[0].by_rule == {"answer": 60, "good_rating": 20}
    (k1,) = [r for r in rows if r.department == "内科"]
    assert (k1.rank, k1.peers, k1.vs_median, k1.percentile) == (1, 1, 1.0, 0.0)
    only = doctor_report(ops, T0, T0 + dt.timedelta(days=30), department="内科")
    assert [r.doctor_id for r in only] == ["k1"]

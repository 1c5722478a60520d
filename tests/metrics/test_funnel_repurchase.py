"""复购 in a funnel is a paid order after the one that counted as 支付 (a real repurchase)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from careops.metrics import compute
from careops.schema import TABLES
from tests.conftest import fill
from tests.metrics.hospital import L

AS_OF = date(2025, 7, 1)


def _rows(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.Table.from_pylist([{f: r.get(f) for f in schema.names} for r in rows], schema=schema)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """Three users registered 2025-05-10, each searching and consulting on 05-11/05-12:
    one: exactly one paid order (after the consultation)   -> 支付, no 复购
    early: a paid order BEFORE the consultation, one after  -> 支付, no 复购 (one order after)
    two: two paid orders after the consultation             -> 支付 and 复购
    """
    from careops.warehouse import connect, create_tables

    con = connect(f"duckdb:///{tmp_path_factory.mktemp('f') / 'wh.duckdb'}")
    create_tables(con)
    users = ("one", "early", "two")
    orders = [
        ("one", L(2025, 5, 12, 13)),
        ("early", L(2025, 5, 10, 11)),
        ("early", L(2025, 5, 12, 13)),
        ("two", L(2025, 5, 12, 13)),
        ("two", L(2025, 5, 20)),
    ]
    fill(
        con,
        {
            "patients": _rows(
                "patients",
                [
                    dict(user_id=u, registered_at=L(2025, 5, 10, 10), source_channel="organic")
                    for u in users
                ],
            ),
            "events": _rows(
                "events",
                [
                    dict(event_id=f"e{i}", user_id=u, ts=L(2025, 5, 11), name="search")
                    for i, u in enumerate(users)
                ],
            ),
            "consultations": _rows(
                "consultations",
                [
                    dict(consultation_id=f"c{i}", user_id=u, started_at=L(2025, 5, 12), mode="text")
                    for i, u in enumerate(users)
                ],
            ),
            "orders": _rows(
                "orders",
                [
                    dict(
                        order_id=f"o{i}",
                        user_id=u,
                        ts=ts,
                        amount_cny=50.0,
                        status="paid",
                        category="consultation",
                    )
                    for i, (u, ts) in enumerate(orders)
                ],
            ),
        },
    )
    yield con
    con.disconnect()


def test_repurchase_needs_an_order_after_the_paid_step(wh):
    r = compute(wh, "funnel", AS_OF)
    assert [s.step for s in r.steps] == ["register", "search", "consult", "pay", "repurchase"]
    assert [s.users for s in r.steps] == [3, 3, 3, 3, 1]


def test_repurchase_without_a_pay_step_is_a_second_paid_order(wh):
    r = compute(wh, "funnel", AS_OF, steps="register,consult,repurchase")
    assert [s.users for s in r.steps] == [3, 3, 2]  # early's 2nd order, two's 2nd order
    r = compute(wh, "funnel", AS_OF, steps="register,pay,repurchase")
    assert [s.users for s in r.steps] == [3, 3, 2]

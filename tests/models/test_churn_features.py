"""Churn features on every backend, worked by hand: facts before the cut-off (00:00 hospital
time of as-of) only, hospital-local days, reply timeouts against the SLA setting, running
packages and their entitlement use; the patients scored and the labels observed later."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from careops.config import get_settings
from careops.models.churn.features import FEATURES, Encoding, load_features
from careops.models.churn.model import known_alive, observed_labels, still_users
from tests.conftest import fill

AS_OF = date(2025, 7, 1)
SH = timedelta(hours=8)


def L(y, m, d, h=12, mi=0) -> datetime:
    """Hospital-local wall time (UTC+8) → the UTC instant the warehouse stores."""
    return (datetime(y, m, d, h, mi) - SH).replace(tzinfo=UTC)


def ts(values):
    return pa.array(values, pa.timestamp("us", "UTC"))


def load(con) -> None:
    fill(
        con,
        {
            "patients": pa.table(
                {
                    "user_id": ["u1", "u2", "u3", "u4"],
                    "registered_at": ts(
                        [L(2025, 1, 1), L(2025, 6, 20), L(2024, 1, 1), L(2025, 7, 1, 9)]
                    ),
                    "birth_date": pa.array(
                        [date(1980, 7, 2), None, date(1950, 1, 1), None], pa.date32()
                    ),
                    "sex": ["F", "M", None, "F"],
                    "source_channel": ["douyin", None, "organic", "douyin"],
                }
            ),
            "events": pa.table(
                {
                    "event_id": [f"e{i}" for i in range(7)],
                    "user_id": ["u1", "u1", "u1", "u2", "u2", "u1", "u2"],
                    "ts": ts(
                        [
                            L(2025, 6, 17),  # 14 days before as-of
                            L(2025, 6, 30, 23, 30),  # search, last local day before as-of
                            L(2025, 5, 1),  # message_open, 61 days before: outside 30 days
                            L(2025, 6, 20),
                            L(2025, 6, 25),
                            L(2025, 7, 1, 0, 30),  # after the cut-off: not seen
                            L(2025, 7, 20),  # after: only the label sees it
                        ]
                    ),
                    "name": [
                        "app_open",
                        "search",
                        "message_open",
                        "app_open",
                        "search",
                        "app_open",
                        "app_open",
                    ],
                    "properties": ["{}"] * 7,
                }
            ),
            "consultations": pa.table(
                {
                    "consultation_id": ["c1", "c2", "c3"],
                    "user_id": ["u1", "u1", "u3"],
                    "doctor_id": ["d1"] * 3,
                    "department": ["内科", "心血管内科", "儿科"],
                    "started_at": ts([L(2025, 6, 1), L(2025, 6, 10), L(2025, 3, 1)]),
                    "first_reply_s": [30.0, 900.0, 700.0],  # SLA 600 s: c2 and c3 late
                    "mode": ["text"] * 3,
                    "rating": [5.0, 1.0, 4.0],
                    "price_cny": [50.0] * 3,
                }
            ),
            "orders": pa.table(
                {
                    "order_id": ["o1", "o2", "o3", "o4"],
                    "user_id": ["u1", "u1", "u1", "u3"],
                    "ts": ts([L(2025, 6, 1), L(2025, 6, 2), L(2025, 6, 3), L(2024, 3, 1)]),
                    "category": ["drug", "consultation", "consultation", "consultation"],
                    "amount_cny": [50.0, 80.0, 20.0, 999.0],
                    "status": ["paid", "refunded", "failed", "paid"],  # u3's paid > 365 days
                }
            ),
            "tickets": pa.table(
                {
                    "ticket_id": ["t1", "t2", "t3"],
                    "user_id": ["u1", "u1", "u1"],
                    "ts": ts([L(2025, 6, 11), L(2025, 6, 12), L(2025, 6, 21)]),
                    "kind": ["complaint", "question", "complaint"],
                    "reason": ["reply_timeout", "how_to_use", "payment_failure"],
                }
            ),
            "surveys": pa.table(
                {
                    "response_id": ["s1", "s2"],
                    "user_id": ["u1", "u1"],
                    "ts": ts([L(2025, 6, 12), L(2025, 6, 13)]),
                    "kind": ["nps", "nps"],
                    "score": [3.0, 8.0],
                }
            ),
            "enrollments": pa.table(
                {
                    "enrollment_id": ["n1", "n2"],
                    "user_id": ["u3", "u1"],
                    "package_id": ["p1", "p1"],
                    "start_at": ts([L(2025, 4, 1), L(2024, 1, 1)]),
                    "end_at": ts([L(2025, 7, 21), L(2024, 12, 31)]),  # u1's has ended
                    "price_cny": [699.0, 699.0],
                    "status": ["active", "expired"],
                }
            ),
            "observations": pa.table(
                {
                    "observation_id": [f"b{i}" for i in range(5)],
                    "user_id": ["u3"] * 5,
                    "ts": ts(
                        [
                            L(2025, 6, 1),
                            L(2025, 6, 2),
                            L(2025, 6, 3),
                            L(2025, 6, 4),
                            L(2025, 3, 1),  # 122 days before: outside 90 days
                        ]
                    ),
                    "code": ["8480-6", "8480-6", "2339-0", "29463-7", "8480-6"],
                    "value": [150.0, 130.0, 9.0, 70.0, 160.0],  # weight is not a target
                    "unit": ["mm[Hg]", "mm[Hg]", "mmol/L", "kg", "mm[Hg]"],
                }
            ),
            "entitlement_usage": pa.table(
                {
                    "usage_id": ["g1"],
                    "enrollment_id": ["n1"],
                    "user_id": ["u3"],
                    "ts": ts([L(2025, 5, 2)]),
                    "entitlement": ["consult"],
                }
            ),
        },
    )


def test_features_by_hand_on_every_backend(warehouse):
    load(warehouse)
    f = load_features(warehouse, AS_OF, get_settings())
    assert list(f.user_id) == ["u1", "u2", "u3"]  # u4 registered after the cut-off
    r = {name: list(f.raw[name]) for name in FEATURES}

    def col(name):
        return [None if isinstance(v, float) and math.isnan(v) else v for v in r[name]]

    assert col("registered_days") == [181, 11, 547]
    # u1: last active local day 2025-06-30 (the 23:30 search); u3: the 2025-03-01 consultation
    assert col("days_since_active") == [1, 6, 122]
    assert col("active_days_7d") == [1, 1, 0]
    assert col("active_days_30d") == [6, 2, 0]  # u1: 06-01, 02, 03, 10, 17, 30
    assert col("days_since_app_open") == [14, 11, None]
    assert col("app_opens_30d") == [1, 1, 0]
    assert col("searches_30d") == [1, 1, 0]
    assert col("message_opens_30d") == [0, 0, 0]
    assert col("searched_no_consult_30d") == [0, 1, 0]
    assert col("consults_90d") == [2, 0, 0]
    assert col("days_since_consult") == [21, None, 122]
    assert col("late_replies_90d") == [1, 0, 0]
    assert col("last_consult_late") == [1, 0, 1]
    assert col("low_ratings_90d") == [1, 0, 0]
    assert col("paid_orders_365d") == [1, 0, 0]
    assert col("spend_365d") == [50.0, 0.0, 0.0]
    assert col("days_since_order") == [30, None, 487]
    assert col("refunds_90d") == [1, 0, 0]
    assert col("failed_payments_90d") == [1, 0, 0]
    assert col("complaints_90d") == [2, 0, 0]
    assert col("days_since_complaint") == [10, None, None]
    assert col("tickets_90d") == [3, 0, 0]
    assert col("nps_min_90d") == [3.0, None, None]
    assert col("enrolled") == [0, 0, 1]
    assert col("package_days_left") == [None, None, 20]
    assert col("entitlement_uses_90d") == [0, 0, 1]
    assert col("days_since_entitlement_use") == [None, None, 60]
    assert col("age") == [44, None, 75]
    assert col("sex") == ["F", "M", "U"]
    assert col("channel") == ["douyin", "unknown", "organic"]
    # u1 active on 05-01, 06-01, 06-02, 06-03, 06-10, 06-17, 06-30; u3's 2024 order is older
    # than 365 days; 30 days before the last 30 (05-02 … 05-31): none for anyone
    assert col("active_days_365d") == [7, 2, 1]
    assert col("activity_trend") == [6, 2, 0]
    assert np.allclose(col("active_rate_365d"), [7 / 181, 2 / 11, 1 / 365])
    # decayed scores: 0.97 ** (days before as-of) per fact
    d = 0.97
    assert np.allclose(col("service_issues_recent"), [d**20, 0, 0])  # t1 (06-11)
    # t3 (06-21) and the failed order o3 (06-03)
    assert np.allclose(col("payment_issues_recent"), [d**10 + d**28, 0, 0])
    assert np.allclose(col("good_consults_recent"), [d**30, 0, d**122])  # ratings 5 and 4
    assert np.allclose(col("drug_orders_recent"), [d**30, 0, 0])  # o1 (06-01), paid
    assert np.allclose(col("entitlement_uses_recent"), [0, 0, d**60])  # g1 (05-02)
    # u3: systolic 150 (high), 130, glucose 9.0 (high) in 90 days; the weight is not counted
    assert col("uncontrolled_share_90d")[:2] == [None, None]
    assert col("uncontrolled_share_90d")[2] == 2 / 3
    assert col("last_department") == ["心血管内科", "none", "儿科"]
    # still users (active within 90 days) and known alive (within 3 days)
    s = get_settings()
    assert list(still_users(f, s)) == [True, True, False]
    assert list(known_alive(f, s)) == [True, False, False]
    # observed label: no active day in [as-of + 7, as-of + 37): u2 opened the app on 07-20
    assert list(observed_labels(warehouse, AS_OF, s, f.user_id)) == [True, False, True]


def test_encoding_keeps_training_codes_and_marks_unseen_values():
    enc = Encoding.fit({"sex": np.array(["F", "M"], object), "channel": np.array(["b", "a"])})
    assert enc.codes == {"sex": ["F", "M"], "channel": ["a", "b"]}
    np.testing.assert_array_equal(enc.encode("channel", np.array(["b", "zz", None])), [1, -1, -1])


def _future_facts() -> dict[str, pa.Table]:
    """A fact in every table the features read, for every patient, at the cut-off instant
    (00:00 of as-of, hospital time) and later: none may change a feature."""
    users = ["u1", "u2", "u3"]
    at = [L(2025, 7, 1, 0, 0), L(2025, 7, 1, 0, 0), L(2025, 9, 1)]
    n = len(users)

    def ids(prefix):
        return [f"{prefix}-future-{i}" for i in range(n)]

    return {
        "events": pa.table(
            {
                "event_id": ids("e"),
                "user_id": users,
                "ts": ts(at),
                "name": ["search", "app_open", "message_open"],
                "properties": ["{}"] * n,
            }
        ),
        "consultations": pa.table(
            {
                "consultation_id": ids("c"),
                "user_id": users,
                "doctor_id": ["d1"] * n,
                "department": ["眼科"] * n,
                "started_at": ts(at),
                "first_reply_s": [5000.0] * n,
                "mode": ["text"] * n,
                "rating": [1.0] * n,
                "price_cny": [50.0] * n,
            }
        ),
        "orders": pa.table(
            {
                "order_id": ids("o"),
                "user_id": users,
                "ts": ts(at),
                "category": ["drug"] * n,
                "amount_cny": [10.0] * n,
                "status": ["failed", "paid", "refunded"],
            }
        ),
        "tickets": pa.table(
            {
                "ticket_id": ids("t"),
                "user_id": users,
                "ts": ts(at),
                "kind": ["complaint"] * n,
                "reason": ["payment_failure", "reply_timeout", "reply_timeout"],
            }
        ),
        "surveys": pa.table(
            {
                "response_id": ids("s"),
                "user_id": users,
                "ts": ts(at),
                "kind": ["nps"] * n,
                "score": [0.0] * n,
            }
        ),
        "enrollments": pa.table(
            {
                "enrollment_id": ids("n"),
                "user_id": users,
                "package_id": ["p1"] * n,
                "start_at": ts(at),
                "end_at": ts([L(2025, 12, 1)] * n),
                "price_cny": [699.0] * n,
                "status": ["active"] * n,
            }
        ),
        "entitlement_usage": pa.table(
            {
                "usage_id": ids("g"),
                "enrollment_id": ["n1"] * n,
                "user_id": users,
                "ts": ts(at),
                "entitlement": ["consult"] * n,
            }
        ),
        "observations": pa.table(
            {
                "observation_id": ids("b"),
                "user_id": users,
                "ts": ts(at),
                "code": ["8480-6", "2339-0", "8480-6"],
                "value": [200.0, 20.0, 200.0],
                "unit": ["mm[Hg]", "mmol/L", "mm[Hg]"],
            }
        ),
    }


def test_no_feature_sees_a_fact_at_or_after_the_cut_off(make_warehouse):
    """Leakage: facts at the cut-off instant or later, in every table, change no feature."""
    con = make_warehouse("duckdb")
    load(con)
    before = load_features(con, AS_OF, get_settings())
    fill(con, _future_facts())
    after = load_features(con, AS_OF, get_settings())
    assert list(after.user_id) == list(before.user_id)
    for name in FEATURES:
        a, b = before.raw[name], after.raw[name]
        if a.dtype == object:
            assert list(a) == list(b), name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
    # the same facts a day earlier do change features (the test can fail)
    earlier = load_features(con, date(2025, 9, 2), get_settings())
    assert not np.array_equal(
        earlier.raw["payment_issues_recent"][:1], before.raw["payment_issues_recent"][:1]
    )

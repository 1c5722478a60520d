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
                    "department": ["内科"] * 3,
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
                    "category": ["consultation"] * 4,
                    "amount_cny": [50.0, 80.0, 20.0, 999.0],
                    "status": ["paid", "refunded", "failed", "paid"],  # u3's paid > 365 days
                }
            ),
            "tickets": pa.table(
                {
                    "ticket_id": ["t1", "t2"],
                    "user_id": ["u1", "u1"],
                    "ts": ts([L(2025, 6, 11), L(2025, 6, 12)]),
                    "kind": ["complaint", "question"],
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
    assert col("complaints_90d") == [1, 0, 0]
    assert col("days_since_complaint") == [20, None, None]
    assert col("tickets_90d") == [2, 0, 0]
    assert col("nps_min_90d") == [3.0, None, None]
    assert col("enrolled") == [0, 0, 1]
    assert col("package_days_left") == [None, None, 20]
    assert col("entitlement_uses_90d") == [0, 0, 1]
    assert col("days_since_entitlement_use") == [None, None, 60]
    assert col("age") == [44, None, 75]
    assert col("sex") == ["F", "M", "U"]
    assert col("channel") == ["douyin", "unknown", "organic"]
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

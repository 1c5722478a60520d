"""The policy's warehouse inputs, read set-wise on every backend: latest consents, profiles."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from careops.journeys.inputs import read_consents, read_profiles
from careops.journeys.policy import decide
from tests.conftest import fill

UTC = dt.UTC


def t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


def _patients() -> pa.Table:
    return pa.table(
        {
            "user_id": ["a", "b", "c"],
            "registered_at": pa.array([t(1)] * 3, pa.timestamp("us", tz="UTC")),
            "birth_date": pa.array([dt.date(1950, 5, 1), dt.date(1995, 5, 1), None]),
            "sex": ["F", "M", "U"],
        }
    )


def _consents() -> pa.Table:
    rows = [
        ("a", "all", "marketing", 1, t(2)),
        ("a", "all", "marketing", 0, t(3)),  # the latest wins
        ("a", "sms", "marketing", 1, t(4)),  # a later, narrower grant
        ("b", "wechat", "marketing", 1, t(2)),
        ("b", "wechat", "marketing", 0, t(3)),
        ("c", "all", "all", 1, t(2)),
    ]
    return pa.table(
        {
            "user_id": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "purpose": [r[2] for r in rows],
            "granted": [r[3] for r in rows],
            "ts": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
            "source": ["test"] * len(rows),
        }
    )


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_latest_consents_and_decisions_from_the_warehouse(make_warehouse, kind):
    con = make_warehouse(kind)
    fill(con, {"patients": _patients(), "consents": _consents()})
    latest = read_consents(con)
    got = {(r["user_id"], r["channel"], r["purpose"]): r["granted"] for r in latest.to_pylist()}
    assert got == {
        ("a", "all", "marketing"): False,
        ("a", "sms", "marketing"): True,
        ("b", "wechat", "marketing"): False,
        ("c", "all", "all"): True,
    }
    assert read_consents(con, pa.array(["c"])).num_rows == 1
    cands = pa.table(
        {
            "candidate_id": ["1", "2", "3"],
            "user_id": ["a", "b", "c"],
            "journey": ["j"] * 3,
            "step": ["s"] * 3,
            "purpose": ["marketing"] * 3,
            "channel": ["sms", "wechat", "wechat"],
            "due_at": pa.array([t(5)] * 3, pa.timestamp("us", tz="UTC")),
        }
    )
    con.insert(
        "contacts",
        pa.table(
            {
                "record_id": ["r1", "r2", "r3"],
                "user_id": ["a", "a", "b"],
                "name": ["x", None, None],
                "phone": ["sealed", None, None],  # only presence is read
                "email": [None, None, None],
                "wechat_openid": [None, None, "sealed"],
                "id_number": [None, None, None],
                "key_id": ["k", "k", "k"],
                "load_id": ["l", "l", "l"],
                "table_name": ["patients"] * 3,
            },
            schema=con.table("contacts").schema().to_pyarrow(),
        ),
    )
    fill(
        con,
        {
            "events": pa.table(
                {
                    "event_id": ["e1"],
                    "user_id": ["c"],
                    "name": ["app_open"],
                    "ts": pa.array([t(3)], pa.timestamp("us", tz="UTC")),
                    "properties": ["{}"],
                }
            )
        },
    )
    profiles = read_profiles(con, dt.date(2026, 1, 10))
    rows = {r["user_id"]: r for r in profiles.to_pylist()}
    assert [rows[u]["age"] for u in "abc"] == [75, 30, None]
    bound = {
        u: {c for c in ("sms", "wechat", "app_push", "email", "phone") if rows[u][c]} for u in "abc"
    }
    assert bound == {"a": {"sms", "phone"}, "b": {"wechat"}, "c": {"app_push"}}
    now = dt.datetime(2026, 1, 10, 3, tzinfo=UTC)  # 11:00 in Shanghai
    out = decide(cands, now, profiles=profiles, consents=latest).to_pylist()
    assert [(r["decision"], r["reason"], r["channel"]) for r in out] == [
        ("send", "ok", "sms"),  # the later sms grant beats the all withdrawal
        ("suppress", "consent_withdrawn", "wechat"),
        # wechat unbound: the next channel with consent; c opened the app at 08:00 local,
        # so marketing waits for 08:00 tomorrow
        ("defer", "active_hour", "app_push"),
    ]
    assert rows["c"]["usual_active_hour"] == 8
    assert out[2]["until"] == dt.datetime(2026, 1, 11, 0, tzinfo=UTC)

"""Parity: the same fixture hospital gives identical tags and layers on every backend.

Each backend's result is compared with hand-computed values for the layer dimensions and with
DuckDB's result for every tag (timestamps normalised to UTC: Spark returns naive UTC). Layer
counts are aggregations of these tags (tested in test_snapshot.py).
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from careops.tags.compute import compute_tags
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)

EXPECTED = {  # user: (lifecycle, health_need, value, data_richness)
    "new": ("new", "prevention", "low", "basic"),
    "active": ("active", "health_management", "mid", "medical"),
    "risk": ("occasional", "prevention", "low", "behavioral"),
    "silent": ("silent", "acute", "low", "medical"),
    "churned": ("churned", "prevention", "low", "behavioral"),
    "vip": ("active", "medical_resources", "high", "behavioral"),
}


def hospital() -> Hospital:
    h = Hospital(AS_OF)
    h.patient("new", registered_days_ago=3, birth=date(1990, 1, 1), sex="F")
    h.patient("active", birth=date(1966, 6, 1), sex="M")
    h.event("active", 1, "search", hour=23, query="高血压 饮食")
    h.event("active", 2).event("active", 3)
    h.consult("active", 3, dx="I10").reading("active", 40, "8480-6", 150)
    h.order("active", 3, 120.0, category="checkup").order("active", 4, 80.0)
    h.condition("active", "Z88.0", category="allergy")
    h.patient("risk", sex="U").event("risk", 16, "search", query="失眠怎么办")
    h.patient("silent", birth=date(2015, 3, 3)).consult("silent", 31, dx="J06.9")
    h.patient("churned").event("churned", 92, minute=30)
    h.patient("vip", managed_by="active")
    for d in range(1, 9):
        h.order("vip", d, 400.0)
    h.event("vip", 1, "share").event("vip", 2, "share")
    h.patient("late")  # one event at local 23:59:59.7, 31 days ago: 30 inactive days
    h.rows["events"].append(
        {
            "event_id": "late1",
            "user_id": "late",
            "name": "app_open",
            "ts": h.at(31, 23, 59) + timedelta(seconds=59.7),
        }
    )
    h.patient("cents")  # ¥1000.00 exactly, 999.9999999999999 as a float sum (see test_value)
    for i, amount in enumerate((149.42, 554.55, 296.03)):
        h.order("cents", 10 + i, amount)
    return h


def _normalise(rows):
    out = {}
    for r in rows:
        r = dict(r)
        for k, v in r.items():
            if isinstance(v, datetime):
                r[k] = (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC)
            elif isinstance(v, float):
                r[k] = round(v, 6)
        out[r["user_id"]] = r
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from careops.warehouse import connect, create_tables

    con = connect(f"duckdb:///{tmp_path_factory.mktemp('ref') / 'ref.duckdb'}")
    create_tables(con)
    hospital().load(con)
    return _normalise(compute_tags(con, AS_OF).to_pylist())


def test_tags_and_layers_match_on_every_backend(warehouse, reference):
    hospital().load(warehouse)
    got = _normalise(compute_tags(warehouse, AS_OF).to_pylist())
    for user, (lc, need, value, richness) in EXPECTED.items():
        row = got[user]
        assert (row["lifecycle"], row["health_need"], row["value"], row["data_richness"]) == (
            lc,
            need,
            value,
            richness,
        ), user
    assert got["risk"]["churn_risk"] is True
    assert got["active"]["age"] == 60 and got["active"]["elderly"] is True
    assert got["silent"]["child"] is True
    assert got["active"]["search_keywords"] == "饮食,高血压"  # tie → code-point order
    assert got["active"]["days_without_bp"] == 39
    assert got["active"]["frequent_consulter"] is False
    assert got["active"]["has_hypertension"] is True
    assert got["vip"]["interactive"] is True
    assert (got["late"]["inactive_days"], got["late"]["lifecycle"]) == (30, "silent")
    assert (got["late"]["usual_active_hour"], got["late"]["night_owl"]) == (23, True)
    assert (got["cents"]["spend_cny"], got["cents"]["rfm_monetary"]) == (1000.0, 4)
    assert got == reference

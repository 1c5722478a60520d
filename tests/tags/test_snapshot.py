"""Snapshots, layer counts, migration between two dates and per-user layer history."""

from datetime import date

import pytest

from careops.tags.errors import TagError
from careops.tags.layers_report import layer_counts, layer_history, migration_matrix
from careops.tags.snapshot import read_snapshot, snapshot_dates, store_snapshot
from tests.tags.hospital import Hospital

D1, D2, D3 = date(2026, 6, 1), date(2026, 6, 16), date(2026, 7, 1)


@pytest.fixture(scope="module")
def con(module_duck):
    h = Hospital(D1)
    # "fading": active around D1 (3 active days and a consultation), then nothing
    h.patient("fading").event("fading", 1).event("fading", 2).consult("fading", 3)
    h.patient("steady").event("steady", 80)   # last active 80 days before D1: silent
    h.patient("late", registered_days_ago=-10)  # registers between D1 and D2
    h.load(module_duck)
    for d in (D1, D2, D3):
        store_snapshot(module_duck, d, ["lifecycle", "value", "health_need", "data_richness",
                                        "churn_risk", "frequent_consulter", "health_manager",
                                        "interactive", "chronic", "elderly", "child"])
    return module_duck


def test_snapshots_are_stored_per_day_and_read_back(con):
    assert snapshot_dates(con) == [D1, D2, D3]
    snap = read_snapshot(con, D1).order_by("user_id").to_pyarrow().to_pylist()
    assert [(r["user_id"], r["lifecycle"], r["as_of"]) for r in snap] == [
        ("fading", "active", D1), ("steady", "silent", D1)]
    with pytest.raises(TagError, match=r"no tag snapshot for 2026-06-02 \(stored: 2026-06-01"):
        read_snapshot(con, date(2026, 6, 2))


def test_recomputing_a_day_replaces_it(con):
    assert store_snapshot(con, D1, ["lifecycle"]) == 2
    assert read_snapshot(con, D1).count().execute() == 2
    store_snapshot(con, D1, ["lifecycle", "value", "health_need", "data_richness", "churn_risk",
                             "frequent_consulter", "health_manager", "interactive", "chronic",
                             "elderly", "child"])


def test_layer_counts_have_shares(con):
    counts = {(c.dimension, c.code): (c.users, c.share) for c in layer_counts(con, D2)}
    assert counts[("lifecycle", "new")] == (1, pytest.approx(1 / 3))
    assert counts[("lifecycle", "active")] == (1, pytest.approx(1 / 3))
    assert counts[("lifecycle", "churned")] == (1, pytest.approx(1 / 3))
    assert counts[("groups", "churn_risk")] == (1, pytest.approx(1 / 3))
    labels = {c.code: c.label for c in layer_counts(con, D2, lang="en")
              if c.dimension == "lifecycle"}
    assert labels["silent"] == "Silent"


def test_migration_matrix(con):
    rows = migration_matrix(con, D1, D3)
    assert rows == [
        {"from": None, "to": "occasional", "users": 1},   # joined between the dates
        {"from": "active", "to": "silent", "users": 1},
        {"from": "silent", "to": "churned", "users": 1},
    ]
    with pytest.raises(TagError, match="must be after"):
        migration_matrix(con, D3, D1)
    with pytest.raises(TagError, match="unknown layer dimension 'age'"):
        migration_matrix(con, D1, D3, "age")


def test_layer_history_says_when_a_user_entered_a_layer(con):
    rows = layer_history(con, "fading")
    assert rows == [
        {"user_id": "fading", "day": D1, "from": None, "to": "active"},
        {"user_id": "fading", "day": D3, "from": "active", "to": "silent"},
    ]
    assert [r["to"] for r in layer_history(con) if r["user_id"] == "steady"] == [
        "silent", "churned"]


def test_snapshots_migration_and_history_on_every_backend(warehouse):
    from careops.segments.saved import membership_history, refresh_members, save_segment

    h = Hospital(D1)
    h.patient("fading").event("fading", 1).event("fading", 2).consult("fading", 3)
    h.patient("steady").event("steady", 80)
    h.load(warehouse)
    for d in (D1, D3):
        assert store_snapshot(warehouse, d, ["lifecycle", "sex"]) == 2
    assert snapshot_dates(warehouse) == [D1, D3]
    assert migration_matrix(warehouse, D1, D3) == [
        {"from": "active", "to": "silent", "users": 1},
        {"from": "silent", "to": "churned", "users": 1},
    ]
    assert [(r["day"], r["to"]) for r in layer_history(warehouse, "fading")] == [
        (D1, "active"), (D3, "silent")]
    save_segment(warehouse, "women", 'sex == "F" and lifecycle == "active"')
    assert refresh_members(warehouse, "women", D1) == 1
    assert refresh_members(warehouse, "women", D3) == 0
    assert membership_history(warehouse, "women")[1] == {
        "as_of": D3, "members": 0, "entered": 0, "left": 1}

"""Snapshots, layer counts, migration between two dates and per-user layer history."""

from datetime import date

import pytest

from careops.config import Settings
from careops.tags.errors import TagError
from careops.tags.layers_report import layer_counts, layer_history, migration_matrix
from careops.tags.snapshot import (
    is_current,
    read_snapshot,
    snapshot_dates,
    snapshot_name,
    store_snapshot,
    tags_at,
)
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
    rows = layer_history(con, "fading").rows
    assert rows == [
        {"user_id": "fading", "day": D1, "from": None, "to": "active"},
        {"user_id": "fading", "day": D3, "from": "active", "to": "silent"},
    ]
    assert [r["to"] for r in layer_history(con).rows if r["user_id"] == "steady"] == [
        "silent", "churned"]


def test_layer_history_limit_says_how_many_rows_were_left_out(con):
    full = layer_history(con)
    assert full.total == len(full.rows) == 6 and full.omitted == 0
    first = layer_history(con, limit=2)
    assert first.rows == full.rows[:2]
    assert (first.total, first.omitted) == (6, 4)
    with pytest.raises(TagError, match="--limit must be at least 1"):
        layer_history(con, limit=0)
    with pytest.raises(TagError, match="unknown tag 'lifecyle'; did you mean 'lifecycle'"):
        layer_history(con, dimension="lifecyle")


def test_a_snapshot_made_with_other_settings_is_not_served(con):
    """Changed thresholds take effect although a snapshot of the day is stored."""
    from careops.segments.evaluate import count

    strict = Settings(lifecycle={"active_min_days": 4})  # "fading" has 3 active days at D1
    assert is_current(con, D1) and not is_current(con, D1, strict)
    before = {(c.dimension, c.code): c.users for c in layer_counts(con, D1)}
    after = {(c.dimension, c.code): c.users for c in layer_counts(con, D1, settings=strict)}
    assert (before[("lifecycle", "active")], before[("lifecycle", "occasional")]) == (1, 0)
    assert (after[("lifecycle", "active")], after[("lifecycle", "occasional")]) == (0, 1)
    assert count(con, 'lifecycle == "active"', D1) == 1
    assert count(con, 'lifecycle == "active"', D1, settings=strict) == 0
    recompute = r"recompute it: careops tags compute --as-of 2026-06-01"
    with pytest.raises(TagError, match=recompute):
        read_snapshot(con, D1, settings=strict)
    with pytest.raises(TagError, match="2026-06-01, 2026-06-16, 2026-07-01 were computed with "
                                       "other settings"):
        layer_history(con, settings=strict)


def test_a_snapshot_without_recorded_settings_is_recomputed(con):
    import ibis

    day = date(2026, 6, 10)
    con.create_table(snapshot_name(day), obj=ibis.memtable(
        {"user_id": ["fading", "steady"], "lifecycle": ["churned", "churned"],
         "as_of": [day, day]}), overwrite=True)
    try:
        live = tags_at(con, day, ["lifecycle"]).order_by("user_id").to_pyarrow().to_pylist()
        assert [r["lifecycle"] for r in live] == ["active", "silent"]
        with pytest.raises(TagError, match="2026-06-10 was computed with other settings"):
            read_snapshot(con, day)
    finally:
        con.drop_table(snapshot_name(day))


def test_snapshots_migration_and_history_on_every_backend(warehouse):
    from careops.segments.saved import SavedSegment, membership_history, refresh_members

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
    assert [(r["day"], r["to"]) for r in layer_history(warehouse, "fading").rows] == [
        (D1, "active"), (D3, "silent")]
    women = SavedSegment.of("women", 'sex == "F" and lifecycle == "active"')
    assert refresh_members(warehouse, women, D1) == 1
    assert refresh_members(warehouse, women, D3) == 0
    assert membership_history(warehouse, "women")[1] == {
        "as_of": D3, "members": 0, "entered": 0, "left": 1}

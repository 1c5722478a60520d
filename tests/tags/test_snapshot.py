"""Snapshots, layer counts, migration between two dates and per-user layer history."""

from datetime import UTC, date, datetime

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
    h.patient("steady").event("steady", 80)  # last active 80 days before D1: silent
    h.patient("late", registered_days_ago=-10)  # registers between D1 and D2
    h.load(module_duck)
    for d in (D1, D2, D3):
        store_snapshot(
            module_duck,
            d,
            [
                "lifecycle",
                "value",
                "health_need",
                "data_richness",
                "churn_risk",
                "frequent_consulter",
                "health_manager",
                "interactive",
                "chronic",
                "elderly",
                "child",
            ],
        )
    return module_duck


def test_snapshots_are_stored_per_day_and_read_back(con):
    assert snapshot_dates(con) == [D1, D2, D3]
    snap = read_snapshot(con, D1).order_by("user_id").to_pyarrow().to_pylist()
    assert [(r["user_id"], r["lifecycle"], r["as_of"]) for r in snap] == [
        ("fading", "active", D1),
        ("steady", "silent", D1),
    ]
    with pytest.raises(TagError, match=r"no tag snapshot for 2026-06-02 \(stored: 2026-06-01"):
        read_snapshot(con, date(2026, 6, 2))


def test_recomputing_a_day_replaces_it(con):
    assert store_snapshot(con, D1, ["lifecycle"]) == 2
    assert read_snapshot(con, D1).count().execute() == 2
    store_snapshot(
        con,
        D1,
        [
            "lifecycle",
            "value",
            "health_need",
            "data_richness",
            "churn_risk",
            "frequent_consulter",
            "health_manager",
            "interactive",
            "chronic",
            "elderly",
            "child",
        ],
    )


def test_layer_counts_have_shares(con):
    counts = {(c.dimension, c.code): (c.users, c.share) for c in layer_counts(con, D2)}
    assert counts[("lifecycle", "new")] == (1, pytest.approx(1 / 3))
    assert counts[("lifecycle", "active")] == (1, pytest.approx(1 / 3))
    assert counts[("lifecycle", "churned")] == (1, pytest.approx(1 / 3))
    assert counts[("groups", "churn_risk")] == (1, pytest.approx(1 / 3))
    # codes only: the view names them in its language
    from careops.tags.layers_view import count_label

    found = layer_counts(con, D2)
    assert not hasattr(found[0], "label")
    labels = {c.code: count_label(c, "en") for c in found if c.dimension == "lifecycle"}
    assert labels["silent"] == "Silent"


def test_migration_matrix(con):
    rows = migration_matrix(con, D1, D3)
    assert rows == [
        {"from": None, "to": "occasional", "users": 1},  # joined between the dates
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
        "silent",
        "churned",
    ]


def test_layer_history_limit_says_how_many_rows_were_left_out(con):
    full = layer_history(con)
    assert full.total == len(full.rows) == 6 and full.omitted == 0
    first = layer_history(con, limit=2)
    assert first.rows == full.rows[:2]
    assert (first.total, first.omitted) == (6, 4)
    with pytest.raises(TagError, match="limit must be at least 1"):
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
    recompute = r"recompute the tags of 2026-06-01 \(careops tags compute\)"
    with pytest.raises(TagError, match=recompute):
        read_snapshot(con, D1, settings=strict)
    with pytest.raises(
        TagError, match="2026-06-01, 2026-06-16, 2026-07-01 were computed with other settings"
    ):
        layer_history(con, settings=strict)


def test_a_snapshot_without_recorded_settings_is_recomputed(con):
    import ibis

    day = date(2026, 6, 10)
    con.create_table(
        snapshot_name(day),
        obj=ibis.memtable(
            {
                "user_id": ["fading", "steady"],
                "lifecycle": ["churned", "churned"],
                "as_of": [day, day],
            }
        ),
        overwrite=True,
    )
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
        (D1, "active"),
        (D3, "silent"),
    ]
    women = SavedSegment.of("women", 'sex == "F" and lifecycle == "active"')
    assert refresh_members(warehouse, women, D1) == 1
    assert refresh_members(warehouse, women, D3) == 0
    assert membership_history(warehouse, "women")[1] == {
        "as_of": D3,
        "members": 0,
        "entered": 0,
        "left": 1,
    }


def _record_load(con, load_id: str, rows: int) -> None:
    """A `_loads` ledger entry, as ingestion writes one per (load, table)."""
    import pyarrow as pa

    from careops.warehouse.tables import SYSTEM_TABLES

    now = datetime.now(UTC)
    row = {
        "load_id": load_id,
        "source": f"{load_id}.csv",
        "content_hash": load_id,
        "table_name": "patients",
        "rows_in": rows,
        "loaded": rows,
        "duplicates": 0,
        "quarantined": 0,
        "flagged": 0,
        "status": "loaded",
        "message": None,
        "started_at": now,
        "finished_at": now,
    }
    con.insert("_loads", pa.Table.from_pylist([row], schema=SYSTEM_TABLES["_loads"].to_pyarrow()))


def test_a_snapshot_older_than_a_load_is_not_served(duck):
    """Issue 11.10: after new data arrives, layers, segment counts and portraits stop reading the
    snapshot computed before it; history keeps it (what was known that day)."""
    from careops.segments.evaluate import count
    from careops.tags.portrait import user_tags
    from careops.tags.snapshot import loads_mark, staleness

    h = Hospital(D1)
    h.patient("early").event("early", 2)
    h.load(duck)
    _record_load(duck, "first", 1)
    store_snapshot(duck, D1)
    assert staleness(duck, D1) is None and loads_mark(duck).startswith("1@")

    late = Hospital(D1)
    late.patient("joined", registered_days_ago=5, sex="M").event("joined", 1)
    late.patient("future", registered_days_ago=-3)
    late.load(duck)
    _record_load(duck, "second", 2)
    assert staleness(duck, D1) == "loads" and not is_current(duck, D1)
    total = sum(c.users for c in layer_counts(duck, D1) if c.dimension == "lifecycle")
    assert total == 2
    assert count(duck, 'sex == "M"', D1) == 1
    assert user_tags(duck, "joined", D1)["lifecycle"] == "new"
    with pytest.raises(TagError, match="请重新计算 2026-06-01 的标签 \\(careops tags compute\\)"):
        read_snapshot(duck, D1)
    assert layer_history(duck).total == 1  # the stored day is history, not refused

    with pytest.raises(TagError, match=r"registered on 2026-06-04, after as_of 2026-06-01"):
        user_tags(duck, "future", D1)
    store_snapshot(duck, D1)
    assert is_current(duck, D1)


def test_a_patient_missing_from_a_snapshot_is_not_said_to_register_later(duck):
    """Rows added without a ledger entry: the portrait is computed live, not refused."""
    from careops.tags.portrait import user_tags

    Hospital(D1).patient("first").load(duck)
    store_snapshot(duck, D1)
    Hospital(D1).patient("added", registered_days_ago=30).load(duck)
    assert user_tags(duck, "added", D1)["registered_days"] == 30


def test_a_failed_or_killed_compute_leaves_no_table_behind(duck):
    """Issue 10.6: an interrupted `tags compute` left an empty `ibis_duckdb_table_…`."""
    import ibis

    from careops.warehouse.store import replace_table

    Hospital(D1).patient("p").load(duck)
    duck.create_table("ibis_duckdb_table_leftover", schema=ibis.schema({"x": "int64"}))
    before = set(duck.list_tables()) - {"ibis_duckdb_table_leftover"}
    bad = ibis.memtable({"x": ["1", "not a number"]}).select(x=ibis._.x.cast("int64"))
    with pytest.raises(Exception, match="not a number"):
        replace_table(duck, "tag_snapshot_20260601", bad)
    assert set(duck.list_tables()) == before
    assert store_snapshot(duck, D1, ["lifecycle"]) == 1
    assert not [n for n in duck.list_tables() if n.startswith("ibis_duckdb_table_")]

"""Checking a batch: the request's own limits, then the file door's rules, answered by index."""

from __future__ import annotations

import datetime as dt

import pytest

from careops.config import Settings
from careops.intake.check import check_events, check_group

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def event(i: int, **over) -> dict:
    e = {
        "event_id": f"e{i}",
        "user_id": f"u{i}",
        "ts": "2026-06-01T09:30:00+08:00",
        "name": "search",
        "properties": {"query": "失眠"},
    }
    e.update(over)
    return {k: v for k, v in e.items() if v is not ...}


def check(events):
    return check_events(events, Settings(), now=NOW)


def test_good_events_become_canonical_rows():
    rows, c = check([event(1), event(2, properties=None), event(3, ts="2026-06-01 09:30")])
    assert c.rejected == [] and c.duplicates == 0
    assert rows.column_names == ["event_id", "user_id", "ts", "name", "properties"]
    got = rows.to_pylist()
    assert got[0]["ts"] == dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)
    assert got[2]["ts"] == dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)  # hospital timezone
    assert got[0]["properties"] == '{"query":"失眠"}' and got[1]["properties"] is None
    assert c.index == {"e1": 0, "e2": 1, "e3": 2}


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ("not an object", "event", "JSON object"),
        (event(0, user_id=...), "user_id", "required"),
        (event(0, user_id=""), "user_id", "required"),
        (event(0, user_id=7), "user_id", "must be a string, not a number"),
        (event(0, event_id="x" * 129), "event_id", "too long: 129"),
        (event(0, name="a\x1b[31mred"), "name", "control characters"),
        (event(0, ts="yesterday"), "ts", "not a valid date/time"),
        (event(0, ts="2099-01-01T00:00:00Z"), "ts", "in the future"),
        (event(0, ts="1800-01-01T00:00:00Z"), "ts", "before 1900"),
        (event(0, properties=[1, 2]), "properties", "must be a JSON object, not an array"),
        (event(0, properties={"a": "x" * 9000}), "properties", "too large"),
        (event(0, properties={"n": float("nan")}), "properties", "not finite"),
        ({**event(0), "is_admin": True}, "is_admin", "unknown field"),
        (event(0, event_id="a\ud800"), "event_id", "lone surrogate"),
        (event(0, properties={"q": "\udfff"}), "properties", "lone surrogate"),
        (event(0, properties={"\ud800": 1}), "properties", "lone surrogate"),
    ],
)
def test_a_bad_event_is_refused_by_index_and_the_good_ones_kept(bad, field, words):
    rows, c = check([event(1), bad, event(2)])
    assert [(r.index, r.field) for r in c.rejected] == [(1, field)]
    assert words in c.rejected[0].reason
    assert rows["event_id"].to_pylist() == ["e1", "e2"]


def test_deep_nesting_is_refused_and_the_limit_is_a_setting():
    deep: dict = {"v": 1}
    for _ in range(8):
        deep = {"d": deep}
    _, c = check([event(0, properties=deep)])
    assert c.rejected[0].field == "properties" and "deeper than 8" in c.rejected[0].reason
    s = Settings(intake={"max_depth": 12})
    rows, c = check_events([event(0, properties=deep)], s, now=NOW)
    assert c.rejected == [] and len(rows) == 1


def test_markup_and_control_characters_in_properties_are_data():
    props = {"q": "<script>alert(1)</script>", "sql": "'; DROP TABLE events; --", "c": "a\x00b"}
    rows, c = check([event(0, properties=props)])
    assert c.rejected == []
    import json

    assert json.loads(rows["properties"][0].as_py()) == props


def test_repeats_inside_a_batch_duplicate_when_equal_refused_when_different():
    rows, c = check([event(1), event(1), event(1, name="share"), event(2)])
    assert c.duplicates == 1
    assert [(r.index, r.field) for r in c.rejected] == [(2, "event_id")]
    assert "first at index 0" in c.rejected[0].reason
    assert sorted(rows["event_id"].to_pylist()) == ["e1", "e2"]


def test_a_group_of_requests_is_answered_per_request():
    g = check_group([[event(1), event(2, ts="x")], [event(1), event(3)]], Settings(), now=NOW)
    first, second = g.checked
    assert [r.index for r in first.rejected] == [1] and first.index == {"e1": 0}
    assert second.duplicates == 1 and second.index == {"e3": 1}  # e1 came first in request 0
    assert g.owner == {"e1": (0, 0), "e3": (1, 1)}

"""Checking a batch: the request's own limits, then the file door's rules, answered by index."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careops.config import Settings
from careops.intake import check as check_module
from careops.intake.check import FIELDS, check_events, check_group

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


# The batch's checks run over whole columns (`_clean_columns`) and fall back to each event's
# own checks when anything is off; both must take and refuse exactly the same events. Each
# batch is good events around one odd one, so that the column checks alone must catch it.
_ODD_CHARS = ["a", "9", " ", "失", "\x00", "\x1b", "\x85", "\u202e", "\u2068", "\ud800", "\udfff"]
_TEXT = st.lists(st.sampled_from(_ODD_CHARS), max_size=4).map("".join)
_NASTY = ["a\ud800", "\udfffb", "a\x1bb", "\x7f", "x\x85", "\u202eevil", "\u2069", "\x00"]
_VALUE = st.one_of(
    st.sampled_from(["e1", "search", "2026-06-01T09:30:00+08:00", "x" * 65, "x" * 129, "", " "]),
    st.sampled_from(_NASTY),
    _TEXT,
    st.none(),
    st.integers(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        _TEXT,
        st.sampled_from(["x" * 120, *_NASTY]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=12,
)
_GOOD = st.builds(
    lambda i, props: event(i, user_id=f"u{i % 3}", properties=props),
    st.integers(0, 9),
    st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["q", "a"]), st.sampled_from([1, "失眠"]))
    ),
)
_ODD = st.one_of(
    st.builds(lambda e, k, v: {**e, k: v}, _GOOD, st.sampled_from(FIELDS[:4]), _VALUE),
    st.builds(
        lambda e, v: {**e, "properties": v}, _GOOD, st.one_of(_JSON, st.dictionaries(_TEXT, _JSON))
    ),
    st.builds(lambda e, k: {f: v for f, v in e.items() if f != k}, _GOOD, st.sampled_from(FIELDS)),
    st.builds(lambda e, k, v: {**e, k: v}, _GOOD, st.sampled_from(["is_admin", "Name"]), _VALUE),
    st.sampled_from(["not an object", 7, None, []]),
)


def _outcome(group):
    return (
        sorted(group.rows.to_pylist(), key=repr),  # the validation query keeps no order
        group.owner,
        [(c.rejected, c.duplicates, c.index) for c in group.checked],
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_GOOD, max_size=4),
    _ODD,
    st.integers(0, 4),
    st.lists(st.lists(st.one_of(_GOOD, _ODD), min_size=1, max_size=3), max_size=2),
)
def test_the_batch_checks_take_and_refuse_what_each_event_check_does(good, odd, at, others):
    batches = [[*good[:at], odd, *good[at:]], *others]
    s = Settings(intake={"max_depth": 3, "max_properties_bytes": 300})
    fast = check_group(batches, s, now=NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(check_module, "_clean_columns", lambda events, limits: None)
        slow = check_group(batches, s, now=NOW)
    assert _outcome(fast) == _outcome(slow)


def test_a_batch_within_the_limits_is_checked_as_columns():
    s = Settings()
    good = [event(1), event(2, properties=None), event(3, properties={"a": [{"b": 1}]})]
    columns = check_module._clean_columns(good, s.intake)
    assert columns is not None
    assert columns["properties"] == ['{"query":"失眠"}', None, '{"a":[{"b":1}]}']
    deep: dict = {"v": 1}
    for _ in range(8):
        deep = {"d": deep}
    for bad in (event(4, name="a\x1b"), event(4, properties=deep), {**event(4), "x": 1}):
        assert check_module._clean_columns([*good, bad], s.intake) is None

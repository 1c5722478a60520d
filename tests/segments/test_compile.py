"""Event conditions read the value of a JSON property, never the document's text (issue 10.3)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from careops.segments import count, sample
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import parse_rule
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)


def hospital() -> Hospital:
    h = Hospital(AS_OF)
    h.patient("headache").event("headache", 2, "search", query="头痛")
    h.patient("insomnia").event("insomnia", 3, "search", query="失眠怎么办")
    h.patient("viewer").event("viewer", 2, "view_content", content_id="c1", topic="高血压饮食")
    h.patient("quiet")
    # the same query stored with \u escapes (JSON written with ensure_ascii) is the same text
    h.patient("escaped").event("escaped", 2, "search", query="x")
    h.rows["events"][-1]["properties"] = json.dumps({"query": "头痛"})
    assert "\\u5934" in h.rows["events"][-1]["properties"]
    return h


def _users(con, rule: str) -> list[str]:
    return [r["user_id"] for r in sample(con, rule, AS_OF, n=100)]


@pytest.mark.parametrize(
    ("rule", "users"),
    [
        # the key of every search is "query": it must match no one
        ('searched("query")', []),
        ('searched("\\"query\\"")', []),
        # docs/tags.md: "search events whose query contains the text" — a substring of the value
        ('searched("头")', ["escaped", "headache"]),
        ('searched("头痛")', ["escaped", "headache"]),
        ('searched("失眠")', ["insomnia"]),
        ('searched("topic")', []),
        ('viewed(topic="高血压")', ["viewer"]),
        ('viewed(topic="topic")', []),
        ('viewed(topic="content_id")', []),
        ("viewed()", ["viewer"]),
    ],
)
def test_event_conditions_match_property_values_on_every_backend(warehouse, rule, users):
    hospital().load(warehouse)
    assert _users(warehouse, rule) == users


def test_viewed_topic_must_be_text():
    with pytest.raises(RuleError, match="topic must be text"):
        check(parse_rule("viewed(topic=3)"))


def test_count_of_a_property_condition(module_duck):
    hospital().load(module_duck)
    assert count(module_duck, 'searched("query") or searched("头痛")', AS_OF) == 2

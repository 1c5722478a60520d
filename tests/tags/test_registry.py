"""The registry: complete metadata, clear unknown-tag errors, smart tags plug in."""

from datetime import date

import pytest

from careops.tags.compute import compute_tags
from careops.tags.errors import TagError
from careops.tags.registry import REGISTRY, Tag, all_tags, get_tag, register
from tests.tags.hospital import Hospital


def test_every_tag_is_fully_described():
    tags = all_tags()
    assert len(tags) >= 50
    for t in tags:
        assert t.label_zh and t.label_en and t.description, t.name
        assert t.kind in ("static", "dynamic", "smart")
        if t.type == "category":
            assert t.values, t.name
    dims = {t.name for t in tags if t.dimension}
    assert dims == {"lifecycle", "health_need", "value", "data_richness"}
    assert get_tag("lifecycle").value_label("silent") == "沉默用户"
    assert get_tag("lifecycle").value_label("silent", "en") == "Silent"


def test_unknown_tag_names_the_closest():
    with pytest.raises(TagError, match="unknown tag 'lifecylce'; did you mean 'lifecycle'"):
        get_tag("lifecylce")
    with pytest.raises(TagError, match="defined twice"):
        register(get_tag("age"))


def test_a_smart_tag_plugs_into_the_same_registry(duck):
    def stand_in(scope):  # a stand-in model: 100 when inactive ≥ 30 days, else 10
        return (scope.tag("inactive_days") >= 30).ifelse(100.0, 10.0)

    register(Tag("stand_in_score", "测试分", "Stand-in score", "smart", "float", "test", stand_in))
    try:
        h = Hospital(date(2026, 6, 1))
        h.patient("a").event("a", 1).patient("b").event("b", 40)
        h.load(duck)
        got = compute_tags(duck, date(2026, 6, 1), ["stand_in_score", "lifecycle"]).to_pylist()
        assert [(r["user_id"], r["stand_in_score"]) for r in got] == [("a", 10.0), ("b", 100.0)]
    finally:
        REGISTRY.pop("stand_in_score")


def test_cycles_are_reported(duck):
    register(Tag("loop_a", "甲", "A", "dynamic", "int", "test", lambda s: s.tag("loop_b")))
    register(Tag("loop_b", "乙", "B", "dynamic", "int", "test", lambda s: s.tag("loop_a")))
    try:
        Hospital(date(2026, 6, 1)).patient("a").load(duck)
        with pytest.raises(TagError, match="cycle"):
            compute_tags(duck, date(2026, 6, 1), ["loop_a"])
    finally:
        REGISTRY.pop("loop_a")
        REGISTRY.pop("loop_b")

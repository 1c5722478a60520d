"""Behaviour tags and the other layer dimensions: counts, keywords, habits, need, richness."""

from datetime import UTC, date, datetime

import pytest

from careops.tags.compute import compute_tags
from careops.tags.keywords import query_of, tokens
from tests.tags.conftest import by_user
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)
TAGS = [
    "last_consult_at",
    "consults_30d",
    "consults_90d",
    "orders_30d",
    "orders_90d",
    "search_keywords",
    "usual_active_hour",
    "night_owl",
    "health_need",
    "data_richness",
    "lifecycle",
    "frequent_consulter",
    "health_manager",
    "interactive",
    "active_subgroup",
]


@pytest.fixture(scope="module")
def tags(module_duck):
    h = Hospital(AS_OF)
    h.patient("counts").consult("counts", 30, hour=9).consult("counts", 31).consult("counts", 90)
    h.consult("counts", 91).order("counts", 30, 10).order("counts", 90, 10)
    h.order("counts", 91, 10).order("counts", 2, 10, status="cancelled")
    h.patient("kw")
    for q, days_ago in [("失眠怎么办", 1), ("失眠 焦虑", 2), ("头痛", 3), ("高血压", 31)]:
        h.event("kw", days_ago, "search", query=q)
    # night owl: 2 of 3 events between 23:00 and 05:00 local
    h.patient("owl").event("owl", 1, hour=2).event("owl", 2, hour=23).event("owl", 3, hour=14)
    h.patient("day").event("day", 1, hour=20).event("day", 2, hour=20).event("day", 3, hour=2)
    h.patient("tie").event("tie", 1, hour=21).event("tie", 2, hour=8)
    # health need
    h.patient("acute").consult("acute", 5, dx="J06.9").reading("acute", 5, "8480-6", 120)
    h.consult("acute", 6, dx="R50")
    h.patient("manage").reading("manage", 5, "8480-6", 120).order(
        "manage", 4, 300, category="checkup"
    )
    h.patient("prevent").event("prevent", 5, "search", query="流感疫苗")
    h.patient("resources").order("resources", 5, 50, category="drug")
    h.patient("chronic_quiet").condition("chronic_quiet", "I10")
    h.patient("basic")
    # active sub-groups: 5 consultations on 5 days in the window → frequent consulter
    # lifecycle.frequent_consulter_min = 3 consultations in the active window
    h.patient("freq")
    for d in range(1, 4):
        h.consult("freq", d)
    h.patient("two").event("two", 3)  # active (3 active days), one consultation short
    for d in range(1, 3):
        h.consult("two", d)
    h.patient("sharer").event("sharer", 1, "share").event("sharer", 2).consult("sharer", 3)
    h.load(module_duck)
    return by_user(compute_tags(module_duck, AS_OF, TAGS))


def test_consultation_and_order_windows(tags):
    row = tags["counts"]
    assert row["consults_30d"] == 1
    assert row["consults_90d"] == 3
    assert row["orders_30d"] == 1  # the cancelled order does not count
    assert row["orders_90d"] == 2
    last = row["last_consult_at"]
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    assert last == datetime(2026, 5, 2, 1, 0, tzinfo=UTC)  # 09:00 Shanghai, 30 days before


def test_search_keywords_are_jieba_tokens_of_30_days(tags):
    assert tags["kw"]["search_keywords"] == "失眠,头痛,焦虑"
    assert tags["basic"]["search_keywords"] is None
    assert tokens("失眠怎么办") == ("失眠",)
    assert query_of('{"query": "头痛"}') == "头痛"
    assert query_of("not json") == ""


def test_usual_hour_and_night_owl(tags):
    assert tags["owl"]["night_owl"] is True
    assert tags["owl"]["usual_active_hour"] == 2  # ties → the earlier hour
    assert tags["day"]["usual_active_hour"] == 20
    assert tags["day"]["night_owl"] is True  # 1 of 3 ≥ 30 %
    assert tags["tie"]["usual_active_hour"] == 8
    assert tags["tie"]["night_owl"] is False
    assert tags["basic"]["usual_active_hour"] is None


@pytest.mark.parametrize(
    ("user", "need"),
    [
        ("acute", "acute"),
        ("manage", "health_management"),
        ("prevent", "prevention"),
        ("resources", "medical_resources"),
        ("chronic_quiet", "health_management"),
        ("basic", "prevention"),
    ],
)
def test_health_need(tags, user, need):
    assert tags[user]["health_need"] == need


@pytest.mark.parametrize(
    ("user", "richness"),
    [
        ("basic", "basic"),
        ("kw", "behavioral"),
        ("resources", "behavioral"),
        ("manage", "medical"),
        ("chronic_quiet", "medical"),
        ("acute", "medical"),
    ],
)
def test_data_richness(tags, user, richness):
    assert tags[user]["data_richness"] == richness


def test_active_sub_groups(tags):
    assert tags["freq"]["lifecycle"] == "active"
    assert tags["freq"]["frequent_consulter"] is True
    assert tags["freq"]["active_subgroup"] == "frequent_consulter"
    assert tags["two"]["lifecycle"] == "active"
    assert tags["two"]["frequent_consulter"] is False
    assert tags["two"]["active_subgroup"] is None
    assert tags["sharer"]["interactive"] is True
    assert tags["sharer"]["active_subgroup"] == "interactive"
    assert tags["manage"]["health_manager"] is False  # not active: 2 active days only

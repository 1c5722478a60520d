"""Lifecycle layer at its boundaries (SPEC §3): day 7 vs 8, 3 active days, 30/90 inactive."""

from datetime import date

import pytest

from careops.tags.compute import compute_tags
from tests.tags.conftest import by_user
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)
TAGS = [
    "lifecycle",
    "churn_risk",
    "inactive_days",
    "active_days_30d",
    "services_30d",
    "registered_days",
    "last_active_day",
]


@pytest.fixture(scope="module")
def tags(module_duck):
    duck = module_duck
    h = Hospital(AS_OF)
    h.patient("new7", registered_days_ago=7).patient("new8", registered_days_ago=8)
    # active: exactly 3 active days in the window and one service (a consultation)
    h.patient("act3").event("act3", 1).event("act3", 5).consult("act3", 30)
    # only 2 distinct active days (two events on the same local day) + a service
    h.patient("act2").event("act2", 2, hour=1).event("act2", 2, hour=23).consult("act2", 10)
    # 3 active days but the only service is 31 days ago (outside the 30-day window)
    h.patient("nosvc").event("nosvc", 1).event("nosvc", 2).event("nosvc", 3).consult("nosvc", 31)
    # a paid order is a service; a failed one is not
    h.patient("paid").event("paid", 1).event("paid", 2).order("paid", 3, 10.0)
    h.patient("failed").event("failed", 1).event("failed", 2).order(
        "failed", 3, 10.0, status="failed"
    )
    # inactivity boundaries (whole days between the last active day and as-of)
    for days_ago in (15, 16, 30, 31, 91, 92):
        h.patient(f"last{days_ago}").event(f"last{days_ago}", days_ago)
    # a patient with no activity at all: inactive since the registration day
    h.patient("quiet", registered_days_ago=40)
    # local-day boundary: 23:59 the day before as-of counts, 00:00 of as-of does not
    h.patient("late").event("late", 1, hour=23, minute=59)
    h.patient("tooearly", registered_days_ago=100).event("tooearly", 0, hour=0)
    h.load(duck)
    return by_user(compute_tags(duck, AS_OF, TAGS))


def test_new_is_seven_days_or_less(tags):
    assert tags["new7"]["registered_days"] == 7
    assert tags["new7"]["lifecycle"] == "new"
    assert tags["new8"]["lifecycle"] != "new"


def test_active_needs_three_active_days_and_a_service(tags):
    assert tags["act3"]["active_days_30d"] == 3
    assert tags["act3"]["lifecycle"] == "active"
    assert tags["act2"]["active_days_30d"] == 2
    assert tags["act2"]["lifecycle"] == "occasional"
    assert tags["nosvc"]["active_days_30d"] == 3
    assert tags["nosvc"]["services_30d"] == 0
    assert tags["nosvc"]["lifecycle"] == "occasional"
    assert tags["paid"]["services_30d"] == 1
    assert tags["paid"]["lifecycle"] == "active"
    assert tags["failed"]["active_days_30d"] == 3  # any order is activity …
    assert tags["failed"]["lifecycle"] == "occasional"  # … but only a paid one is a service


@pytest.mark.parametrize(
    ("days_ago", "inactive", "layer", "risk"),
    [
        (15, 14, "occasional", False),
        (16, 15, "occasional", True),
        (30, 29, "occasional", True),
        (31, 30, "silent", False),
        (91, 90, "silent", False),
        (92, 91, "churned", False),
    ],
)
def test_inactivity_boundaries(tags, days_ago, inactive, layer, risk):
    row = tags[f"last{days_ago}"]
    assert row["inactive_days"] == inactive
    assert row["lifecycle"] == layer
    assert row["churn_risk"] is risk


def test_no_events_counts_from_registration(tags):
    assert tags["quiet"]["last_active_day"] == date(2026, 4, 22)
    assert tags["quiet"]["inactive_days"] == 39
    assert tags["quiet"]["lifecycle"] == "silent"


def test_hospital_local_day_boundary(tags):
    assert tags["late"]["inactive_days"] == 0
    assert tags["late"]["active_days_30d"] == 1
    # the event at 00:00 local on as-of is in the future for this computation
    assert tags["tooearly"]["active_days_30d"] == 0


def test_thresholds_are_settings(duck, monkeypatch):
    from careops.config import get_settings

    h = Hospital(AS_OF)
    h.patient("two").event("two", 1).event("two", 2).consult("two", 2)
    h.load(duck)
    assert compute_tags(duck, AS_OF, ["lifecycle"])["lifecycle"].to_pylist() == ["occasional"]
    monkeypatch.setenv("CAREOPS_LIFECYCLE__ACTIVE_MIN_DAYS", "2")
    get_settings.cache_clear()
    assert compute_tags(duck, AS_OF, ["lifecycle"])["lifecycle"].to_pylist() == ["active"]

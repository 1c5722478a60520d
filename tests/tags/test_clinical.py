"""Clinical tags: chronic conditions from three sources, flags, readings, stage, priority."""

from datetime import date

import pytest

from careops.tags.compute import compute_tags
from tests.tags.conftest import by_user
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)
TAGS = [
    "has_hypertension",
    "has_diabetes",
    "chronic",
    "chronic_conditions",
    "allergy",
    "family_history",
    "days_without_bp",
    "days_without_glucose",
    "health_stage",
    "need_priority",
]


@pytest.fixture(scope="module")
def tags(module_duck):
    h = Hospital(AS_OF)
    h.patient("cond").condition("cond", "I10")  # ICD-10 condition
    h.patient("snomed").condition("snomed", "44054006", system="snomed")
    h.patient("dx").consult("dx", 200, dx="E11.9")  # consultation diagnosis
    h.patient("drug").prescription("drug", 300, "盐酸二甲双胍片")  # prescription by drug name
    h.patient("atc").prescription("atc", 300, "某降压药", drug_code="C09CA01")
    h.patient("both").condition("both", "I10").condition("both", "E11")
    h.patient("resolved").condition("resolved", "I10", status="resolved")
    h.patient("future").condition("future", "I10", onset_days_ago=0)  # onset at as-of: not yet
    h.patient("allergic").condition("allergic", "Z88.0", category="allergy")
    h.patient("famhx").condition("famhx", "Z82.4", category="family_history")
    # readings: yesterday → 0 days without; 31 days ago → 30
    h.patient("bp0").reading("bp0", 1, "8480-6", 128).reading("bp0", 31, "2339-0", 6.0)
    # health stage
    h.patient("rx").prescription("rx", 30, "布洛芬", days_supply=30)  # still running
    h.patient("rxdone").prescription("rxdone", 31, "布洛芬", days_supply=30)  # finished
    h.patient("c14").consult("c14", 14)
    h.patient("c15").consult("c15", 15)
    h.patient("searcher").event("searcher", 3, "search", query="头晕怎么办")
    h.patient("idle")
    # priority: abnormal reading in 7 days → high; on day 8 → chronic → mid
    h.patient("hi").reading("hi", 7, "8480-6", 150).condition("hi", "I10")
    h.patient("hi8").reading("hi8", 8, "8480-6", 150).condition("hi8", "I10")
    h.patient("glu").reading("glu", 2, "2339-0", 14.0)
    h.patient("glu139").reading("glu139", 2, "2339-0", 13.9)
    h.load(module_duck)
    return by_user(compute_tags(module_duck, AS_OF, TAGS))


@pytest.mark.parametrize(
    ("user", "htn", "dm"),
    [
        ("cond", True, False),
        ("snomed", False, True),
        ("dx", False, True),
        ("drug", False, True),
        ("atc", True, False),
        ("resolved", False, False),
        ("future", False, False),
        ("idle", False, False),
    ],
)
def test_chronic_sources(tags, user, htn, dm):
    assert (tags[user]["has_hypertension"], tags[user]["has_diabetes"]) == (htn, dm)
    assert tags[user]["chronic"] is (htn or dm)


def test_chronic_list(tags):
    assert tags["both"]["chronic_conditions"] == "hypertension,diabetes"
    assert tags["idle"]["chronic_conditions"] is None


def test_allergy_and_family_history(tags):
    assert tags["allergic"]["allergy"] is True
    assert tags["allergic"]["chronic"] is False
    assert tags["famhx"]["family_history"] is True
    assert tags["idle"]["allergy"] is False


def test_days_without_readings(tags):
    assert tags["bp0"]["days_without_bp"] == 0
    assert tags["bp0"]["days_without_glucose"] == 30
    assert tags["idle"]["days_without_bp"] is None


@pytest.mark.parametrize(
    ("user", "stage"),
    [
        ("rx", "in_treatment"),
        ("rxdone", "recovery"),
        ("c14", "in_treatment"),
        ("c15", "recovery"),
        ("searcher", "self_check"),
        ("idle", "prevention"),
    ],
)
def test_health_stage(tags, user, stage):
    assert tags[user]["health_stage"] == stage


@pytest.mark.parametrize(
    ("user", "priority"),
    [
        ("hi", "high"),
        ("hi8", "mid"),
        ("glu", "high"),
        ("glu139", "low"),
        ("rx", "mid"),
        ("idle", "low"),
    ],
)
def test_need_priority(tags, user, priority):
    assert tags[user]["need_priority"] == priority

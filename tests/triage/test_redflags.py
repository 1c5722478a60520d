"""Red flags first: every rule fires on its positive phrasings and stays quiet on its negative
ones (the data's own lists and hand-written cases here), and the answer comes before any
department."""

from __future__ import annotations

import pytest

from careops.errors import InvalidInput
from careops.triage import catalogue as cat
from careops.triage.redflags import check, parse, shipped_rules
from careops.triage.service import Triage

RULES = shipped_rules().rules
ADVICE = "请立即拨打120或前往急诊"


@pytest.mark.parametrize(
    ("rule", "text"), [(r.id, t) for r in RULES for t in r.fires], ids=lambda v: str(v)
)
def test_each_rule_fires_on_its_phrasings(rule, text):
    e = check(text)
    assert e is not None and e.rule == rule and e.advice == ADVICE


@pytest.mark.parametrize(
    ("rule", "text"), [(r.id, t) for r in RULES for t in r.quiet], ids=lambda v: str(v)
)
def test_each_rule_is_quiet_on_its_negative_phrasings(rule, text):
    assert check(text) is None


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("胸口疼，左胳膊也麻，出冷汗", "chest_pain_cardiac"),
        ("不胸痛，出汗多", None),
        ("胸痛但是没有出汗，也没有放射", None),
        ("妈妈口角歪斜，一侧无力", "stroke"),
        ("没有口角歪斜", None),
        ("哮喘发作喘不上气，嘴唇发紫", "breathlessness_severe"),
        ("不想活了", "suicide"),
        ("我没有想过自杀", None),
        ("宝宝高烧39度抽搐", "child_febrile_convulsion"),
        ("高烧39度抽搐", None),  # not about a child: the child rule needs one
        ("8个月宝宝发烧后抽筋", "child_febrile_convulsion"),
        ("吃了花生过敏，喉咙发紧", "anaphylaxis"),
        ("过敏性鼻炎，鼻子痒", None),
        ("外伤后血流不止", "heavy_bleeding"),
        ("头痛、发热，三天了", None),
    ],
)
def test_hand_written_cases(text, rule):
    e = check(text)
    assert (e.rule if e else None) == rule


def test_the_emergency_comes_with_the_departments_and_names_the_rule():
    answer = Triage(cat.default()).ask("胸口压着疼，大汗淋漓")
    assert answer.emergency is not None and answer.emergency.rule == "chest_pain_cardiac"
    d = answer.as_dict("q1")
    assert d["emergency"]["advice"] == ADVICE and d["emergency"]["rule"] == "chest_pain_cardiac"
    assert d["departments"][0]["name"] == "心血管内科"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "rules"),
        ({"advice": "x", "rules": [{"all": [["a"]]}]}, "id"),
        ({"advice": "x", "rules": [{"id": "a", "all": []}]}, "all"),
        ({"advice": "x", "rules": [{"id": "a", "all": [[""]]}]}, "list of words"),
        (
            {"advice": "x", "rules": [{"id": "a", "all": [["b"]]}, {"id": "a", "all": [["c"]]}]},
            "duplicate",
        ),
        ({"rules": []}, "advice"),
    ],
)
def test_rule_files_are_validated(data, message):
    with pytest.raises(InvalidInput, match=message):
        parse(data)

"""Medical-advertising copy rules: each rule fires on its words and stays quiet on look-alikes."""

from __future__ import annotations

import pytest

from careops.errors import ConfigError
from careops.journeys.compliance import check, load_rules

OK = "具体诊疗请遵医嘱。"


def fired(text: str, purpose: str = "marketing") -> set[tuple[str, str]]:
    return {(f.rule, f.words) for f in check(text + OK, purpose)}


@pytest.mark.parametrize(
    ("text", "rule", "words"),
    [
        ("本院是最好的医院", "absolute_claim", "最好"),
        ("全市第一的心内科", "absolute_claim", "第一"),
        ("最权威专家坐诊", "absolute_claim", "最权威"),
        ("100%有效", "absolute_claim", "100%有效"),
        ("１００％有效", "absolute_claim", "１００％有效"),
        ("此方法可根治糖尿病", "cure_claim", "根治"),
        ("保证治愈", "cure_claim", "保证治愈"),
        ("疗效确保稳定", "guaranteed_outcome", "确保"),
        ("零风险无副作用", "guaranteed_outcome", "零风险"),
        ("再不治疗后果不堪设想", "fear_appeal", "后果不堪设想"),
        ("高血压随时可能猝死", "fear_appeal", "随时可能猝死"),
        ("看看患者见证", "testimonial", "患者见证"),
        ("王女士用了三个月就治好了", "testimonial", "王女士用了三个月就治好"),
        ("免费治疗名额有限", "inducement", "免费治疗"),
    ],
)
def test_each_rule_fires_on_its_words(text, rule, words):
    assert (rule, words) in fired(text)


@pytest.mark.parametrize(
    "text",
    [
        "最近天气变化大, 注意血压",
        "您最后一次测量是 3 天前",
        "最新的体检报告已生成",
        "每天最少走 6000 步",
        "这是您第一次问诊",
        "第一步: 绑定设备",
        "血压控制达标率 100%",
        "缴纳保证金",
        "您的信息 100%保密",
    ],
)
def test_look_alikes_do_not_fire(text):
    assert fired(text) == set()


def test_missing_disclaimer_is_a_warning_for_marketing_only():
    (f,) = check("春季体检 8 折", "marketing")
    assert (f.rule, f.severity) == ("missing_disclaimer", "warn")
    assert check("春季体检 8 折", "service") == []
    assert check("Spring check-up 20% off. Follow your doctor's advice.", "marketing") == []


def test_a_finding_has_its_position_and_severity():
    (f,) = [f for f in check("我们的医生最好。" + OK) if f.rule == "absolute_claim"]
    assert (f.start, f.end, f.severity, f.words) == (5, 7, "block", "最好")


def test_hospital_rules_extend_and_replace(tmp_path):
    extra = tmp_path / "rules.yaml"
    extra.write_text(
        "rules:\n"
        "  - {id: local_brand, severity: warn, label: {zh: 品牌, en: brand}, words: [神医]}\n"
        "  - {id: fear_appeal, severity: block, label: {zh: 恐吓, en: fear}, words: [吓人]}\n",
        encoding="utf-8",
    )
    rules = {r.id: r for r in load_rules(extra)}
    assert rules["fear_appeal"].severity == "block" and "absolute_claim" in rules
    found = {(f.rule, f.severity) for f in check("神医吓人" + OK, "marketing", str(extra))}
    assert found == {("local_brand", "warn"), ("fear_appeal", "block")}


def test_a_bad_rules_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: x, severity: block, label: {zh: a, en: b}, patterns: ['(']}\n")
    with pytest.raises(ConfigError, match="invalid regular expression"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "none.yaml")

"""The rule language: text and JSON forms, round trips, and clear errors for bad rules."""

import pytest

from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import BoolOp, Compare, Event, Not, parse_rule, to_data, to_text

EXAMPLE = 'searched("失眠", within="30d") and sex == "F" and age between 25 and 45'


def test_example_from_the_spec_parses():
    node = parse_rule(EXAMPLE)
    assert node == BoolOp(
        "and",
        (
            Event("searched", ("失眠",), (("within", "30d"),)),
            Compare("sex", "==", "F"),
            Compare("age", "between", [25, 45]),
        ),
    )


def test_precedence_and_parentheses():
    node = parse_rule("chronic or elderly and not child")
    assert node == BoolOp(
        "or",
        (
            Compare("chronic", "true"),
            BoolOp("and", (Compare("elderly", "true"), Not(Compare("child", "true")))),
        ),
    )
    grouped = parse_rule("(chronic or elderly) and child")
    assert isinstance(grouped, BoolOp) and grouped.op == "and"


@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE,
        "lifecycle in ['silent', 'churned'] and not did('app_open', within='7d')",
        'region not in ["华东"] or days_without_bp is null or search_keywords contains "失眠"',
        'spend_cny >= 1000.5 and bought(category="drug", times=2)',
        'sex == "it\\"s" or managed_by is not null',
    ],
)
def test_text_and_json_round_trip(text):
    node = parse_rule(text)
    assert parse_rule(to_text(node)) == node
    assert parse_rule(to_data(node)) == node
    import json

    assert parse_rule(json.dumps(to_data(node), ensure_ascii=False)) == node


def test_yaml_form():
    import yaml

    doc = yaml.safe_load("""
and:
  - event: searched
    args: [失眠]
    within: 30d
  - {tag: sex, op: "==", value: F}
  - {tag: age, op: between, value: [25, 45]}
""")
    assert parse_rule(doc) == parse_rule(EXAMPLE)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "empty"),
        ("(sex == 'F'", "unbalanced '(' at column 1"),
        ("sex == 'F')", "unbalanced ')' at column 11"),
        ("region in ['a', 'b'", "unbalanced '['"),
        ("searched('x'", "unbalanced '('"),
        ("sex = 'F'", "use '=='"),
        ("sex == 'F' and", "expected a tag name"),
        ("age between 25", "'and' in 'between"),
        ("sex == 'F'; DROP TABLE patients; --", "cannot read ';'"),
        ('{"and": 3}', "rule.and: 应为非空的条件列表 / expected a non-empty list"),
        ('{"tag": "age", "op": "~"}', "rule.op: 未知的运算符 '~'"),
        ('{"and": [{"foo": 1}]}', "rule.and[0]: 应为以下键之一"),
        ("{not json", "not valid"),
    ],
)
def test_syntax_errors_are_clear(rule, message):
    with pytest.raises(
        RuleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        check(parse_rule(rule))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("agee > 3", "unknown tag 'agee'; did you mean 'age'"),
        (
            "生命周 == '沉默用户'",
            r"unknown tag '生命周'; did you mean 'lifecycle \(生命周期\)'.*"
            "careops tags list",
        ),
        ("lifecycel == 'silent'", "did you mean 'lifecycle'"),
        ("age > 'old'", "tag 'age' .* is a number; 'old' does not fit"),
        ("age between 'a' and 3", "is a number"),
        ("sex > 'F'", "only == and !="),
        ("lifecycle == 'sleeping'", "not a value of tag 'lifecycle'; use one of new"),
        ("chronic == 1", "is true/false"),
        ("age", "is not true/false"),
        ("age == null", "is null"),
        ("age contains '3'", "'contains' needs a text tag"),
        ("last_active_day > '2026-13-01'", "a date"),
        ("serched('失眠')", "unknown event condition 'serched'; did you mean 'searched'"),
        ("searched()", "needs text as text"),
        ("searched('a', whithin='3d')", "did you mean 'within'"),
        ("searched('a', within='soon')", "not a window"),
        ("did('a', times=0)", "times must be a whole number"),
        ("bought(min_amount='lots')", "min_amount must be a number"),
    ],
)
def test_type_and_name_errors_are_clear(rule, message):
    with pytest.raises(RuleError, match=message):
        check(parse_rule(rule))


def test_category_labels_are_accepted():
    node, names = check(parse_rule("lifecycle == '沉默用户' and value in ['High value', 'mid']"))
    assert names == ["lifecycle", "value"]
    assert node.items[0] == Compare("lifecycle", "==", "silent")
    assert node.items[1].value == ["high", "mid"]


def test_tags_may_be_named_by_their_chinese_label():
    node, names = check(
        parse_rule(
            '生命周期 == "沉默用户" and 价值 in ["高价值", "mid"] and 慢病患者 and not 高频问诊'
        )
    )
    assert names == ["lifecycle", "value", "chronic", "frequent_consulter"]
    assert to_text(node) == (
        'lifecycle == "silent" and value in ["high", "mid"] and chronic and not frequent_consulter'
    )
    node, _ = check(parse_rule({"tag": "Lifecycle", "op": "==", "value": "Silent"}))
    assert node == Compare("lifecycle", "==", "silent")

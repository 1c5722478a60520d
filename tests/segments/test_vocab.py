"""Event-condition values: labels become codes, unknown free values get the closest known ones."""

from datetime import date

import pytest

from careops.schema import TABLES
from careops.segments import count
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import parse_rule
from careops.segments.vocab import ORDER_CATEGORIES, closest, rule_warnings
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)


@pytest.fixture(scope="module")
def con(module_duck):
    h = Hospital(AS_OF)
    h.patient("heart").consult("heart", 3, department="心血管内科").order("heart", 2, 80.0)
    h.patient("sugar").consult("sugar", 3, department="内分泌科").event("sugar", 1, "share")
    h.reading("sugar", 4, "8480-6", 130)
    h.load(module_duck)
    return module_duck


def test_order_categories_are_the_schema_enum():
    enum = next(c for c in TABLES["orders"].columns if c.name == "category").enum
    assert tuple(code for code, _, _ in ORDER_CATEGORIES) == enum


def test_labels_of_fixed_vocabularies_become_codes(con):
    node, _ = check(parse_rule('bought(category="药品") and measured("血压")'))
    assert node.items[0].kw()["category"] == "drug"
    assert node.items[1].kw()["kind"] == "bp"
    assert (
        count(con, 'bought(category="药品")', AS_OF)
        == count(con, 'bought(category="drug")', AS_OF)
        == 1
    )
    assert count(con, 'measured("血压")', AS_OF) == 1
    with pytest.raises(
        RuleError,
        match=r"category '药' is not an order category; use one of "
        r"consultation \(问诊\), drug \(药品\)",
    ):
        check(parse_rule('bought(category="药")'))


def test_closest_prefers_values_holding_the_characters_in_order():
    known = ["内分泌科", "呼吸内科", "心血管内科", "儿科"]
    assert closest("心内科", known)[0] == "心血管内科"
    assert closest("app_opn", ["app_open", "share", "search"]) == ["app_open"]
    assert closest("xyz", known) == []


def test_values_the_warehouse_never_has_are_named_with_the_closest(con):
    rule = (
        'consulted(department="心内科") or did("shar") or did_not("share") '
        'or consulted(department="内分泌科") or measured("bp") or bought(category="药品")'
    )
    assert rule_warnings(con, rule, "en") == [
        "consulted(department='心内科'): no row of the warehouse has this value, so the "
        "condition matches nobody; closest: 心血管内科, 内分泌科",
        "did(name='shar'): no row of the warehouse has this value, so the condition matches "
        "nobody; closest: share",
    ]
    zh = rule_warnings(con, 'consulted(department="心内科")')
    assert zh == [
        "consulted(department='心内科'): 仓库中没有这个值, 条件不会匹配任何人; "
        "最接近的: 心血管内科, 内分泌科"
    ]
    assert rule_warnings(con, 'did_not("nothing")', "en")[0].endswith("matches everyone")
    assert rule_warnings(con, 'consulted(department="心血管内科") and sex == "F"') == []

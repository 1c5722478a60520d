"""Catalogues: any hospital's names map onto specialties; bad catalogues are refused by line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.errors import InvalidInput
from careops.triage import catalogue as cat
from careops.triage.kb import shipped


@pytest.mark.parametrize(
    ("name", "specialties"),
    [
        ("心内科", {"心血管内科"}),
        ("心血管科", {"心血管内科"}),
        ("心血管内科门诊", {"心血管内科"}),  # suffix stripped
        ("呼吸与危重症医学科", {"呼吸内科"}),
        ("妇产科", {"妇科", "产科"}),  # one department, two specialties
        ("小儿消化内科", {"儿科", "消化内科"}),  # paediatric prefix
        ("肝病中心", {"消化内科"}),  # by the words of its name
        ("耳鼻咽喉头颈外科", {"耳鼻咽喉科"}),
    ],
)
def test_department_names_map_onto_specialties(name, specialties):
    got = cat.map_name(name, "", shipped())
    assert {s for s, w in got.items() if w >= 0.5} >= specialties
    assert max(got.values()) == 1.0 or name == "肝病中心"


def test_a_name_that_says_nothing_is_mapped_by_its_description():
    got = cat.map_name("三病区", "糖尿病、甲状腺疾病", shipped())
    assert max(got, key=got.get) == "内分泌科"
    assert cat.map_name("三病区", "", shipped()) == {}


def test_catalogue_file_with_and_without_descriptions(tmp_path):
    f = tmp_path / "depts.txt"
    f.write_text("\ufeff# 我院科室\n心内科\t高血压、冠心病\n\n呼吸科\n", encoding="utf-8")
    c = cat.load_file(f)
    assert c.names == ["心内科", "呼吸科"]
    assert c.departments[0].description == "高血压、冠心病" and c.source == str(f)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "为空"),
        ("# only a comment\n\n", "为空"),
        ("心内科\n呼吸科\t咳嗽\t多余\n", "line 2"),
        ("心内科\n心内科\n", "重复"),
        ("\t描述\n", "line 1"),
        ("心内\x1b[31m科\n", "control"),
        ("科" * 61 + "\n", "60"),
    ],
)
def test_bad_catalogues_are_refused_naming_the_line(tmp_path, text, message):
    f = tmp_path / "depts.txt"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message) as exc:
        cat.load_file(f)
    assert exc.value.field == "departments"


def test_unreadable_catalogue_files(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        cat.load_file(tmp_path / "missing.txt")
    f = tmp_path / "gbk.txt"
    f.write_bytes("心内科\n".encode("gbk"))
    with pytest.raises(InvalidInput, match="UTF-8"):
        cat.load_file(f)


def test_one_line_catalogue_is_a_catalogue():
    c = cat.build([cat.Department("全科门诊")])
    assert c.names == ["全科门诊"]
    # every specialty's evidence reaches the one general department
    assert c.routes["心血管内科"] and c.routes["眼科"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=80), min_size=0, max_size=8))
def test_fuzz_catalogue_text(lines):
    text = "\n".join(lines)
    try:
        c = cat.build(cat.parse_lines(text))
    except InvalidInput as exc:
        assert exc.field == "departments"
        return
    assert 1 <= len(c.names) == len(set(c.names))

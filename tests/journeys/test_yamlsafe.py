"""Hostile YAML is refused safely, and every value keeps its line and column."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careops.journeys import yamlsafe
from careops.journeys.definition import DefinitionError, parse

BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def test_marks_are_one_based_lines_and_columns():
    doc = yamlsafe.load("key: x\nsteps:\n  - id: a\n    type: wait\n")
    assert doc.data == {"key": "x", "steps": [{"id": "a", "type": "wait"}]}
    assert doc.mark(("steps", 0, "type")) == (4, 5)
    assert doc.mark(("steps", 0, "missing")) == (3, 5)  # the deepest known prefix


def test_billion_laughs_is_refused():
    with pytest.raises(yamlsafe.YamlProblem, match="alias bomb"):
        yamlsafe.load(BOMB)


def test_deep_nesting_is_refused_before_composing():
    with pytest.raises(yamlsafe.YamlProblem, match="nested deeper"):
        yamlsafe.load("[" * 100_000 + "]" * 100_000)


def test_huge_file_is_refused_unread():
    with pytest.raises(yamlsafe.YamlProblem, match="larger than"):
        yamlsafe.load("a: " + "x" * (yamlsafe.MAX_BYTES + 1))


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo hi']",
        "a: !!python/name:os.system",
        "a: !custom 1",
        "a: !!binary aGVsbG8=",
        "a: !!set {x: null}",
    ],
)
def test_tags_are_refused_never_constructed(text):
    with pytest.raises(yamlsafe.YamlProblem, match="not allowed"):
        yamlsafe.load(text)


def test_duplicate_keys_and_merge_keys_are_refused():
    with pytest.raises(yamlsafe.YamlProblem, match="duplicate key 'a'") as exc:
        yamlsafe.load("a: 1\nb: 2\na: 3\n")
    assert (exc.value.line, exc.value.column) == (3, 1)
    with pytest.raises(yamlsafe.YamlProblem, match="merge"):
        yamlsafe.load("x: &x {a: 1}\ny:\n  <<: *x\n")


def test_a_definition_with_a_bomb_names_the_file():
    with pytest.raises(DefinitionError) as exc:
        parse(BOMB, "bomb.yaml")
    assert str(exc.value.problems[0]).startswith("bomb.yaml:")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_any_text_is_a_value_or_a_definition_error(text):
    try:
        parse(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert exc.problems and all(str(p).startswith("fuzz.yaml:") for p in exc.problems)


_yamlish = st.lists(
    st.sampled_from(
        [
            "key: a",
            "- x",
            "  ",
            ": ",
            "&a ",
            "*a",
            "[",
            "]",
            "{",
            "}",
            "!!python/x ",
            "\n",
            "steps:",
            "  - id: s",
            "    type: wait",
            "'",
            '"',
            "#",
            "|",
            ">",
            "%YAML 1.1\n",
            "---\n",
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_yamlish)
def test_fuzz_yaml_shaped_text(text):
    with contextlib.suppress(DefinitionError):
        parse(text, "f.yaml")

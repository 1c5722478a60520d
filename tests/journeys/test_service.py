"""The journeys service: permissions by role, key-only lookups, text validation."""

from __future__ import annotations

import pytest

from careops.errors import Forbidden, InvalidInput, NotFound
from careops.journeys.catalogue import TEMPLATES
from careops.journeys.service import list_journeys, show_journey, validate_text
from careops.service import Actor, Ops


def ops_as(role: str) -> Ops:
    return Ops.open(actor=Actor(name="t", kind="user", roles=(role,)))


def test_operations_list_show_and_validate():
    ops = ops_as("operations")
    assert {j.key for j in list_journeys(ops)} == set(TEMPLATES)
    detail = show_journey(ops, "chronic_bp")
    assert detail.origin == "template" and detail.definition["steps"][0]["until"] == "09:00"
    report = validate_text(ops, "key: x\nname: {zh: 甲, en: A}\nversion: 1\n")
    assert not report.valid
    assert [(p.line, p.field) for p in report.problems] == [(1, "trigger"), (1, "steps")]


@pytest.mark.parametrize("role", ["analyst", "auditor", "medical"])
def test_roles_without_journeys_are_refused(role):
    with pytest.raises(Forbidden):
        list_journeys(ops_as(role))
    with pytest.raises(Forbidden):
        validate_text(ops_as(role), "key: x")


def test_a_health_manager_reads_but_does_not_validate():
    assert list_journeys(ops_as("health_manager"))
    with pytest.raises(Forbidden):
        validate_text(ops_as("health_manager"), "key: x")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "x.yaml", "A" * 65, ""])
def test_show_takes_keys_only_never_paths(name):
    with pytest.raises(InvalidInput, match="invalid journey key"):
        show_journey(ops_as("operations"), name)


def test_unknown_key_and_huge_text():
    with pytest.raises(NotFound):
        show_journey(ops_as("operations"), "nope")
    with pytest.raises(InvalidInput, match="larger than"):
        validate_text(ops_as("operations"), "a" * 200_001)

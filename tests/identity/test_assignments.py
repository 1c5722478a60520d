"""Care assignments: health managers only, idempotent, audited per patient."""

from __future__ import annotations

import pytest

from careops.errors import Forbidden, InvalidInput, NotFound
from careops.identity import accounts, assignments
from careops.service import Actor
from careops.state.store import read_audit
from tests.identity.conftest import PASSWORD


@pytest.fixture
def manager(ops) -> str:
    accounts.add_user(ops, "hanna", "health_manager", PASSWORD)
    return "hanna"


def test_assign_unassign_and_list(ops, manager):
    done = assignments.assign(ops, manager, ["p2", "p1", "p2"])
    assert done.changed == ("p2", "p1") and done.unchanged == ()
    again = assignments.assign(ops, manager, ["p1", "p3"])
    assert again.changed == ("p3",) and again.unchanged == ("p1",)
    assert [a.user_id for a in assignments.patients_of(ops, manager)] == ["p1", "p2", "p3"]
    assert assignments.is_assigned(ops, manager, "p1")
    gone = assignments.unassign(ops, manager, ["p1", "p9"])
    assert gone.changed == ("p1",) and gone.unchanged == ("p9",)
    assert not assignments.is_assigned(ops, manager, "p1")
    audit = read_audit(ops.state, limit=10)
    assert audit[0]["action"] == "care.unassign" and audit[0]["subject"] == "p1"
    assert sum(r["action"] == "care.assign" for r in audit) == 3


def test_only_health_managers_have_patients_assigned(ops):
    accounts.add_user(ops, "olga", "operations", PASSWORD)
    with pytest.raises(InvalidInput, match="not a health_manager"):
        assignments.assign(ops, "olga", ["p1"])
    with pytest.raises(NotFound):
        assignments.assign(ops, "nobody", ["p1"])
    with pytest.raises(NotFound):
        assignments.patients_of(ops, "nobody")


@pytest.mark.parametrize("ids", [[], ["p1", ""], ["<script>"], ["p" * 129], ["p1\n"]])
def test_bad_patient_ids_are_refused(ops, manager, ids):
    with pytest.raises(InvalidInput):
        assignments.assign(ops, manager, ids)
    assert assignments.patients_of(ops, manager) == []


def test_a_health_manager_sees_their_own_patients_only(ops, manager, as_actor):
    accounts.add_user(ops, "henry", "health_manager", PASSWORD)
    assignments.assign(ops, manager, ["p1"])
    hanna = as_actor(Actor("hanna", kind="user", roles=("health_manager",)))
    assert [a.user_id for a in assignments.patients_of(hanna, "hanna")] == ["p1"]
    with pytest.raises(Forbidden):
        assignments.patients_of(hanna, "henry")
    with pytest.raises(Forbidden):
        assignments.assign(hanna, "hanna", ["p2"])

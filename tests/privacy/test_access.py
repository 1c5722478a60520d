"""Object-level access to one patient (careops.privacy.access) on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careops.errors import Forbidden, InvalidInput, NotFound
from careops.privacy.access import (
    DENIED,
    check_patient_access,
    patient_scopes,
    sees_patient_ids,
)
from careops.service import Actor, Ops
from careops.state.models import audit_log
from careops.warehouse import connect, create_tables
from tests.api.world import assign, encounters, hospital
from tests.conftest import fill


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request, tmp_path):
    """(warehouse URL, state URL) holding the small hospital of tests/api/world.py."""
    if request.param == "duckdb":
        warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
        state = f"sqlite:///{tmp_path / 's.db'}"
    else:
        warehouse = state = request.getfixturevalue("pg_database")()
    con = connect(warehouse)
    try:
        create_tables(con)
        hospital().load(con)
        fill(con, {"encounters": encounters()})
    finally:
        con.disconnect()
    return warehouse, state


def ops_as(stores, actor: Actor) -> Ops:
    warehouse, state = stores
    return Ops.open(warehouse=warehouse, state=state, actor=actor)


DOCTOR = Actor("dr-wang", "user", roles=("medical",), departments=("心血管内科",))
PAEDIATRICIAN = Actor("dr-li", "user", roles=("medical",), departments=("儿科",))
MANAGER = Actor("hm-zhao", "user", roles=("health_manager",))
OPERATIONS = Actor("op-chen", "user", roles=("operations",))


def test_a_doctor_sees_patients_with_a_consultation_or_encounter_in_their_department(stores):
    ops = ops_as(stores, DOCTOR)
    assert check_patient_access(ops, "p1", "patients.clinical").scope == "department"
    assert check_patient_access(ops, "p3", "patients.clinical").scope == "department"  # encounter
    with pytest.raises(Forbidden):
        check_patient_access(ops, "p2", "patients.clinical")
    other = ops_as(stores, PAEDIATRICIAN)
    assert check_patient_access(other, "p2", "patients.clinical").scope == "department"
    with pytest.raises(Forbidden):
        check_patient_access(other, "p1", "patients.clinical")


def test_unknown_and_out_of_scope_patients_are_refused_alike_and_audited(stores):
    ops = ops_as(stores, DOCTOR)
    with pytest.raises(Forbidden) as unknown:
        check_patient_access(ops, "no-such-patient", "patients.clinical")
    with pytest.raises(Forbidden) as outside:
        check_patient_access(ops, "p2", "patients.clinical")
    assert str(unknown.value) == str(outside.value) == DENIED
    with ops.state.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.subject).order_by(audit_log.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("patient.denied", "no-such-patient"),
        ("patient.denied", "p2"),
    ]


def test_a_health_manager_sees_only_assigned_patients(stores):
    ops = ops_as(stores, MANAGER)
    with pytest.raises(Forbidden):
        check_patient_access(ops, "p1", "patients.clinical")
    assign(ops, "hm-zhao", "p1")
    assert check_patient_access(ops, "p1", "patients.clinical").scope == "assigned"
    assert check_patient_access(ops, "p1", "patients.portrait").scope == "assigned"
    with pytest.raises(Forbidden):
        check_patient_access(ops, "p2", "patients.portrait")
    # an app key that happens to carry the manager's name is not the manager
    app = ops_as(stores, Actor("hm-zhao", "app", scopes=("patients.portrait",), departments=("x",)))
    with pytest.raises(Forbidden):
        check_patient_access(app, "p1", "patients.portrait")


def test_operations_see_any_existing_patient_and_learn_when_an_id_does_not_exist(stores):
    ops = ops_as(stores, OPERATIONS)
    assert check_patient_access(ops, "p2", "patients.portrait").scope == "all_masked"
    with pytest.raises(NotFound):
        check_patient_access(ops, "nobody", "patients.portrait")
    with pytest.raises(Forbidden):  # the permission, before any patient is looked at
        check_patient_access(ops, "p1", "patients.clinical")


def test_only_roles_granting_the_permission_lend_their_scope():
    both = Actor("x", "user", roles=("operations", "medical"), departments=("儿科",))
    assert patient_scopes(both, "patients.portrait") == ("all_masked", "department")
    assert patient_scopes(both, "patients.clinical") == ("department",)
    assert patient_scopes(Actor("a", "user", roles=("analyst",)), "patients.portrait") == ()
    assert patient_scopes(Actor("a", "user", roles=("analyst",)), "segments.read") == (
        "pseudonymous",
    )
    assert patient_scopes(Actor("a", "user", roles=("auditor",)), "patients.portrait") == ()
    assert patient_scopes(Actor("cli", "os"), "patients.portrait") == ("all_masked",)
    assert patient_scopes(Actor("his", "app", scopes=("patients.portrait",)), "patients.portrait")
    assert patient_scopes(
        Actor("his", "app", scopes=("patients.portrait",), departments=("儿科",)),
        "patients.portrait",
    ) == ("department",)
    assert patient_scopes(Actor("s", "system"), "patients.portrait") == ()


def test_patient_ids_in_lists_only_for_callers_who_may_see_everyone():
    assert sees_patient_ids(Actor("o", "user", roles=("operations",)), "segments.read")
    assert not sees_patient_ids(Actor("a", "user", roles=("analyst",)), "segments.read")


@pytest.mark.parametrize("bad", ["", " ", "a\x00b", "x\n", "x" * 129, "\x7f"])
def test_malformed_ids_are_invalid_input_before_any_lookup(stores, bad):
    with pytest.raises(InvalidInput):
        check_patient_access(ops_as(stores, DOCTOR), bad, "patients.clinical")


def test_injection_in_an_id_is_only_an_id(stores):
    ops = ops_as(stores, OPERATIONS)
    for text in ("p1' OR '1'='1", 'p1" OR 1=1 --', "p1; DROP TABLE patients"):
        with pytest.raises(NotFound):
            check_patient_access(ops, text, "patients.portrait")
    assert check_patient_access(ops, "p1", "patients.portrait").user_id == "p1"

"""Object-level access: may this caller look at this patient? (SPEC §10: least privilege.)

A permission (`patients.portrait`, `patients.clinical`) says what kind of patient data a role
may read; `identity.roles.PATIENT_SCOPE` says *which* patients, one by one:

- `all_masked`: any patient (operations, admin; a hospital app's key or a CareOps job without
  departments).
- `department`: a patient with a consultation or an encounter in one of the caller's
  departments (doctors and their assistants; an app key bound to departments).
- `assigned`: a patient assigned to the caller in `care_assignments` (health managers).
- `pseudonymous`, `none`: no patient one by one (analysts, auditors).

Only the roles that grant the permission asked for count: a member of staff who is both
operations (`all_masked`, no clinical permission) and medical (`department`) reads clinical
records of their department's patients only.

`patients.managed_by` is *not* a scope: it names the family account that manages a patient
(a patient's user_id), not a member of staff, so matching it against a username would let a
staff account that happens to share an id see that family's patients.

Guessing ids reveals nothing: for a scoped caller a patient who does not exist and a patient
out of scope get the same `Forbidden`, and the check looks at no other table first. Callers who
may see every patient learn whether an id exists (`NotFound`): they could list them anyway.
Refusals are audited (`patient.denied`), so id guessing shows in the trail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis

from careops.errors import Forbidden, InvalidInput, NotFound
from careops.identity.roles import GRANTS, PATIENT_SCOPE, PatientScope

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.service import Actor, Ops

MAX_USER_ID = 128
_USER_ID = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
#: from the widest to the narrowest
_ORDER: tuple[PatientScope, ...] = ("all_masked", "department", "assigned", "pseudonymous", "none")
DENIED = "无权查看该患者 / this patient is outside your scope"


@dataclass(frozen=True)
class Access:
    """A granted look at one patient: who, which patient, and the scope that allowed it."""

    user_id: str
    scope: PatientScope


def check_user_id(user_id: str) -> str:
    """A patient id as given, refused when empty, over 128 characters or holding controls."""
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id) or not user_id.strip():
        shown = repr(user_id[:40]) if isinstance(user_id, str) else type(user_id).__name__
        raise InvalidInput(
            f"患者 ID 不合法 / invalid user_id {shown}: 1–{MAX_USER_ID} characters, "
            "no control characters"
        )
    return user_id


def patient_scopes(actor: Actor, permission: str) -> tuple[PatientScope, ...]:
    """The patient scopes `actor` holds for `permission`, widest first (empty: none)."""
    if not actor.can(permission):
        return ()
    if actor.kind == "os" and not actor.roles:
        return ("all_masked",)  # the CLI on the warehouse's machine: trusted as admin
    if actor.kind in ("app", "system"):  # a hospital app's key, a CareOps job: their scopes
        return ("department",) if actor.departments else ("all_masked",)
    found = {
        PATIENT_SCOPE[role]  # type: ignore[index]
        for role in actor.roles
        if role in PATIENT_SCOPE and permission in GRANTS[role]  # type: ignore[index]
    }
    return tuple(s for s in _ORDER if s in found)


def check_patient_access(
    ops: Ops, user_id: str, permission: str = "patients.portrait", con: BaseBackend | None = None
) -> Access:
    """Whether the caller of `ops` may read `permission`-data of patient `user_id`: the scope
    that allows it, else `Forbidden` (the same answer for an unknown and an out-of-scope patient
    when the caller is scoped), or `NotFound` for an unknown patient when the caller may see
    everyone. `con`: an open warehouse connection to reuse."""
    check_user_id(user_id)
    ops.require(permission)
    scopes = patient_scopes(ops.actor, permission)
    if con is None:
        with ops.warehouse(read_only=True) as wh:
            return _decide(ops, wh, user_id, permission, scopes)
    return _decide(ops, con, user_id, permission, scopes)


def _decide(
    ops: Ops,
    con: BaseBackend,
    user_id: str,
    permission: str,
    scopes: tuple[PatientScope, ...],
) -> Access:
    if "all_masked" in scopes:
        if not patient_exists(con, user_id):
            raise NotFound(f"没有该患者 / no patient {user_id!r}")
        return Access(user_id, "all_masked")
    if "department" in scopes and seen_in_departments(con, user_id, ops.actor.departments):
        return Access(user_id, "department")
    if "assigned" in scopes and is_assigned(ops, user_id):
        return Access(user_id, "assigned")
    ops.audit(
        "patient.denied",
        user_id,
        {"permission": permission, "scopes": list(scopes)},
        subject=user_id,
    )
    raise Forbidden(DENIED)


def patient_exists(con: BaseBackend, user_id: str) -> bool:
    """Whether the warehouse's `patients` table has `user_id`."""
    p = con.table("patients")
    return bool(p.filter(p.user_id == user_id).count().to_pyarrow().as_py())


def seen_in_departments(con: BaseBackend, user_id: str, departments: tuple[str, ...]) -> bool:
    """Whether the patient had a consultation or an encounter in one of `departments`."""
    if not departments:
        return False
    wanted = list(departments)
    present = set(con.list_tables())
    parts = []
    for table in ("consultations", "encounters"):
        if table in present:
            t = con.table(table)
            hit = t.filter((t.user_id == user_id) & t.department.isin(wanted))
            parts.append(hit.select(one=ibis.literal(1)).limit(1))
    if not parts:
        return False
    return ibis.union(*parts).count().to_pyarrow().as_py() > 0


def is_assigned(ops: Ops, user_id: str) -> bool:
    """Whether the patient is in the caller's care (`care_assignments`); only a staff account
    has patients assigned, so an app key or job sharing a manager's name has none."""
    from careops.identity.assignments import is_assigned as in_care

    return ops.actor.kind == "user" and in_care(ops, ops.actor.name, user_id)


def sees_patient_ids(actor: Actor, permission: str) -> bool:
    """Whether lists of patients (a segment's sample or export) may show `actor` real patient
    ids under `permission`: only callers who may look at any patient one by one. Analysts
    (`pseudonymous`) get counts, not ids."""
    return "all_masked" in patient_scopes(actor, permission)

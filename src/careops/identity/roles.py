"""Roles and what each may do (least privilege, SPEC §10): one table the API, the CLI and the
cockpit all consult, and the role × route test checks.

A permission names a capability (`segments.write`). Which patients a role may see one by one is a
second, object-level question answered by `PATIENT_SCOPE`: operations staff see masked portraits of
every patient but nothing clinical; doctors and their assistants the clinical records of patients
seen in their own department; health managers the patients assigned to them; analysts only
de-identified data; auditors no patient at all.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "operations", "medical", "health_manager", "analyst", "auditor"]
ROLES: tuple[Role, ...] = (
    "admin",
    "operations",
    "medical",
    "health_manager",
    "analyst",
    "auditor",
)

#: every permission; what each lets its holder do is `permission.<name>` of `careops.labels`
PERMISSIONS: tuple[str, ...] = (
    "tags.read",
    "tags.compute",
    "segments.read",
    "segments.write",
    "segments.export",
    "metrics.read",
    "experiments.read",
    "experiments.write",
    "journeys.read",
    "journeys.write",
    "models.read",
    "triage.run",
    "dose.check",
    "tasks.read",
    "tasks.work",
    "patients.portrait",
    "patients.clinical",
    "patients.contacts",
    "consents.write",
    "events.write",
    "ingest.write",
    "data.deidentified",
    "audit.read",
    "users.manage",
    "privacy.erase",
    "care.read",
    "growth.read",
    "growth.write",
)

_OPERATIONS = {
    "tags.read",
    "tags.compute",
    "segments.read",
    "segments.write",
    "segments.export",
    "metrics.read",
    "experiments.read",
    "experiments.write",
    "journeys.read",
    "journeys.write",
    "models.read",
    "patients.portrait",
    "consents.write",
    "tasks.read",
    "tasks.work",
    "growth.read",
    "growth.write",
    "care.read",
}

#: role -> its permissions. Admins administer (accounts, erasure, configuration, everything
#: operational) but do not read clinical records or plain contacts: they treat no one.
GRANTS: dict[Role, frozenset[str]] = {
    "admin": frozenset(
        set(PERMISSIONS) - {"patients.clinical", "patients.contacts", "data.deidentified"}
    ),
    "operations": frozenset(_OPERATIONS),
    "medical": frozenset(
        {
            "patients.portrait",
            "patients.clinical",
            "triage.run",
            "dose.check",
            "models.read",
            "tags.read",
            "tasks.read",
            "tasks.work",
            "care.read",
        }
    ),
    "health_manager": frozenset(
        {
            "care.read",
            "patients.portrait",
            "patients.clinical",
            "models.read",
            "journeys.read",
            "tags.read",
            "tasks.read",
            "tasks.work",
        }
    ),
    "analyst": frozenset(
        {
            "data.deidentified",
            "metrics.read",
            "tags.read",
            "segments.read",
            "experiments.read",
            "models.read",
            "care.read",
        }
    ),
    "auditor": frozenset({"audit.read"}),
}

PatientScope = Literal["all_masked", "department", "assigned", "pseudonymous", "none"]

#: which patients a role may look at one by one, and how
PATIENT_SCOPE: dict[Role, PatientScope] = {
    "admin": "all_masked",
    "operations": "all_masked",
    "medical": "department",
    "health_manager": "assigned",
    "analyst": "pseudonymous",
    "auditor": "none",
}

#: scopes an API key (a hospital app or system) may hold: no role, only these permissions
APP_SCOPES: frozenset[str] = frozenset(
    {
        "events.write",
        "consents.write",
        "triage.run",
        "dose.check",
        "patients.portrait",
        "patients.contacts",
        "models.read",
        "segments.read",
        "metrics.read",
        "care.read",
        "growth.read",
        "growth.write",
    }
)


def permissions_of(roles: tuple[str, ...]) -> frozenset[str]:
    """Every permission any of `roles` grants (unknown role names grant nothing)."""
    out: set[str] = set()
    for role in roles:
        out |= GRANTS.get(role, frozenset())  # type: ignore[call-overload]
    return frozenset(out)

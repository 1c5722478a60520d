"""One patient at a time, as a service: the portrait and the clinical records.

Every call first asks `careops.privacy.access.check_patient_access` whether the caller may look
at this patient (and refuses the same way for unknown and out-of-scope ids), then reads, then
writes the audit row with the patient as subject (PIPL: who looked at whose data, why, when).
Contacts leave this module masked only (138****5678): the plain value is opened in memory to
be masked and goes nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from careops.patients.records import RecordKind, clean, patient_records
from careops.privacy.access import check_patient_access

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.config import Settings
    from careops.service import Ops


@dataclass(frozen=True)
class PatientPortrait:
    """A patient's tags as of a date (codes), their layer per dimension and group flags, and
    their contacts masked (None when the warehouse holds none, or no key opens them)."""

    user_id: str
    as_of: date
    tags: dict[str, Any]
    layers: dict[str, str | None]
    groups: tuple[str, ...]
    contacts: dict[str, str | None] | None = None
    scope: str = ""


@dataclass(frozen=True)
class RecordPage:
    """One page of a patient's records of one kind, newest first, and how many in all."""

    user_id: str
    kind: RecordKind
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    scope: str = ""
    filters: dict[str, str] = field(default_factory=dict)


def portrait(ops: Ops, user_id: str, as_of: date) -> PatientPortrait:
    """A patient's portrait as of a date: tags, layers, masked contacts; audited."""
    from careops.tags.layers_report import DIMENSIONS, GROUPS
    from careops.tags.portrait import user_tags

    with ops.warehouse(read_only=True) as con:
        access = check_patient_access(ops, user_id, "patients.portrait", con=con)
        tags = user_tags(con, user_id, as_of, settings=ops.settings)
        contacts = masked_contacts(con, user_id, ops.settings)
    tags = {k: clean(v) for k, v in tags.items() if k != "user_id"}
    ops.audit(
        "patient.read",
        user_id,
        {
            "as_of": as_of.isoformat(),
            "fields": ["tags", "layers", *(["contacts:masked"] if contacts else [])],
            "scope": access.scope,
        },
        subject=user_id,
    )
    return PatientPortrait(
        user_id=user_id,
        as_of=as_of,
        tags=tags,
        layers={d: tags.get(d) for d in DIMENSIONS},
        groups=tuple(g for g in GROUPS if tags.get(g)),
        contacts=contacts,
        scope=access.scope,
    )


def portraits(ops: Ops, user_ids: list[str], as_of: date) -> list[PatientPortrait]:
    """The portraits of several patients as of a date (a page of a list), each as `portrait`
    gives it and audited the same way, read through one connection and one snapshot read
    (the tags of all of them at once) instead of one of each per patient."""
    from careops.tags.compute import require_patients
    from careops.tags.layers_report import DIMENSIONS, GROUPS
    from careops.tags.portrait import user_tags
    from careops.tags.snapshot import tags_at

    if not user_ids:
        return []
    with ops.warehouse(read_only=True) as con:
        access = {u: check_patient_access(ops, u, "patients.portrait", con=con) for u in user_ids}
        require_patients(con, as_of, ops.settings)
        t = tags_at(con, as_of, settings=ops.settings)
        found = t.filter(t.user_id.isin(list(user_ids))).to_pyarrow().to_pylist()
        rows = {r["user_id"]: r for r in found}
        for u in user_ids:  # not in a stored snapshot: the single portrait's own path
            if u not in rows:
                rows[u] = user_tags(con, u, as_of, settings=ops.settings)
        contacts = {u: masked_contacts(con, u, ops.settings) for u in user_ids}
    out = []
    for u in user_ids:
        tags = {k: clean(v) for k, v in rows[u].items() if k != "user_id"}
        ops.audit(
            "patient.read",
            u,
            {
                "as_of": as_of.isoformat(),
                "fields": ["tags", "layers", *(["contacts:masked"] if contacts[u] else [])],
                "scope": access[u].scope,
            },
            subject=u,
        )
        out.append(
            PatientPortrait(
                user_id=u,
                as_of=as_of,
                tags=tags,
                layers={d: tags.get(d) for d in DIMENSIONS},
                groups=tuple(g for g in GROUPS if tags.get(g)),
                contacts=contacts[u],
                scope=access[u].scope,
            )
        )
    return out


def records(
    ops: Ops,
    user_id: str,
    kind: RecordKind,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RecordPage:
    """A patient's clinical records of `kind` (newest first, from `since` through `until`,
    hospital days), for callers whose scope covers the patient; audited with the row count."""
    with ops.warehouse(read_only=True) as con:
        access = check_patient_access(ops, user_id, "patients.clinical", con=con)
        items, total = patient_records(
            con, user_id, kind, ops.settings, since=since, until=until, limit=limit, offset=offset
        )
    filters = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v}
    ops.audit(
        "patient.records",
        user_id,
        {
            "kind": kind,
            "rows": len(items),
            "total": total,
            "offset": offset,
            "scope": access.scope,
            **filters,
        },
        subject=user_id,
    )
    return RecordPage(user_id, kind, items, total, limit, offset, access.scope, filters)


def masked_contacts(con: BaseBackend, user_id: str, settings: Settings) -> dict | None:
    """The patient's contacts, masked (138****5678, 张*), the latest load's value per field
    (`careops.privacy.service`); None when the warehouse has none for them, or they cannot be
    opened (no key configured, or sealed under another key while a rotation is unfinished)."""
    from careops.errors import Conflict
    from careops.privacy.contacts import configured_key, masked
    from careops.privacy.service import latest_rows, merge

    key = configured_key(settings)
    if key is None or "contacts" not in con.list_tables():
        return None
    rows = latest_rows(con, user_id)
    if not rows:
        return None
    try:
        values = merge(rows, key)
    except Conflict:
        return None
    return {name: masked(name, value) for name, value in values.items()}

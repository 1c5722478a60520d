"""Erasure of a patient (PIPL Art. 47): remove them from every table of both stores.

`erase_patient(ops, user_id)` runs, in order:
1. the warehouse, in one transaction (`careops.warehouse.erase`): every table with a `user_id`
   column (canonical tables, contacts, ingestion flags and extras, quarantined rows holding the
   id, tag snapshots, segment memberships, model scores), and references from other patients
   (`referrer_id`, `managed_by`, invite events) cut;
2. the state store, in one transaction: every table of `careops.state.models` with a `user_id`
   column (`experiment_exposures`, `care_assignments`, …), then every eraser registered by a later
   module (`@eraser("journeys")`: enrolments, a queued send's outbox, …), then the audit entry —
   so the state-store deletions and their audit entry commit together.
A failure in step 2 leaves step 1 done; running the erasure again finishes it (each step only
removes what is still there). An id found nowhere is `NotFound`.

What stays: the audit trail. It is append-only and hash-chained, it is kept to account for who
processed the patient's data (PIPL Art. 47's exception for retention the law requires, and the
Cybersecurity Law's six months of logs), and only auditors may read it; rewriting it would also
break the chain that makes it trustworthy. So earlier entries keep the patient's id as their
subject, and the erasure's own entry names the patient only by a keyed hash (HMAC-SHA256 under a
key generated once per deployment in the state store, never the raw id), with the tables and row
counts: an auditor who is given the id can confirm it was erased; the entry alone reveals nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from careops.errors import InvalidInput, NotFound
from careops.state.models import metadata, service_secrets

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from careops.service import Ops

StateEraser = Callable[["Connection", str], dict[str, int]]

#: later modules' erasers of state-store rows: name -> function(conn, user_id) -> rows per table
ERASERS: dict[str, StateEraser] = {}
#: modules that put tables (or erasers) on the state store: imported before an erasure, so that
#: every patient table is known whatever the process imported before (tests/privacy checks the
#: list against the source tree)
TABLE_MODULES = (
    "careops.tasks.store",
    "careops.journeys.store",
    "careops.journeys.switch",
    "careops.points.store",
    "careops.points.referral_store",
    "careops.points.erase",
    "careops.care.alerts",
)
#: state-store tables erasure never touches (the audit trail is kept; see the module docstring)
KEPT = frozenset({"audit_log", "alembic_version"})
_KEY_NAME = "erasure_hmac_key"
MAX_ID = 128


def eraser(name: str) -> Callable[[StateEraser], StateEraser]:
    """Register `function(conn, user_id) -> {table: rows removed}` to run inside the erasure's
    state-store transaction (for rows a patient owns under another column than `user_id`)."""

    def register(function: StateEraser) -> StateEraser:
        ERASERS[name] = function
        return function

    return register


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed: rows per table and store, and the patient's keyed hash (the
    only name the audit entry gives them)."""

    subject_hash: str
    warehouse: dict[str, int] = field(default_factory=dict)
    state: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.warehouse.values()) + sum(self.state.values())


def erase_patient(ops: Ops, user_id: str) -> ErasureReport:
    """Remove patient `user_id` from both stores (see the module docstring); audited as
    `patient.erase` without the id. Needs `privacy.erase`."""
    ops.require("privacy.erase")
    _check_id(user_id)
    from careops.intake.service import forget_user
    from careops.warehouse.erase import erase_user

    journaled = forget_user(ops, user_id)  # first: a later flush must not bring them back
    with ops.warehouse(existing=True) as con:
        in_warehouse = erase_user(con, user_id, skip=frozenset(metadata.tables) | KEPT)
    if journaled:
        in_warehouse = {**in_warehouse, "intake_journal": journaled}
    engine = ops.state
    subject_hash = keyed_hash(engine, user_id)
    with engine.begin() as conn:
        in_state = erase_state(conn, user_id)
        report = ErasureReport(subject_hash, in_warehouse, in_state)
        if report.total == 0:
            raise NotFound(f"没有这个患者的数据 / nothing stored for patient {user_id!r}")
        ops.audit(
            "patient.erase",
            f"patient-hash:{subject_hash[:16]}",
            {"subject_hmac": subject_hash, "warehouse": in_warehouse, "state": in_state},
            conn=conn,
        )
    return report


def erase_state(conn: Connection, user_id: str) -> dict[str, int]:
    """Delete the patient's rows from every state-store table (`careops.state.models`) with a
    `user_id` column, dependants first, then run the registered erasers; rows removed per table
    (zero counts left out). Only the state store's own tables: on PostgreSQL the warehouse may
    share the database, and its tables were erased already."""
    import importlib

    for module in TABLE_MODULES:
        importlib.import_module(module)
    report: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        if table.name in KEPT or "user_id" not in table.c:
            continue
        n = conn.execute(table.delete().where(table.c.user_id == user_id)).rowcount
        report[table.name] = report.get(table.name, 0) + n
    for _, function in sorted(ERASERS.items()):
        for name, n in function(conn, user_id).items():
            report[name] = report.get(name, 0) + n
    return {k: v for k, v in report.items() if v}


def keyed_hash(engine: Engine, user_id: str) -> str:
    """HMAC-SHA256 of an id under this deployment's erasure key (made on first use)."""
    key = _key(engine)
    return hmac.new(key.encode(), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def _key(engine: Engine) -> str:
    query = sa.select(service_secrets.c.value).where(service_secrets.c.name == _KEY_NAME)
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    if found:
        return found
    try:
        with engine.begin() as conn:
            conn.execute(
                service_secrets.insert().values(
                    name=_KEY_NAME, value=secrets.token_hex(32), created_at=dt.datetime.now(dt.UTC)
                )
            )
    except sa.exc.IntegrityError:  # another process made it first: use theirs
        pass
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def _check_id(user_id: str) -> None:
    if (
        not user_id
        or len(user_id) > MAX_ID
        or not user_id.isprintable()
        or user_id != user_id.strip()
    ):
        raise InvalidInput(
            f"user_id: 须为 1–{MAX_ID} 个可打印字符, 首尾无空白 / must be 1–{MAX_ID} printable "
            "characters without surrounding spaces"
        )

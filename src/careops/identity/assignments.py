"""Care assignments: the patients each health manager (健康管理师) looks after.

They are a health manager's object-level scope (`roles.PATIENT_SCOPE["health_manager"] ==
"assigned"`): routes ask `is_assigned` before showing one patient, `patients_of` to list them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from careops.errors import InvalidInput, NotFound
from careops.identity.sessions import aware
from careops.service import Ops
from careops.state.models import care_assignments, users

PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
MAX_BATCH = 10_000


@dataclass(frozen=True)
class Assignment:
    """One patient in a health manager's care."""

    manager: str
    user_id: str
    assigned_at: dt.datetime
    assigned_by: str


@dataclass(frozen=True)
class Changed:
    """What an assign or unassign did: patients added or removed, and those already so."""

    manager: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


def _check_ids(user_ids: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not user_ids:
        raise InvalidInput("至少需要一个患者 ID / name at least one patient id")
    if len(user_ids) > MAX_BATCH:
        raise InvalidInput(f"一次最多 {MAX_BATCH} 个患者 / at most {MAX_BATCH} patients at once")
    for u in user_ids:
        if not isinstance(u, str) or not PATIENT_ID.fullmatch(u):
            raise InvalidInput(f"患者 ID 不合法 / bad patient id {str(u)[:80]!r}")
    return tuple(dict.fromkeys(user_ids))


def _manager(conn, username: str) -> None:
    row = conn.execute(sa.select(users.c.role).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"用户不存在 / no user {str(username)[:64]!r}")
    if row.role != "health_manager":
        raise InvalidInput(
            f"只能为健康管理师分配患者 / {username} is a {row.role}, not a health_manager"
        )


def assign(ops: Ops, manager: str, user_ids: list[str] | tuple[str, ...]) -> Changed:
    """Put patients in a health manager's care (already assigned ones are left as they are)."""
    ops.require("users.manage")
    ids = _check_ids(user_ids)
    now = dt.datetime.now(dt.UTC)
    with ops.state.begin() as conn:
        _manager(conn, manager)
        have = _assigned(conn, manager, ids)
        new = [u for u in ids if u not in have]
        if new:
            conn.execute(
                care_assignments.insert(),
                [
                    {
                        "username": manager,
                        "user_id": u,
                        "assigned_at": now,
                        "assigned_by": ops.actor.label,
                    }
                    for u in new
                ],
            )
            for u in new:
                ops.audit("care.assign", target=f"user:{manager}", subject=u, conn=conn)
    return Changed(manager, tuple(new), tuple(u for u in ids if u in have))


def unassign(ops: Ops, manager: str, user_ids: list[str] | tuple[str, ...]) -> Changed:
    """Take patients out of a health manager's care (ones not assigned are reported as such)."""
    ops.require("users.manage")
    ids = _check_ids(user_ids)
    with ops.state.begin() as conn:
        _manager(conn, manager)
        have = _assigned(conn, manager, ids)
        gone = [u for u in ids if u in have]
        if gone:
            conn.execute(
                care_assignments.delete().where(
                    care_assignments.c.username == manager,
                    care_assignments.c.user_id.in_(gone),
                )
            )
            for u in gone:
                ops.audit("care.unassign", target=f"user:{manager}", subject=u, conn=conn)
    return Changed(manager, tuple(gone), tuple(u for u in ids if u not in have))


def _assigned(conn, manager: str, ids: tuple[str, ...]) -> set[str]:
    have: set[str] = set()
    for i in range(0, len(ids), 500):  # bounded IN lists
        have |= set(
            conn.execute(
                sa.select(care_assignments.c.user_id).where(
                    care_assignments.c.username == manager,
                    care_assignments.c.user_id.in_(ids[i : i + 500]),
                )
            ).scalars()
        )
    return have


def patients_of(ops: Ops, manager: str, limit: int = 1000, offset: int = 0) -> list[Assignment]:
    """The patients in a health manager's care, by patient id. A health manager may ask for
    their own; `users.manage` for anyone's."""
    if not (ops.actor.kind == "user" and ops.actor.name == manager):
        ops.require("users.manage")
    with ops.state.connect() as conn:
        _manager(conn, manager)
        rows = conn.execute(
            sa.select(care_assignments)
            .where(care_assignments.c.username == manager)
            .order_by(care_assignments.c.user_id)
            .limit(limit)
            .offset(offset)
        ).all()
    return [Assignment(r.username, r.user_id, aware(r.assigned_at), r.assigned_by) for r in rows]


def is_assigned(ops: Ops, manager: str, user_id: str) -> bool:
    """Whether the patient `user_id` is in `manager`'s care (the object-level check)."""
    with ops.state.connect() as conn:
        return (
            conn.execute(
                sa.select(care_assignments.c.user_id).where(
                    care_assignments.c.username == manager,
                    care_assignments.c.user_id == user_id,
                )
            ).first()
            is not None
        )

"""The `tasks` table and the set-wise, idempotent functions that write it.

Every task carries a `key` unique in the store (e.g. `journey:silent_recall:call:u42:2026-12-01`
or `alert:glucose_high:u42:obs9`): raising the same task twice, or again after a crash, makes
one row. `raise_tasks` runs inside the caller's transaction, so a journey step's progress and the
task it raises commit together.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from careops.errors import Conflict, InvalidInput, NotFound
from careops.state.models import metadata

Purpose = Literal["medical", "service", "marketing"]
Status = Literal["open", "done", "cancelled"]
PURPOSES: tuple[str, ...] = ("medical", "service", "marketing")
STATUSES: tuple[str, ...] = ("open", "done", "cancelled")
ASSIGNEE_ROLES: tuple[str, ...] = ("health_manager", "medical", "operations")
KEY = re.compile(r"[\w.:/@+-]{1,200}")
MAX_BATCH = 100_000

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(128)),  # the patient concerned, if any
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("assignee_role", sa.String(32), nullable=False),
    sa.Column("assignee", sa.String(64)),  # a staff username, else anyone of the role
    sa.Column("department", sa.String(64)),
    sa.Column("priority", sa.Integer, nullable=False),  # 0 urgent, 1 normal, 2 low
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("outcome", sa.String(500)),
    sa.Index("ix_tasks_status_due", "status", "due_at"),
    sa.Index("ix_tasks_user", "user_id"),
)


@dataclass(frozen=True)
class NewTask:
    """A task to raise. `key` makes raising it idempotent."""

    key: str
    kind: str
    title: str
    purpose: Purpose
    assignee_role: str
    due_at: dt.datetime
    source: str
    user_id: str | None = None
    assignee: str | None = None
    department: str | None = None
    priority: int = 1
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A task as stored."""

    id: int
    key: str
    kind: str
    user_id: str | None
    title: str
    detail: dict[str, Any]
    purpose: str
    assignee_role: str
    assignee: str | None
    department: str | None
    priority: int
    source: str
    created_at: dt.datetime
    due_at: dt.datetime
    status: str
    closed_at: dt.datetime | None
    closed_by: str | None
    outcome: str | None

    def overdue(self, now: dt.datetime) -> bool:
        """Open and past its due time."""
        return self.status == "open" and self.due_at < now


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    if t.tzinfo is None:  # SQLite hands naive datetimes back; they were stored as UTC
        return t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def _row(r: Any) -> Task:
    m = dict(r._mapping)
    for k in ("created_at", "due_at", "closed_at"):
        m[k] = _utc(m[k])
    m["detail"] = m["detail"] or {}
    return Task(**m)


def _check(t: NewTask, i: int) -> None:
    where = f"任务 {i + 1} / task {i + 1}"
    if not isinstance(t.key, str) or not KEY.fullmatch(t.key):
        raise InvalidInput(f"{where}: key 不合法 / bad key {str(t.key)[:80]!r}")
    if t.purpose not in PURPOSES:
        raise InvalidInput(f"{where}: purpose {t.purpose!r} 不在 {PURPOSES}")
    if t.assignee_role not in ASSIGNEE_ROLES:
        raise InvalidInput(f"{where}: assignee_role {t.assignee_role!r} 不在 {ASSIGNEE_ROLES}")
    if not t.title or len(t.title) > 200 or not t.title.isprintable():
        raise InvalidInput(f"{where}: 标题须为 1–200 个可打印字符 / title: 1–200 printable chars")
    if t.priority not in (0, 1, 2):
        raise InvalidInput(f"{where}: priority 须为 0/1/2 / priority must be 0, 1 or 2")
    if t.due_at.tzinfo is None:
        raise InvalidInput(f"{where}: due_at 须带时区 / due_at must be timezone-aware")


def raise_tasks(conn: Connection, items: Sequence[NewTask], now: dt.datetime) -> list[int]:
    """Insert the tasks not raised before (by `key`) in `conn`'s transaction; return the ids of
    every item, new or existing, in input order."""
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"一次最多 {MAX_BATCH} 个任务 / at most {MAX_BATCH} tasks at once")
    for i, t in enumerate(items):
        _check(t, i)
    if not items:
        return []
    keys = list(dict.fromkeys(t.key for t in items))
    have = _ids(conn, keys)
    new = [t for t in {t.key: t for t in items}.values() if t.key not in have]
    if new:
        rows = [
            {
                "key": t.key,
                "kind": t.kind[:32],
                "user_id": t.user_id,
                "title": t.title,
                "detail": t.detail,
                "purpose": t.purpose,
                "assignee_role": t.assignee_role,
                "assignee": t.assignee,
                "department": t.department,
                "priority": t.priority,
                "source": t.source[:128],
                "created_at": now,
                "due_at": t.due_at.astimezone(dt.UTC),
                "status": "open",
            }
            for t in new
        ]
        insert = _insert_ignoring_duplicates(conn)
        conn.execute(insert, rows)
        have = _ids(conn, keys)
    return [have[t.key] for t in items]


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    """An INSERT that skips keys another transaction raised meanwhile (two workers at once)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(tasks).on_conflict_do_nothing(index_elements=["key"])


def _ids(conn: Connection, keys: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        q = sa.select(tasks.c.key, tasks.c.id).where(tasks.c.key.in_(chunk))
        out.update({r.key: r.id for r in conn.execute(q)})
    return out


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks to list; None means any."""

    status: str | None = "open"
    assignee_role: str | None = None
    assignee: str | None = None
    departments: tuple[str, ...] | None = None
    user_ids: tuple[str, ...] | None = None
    due_before: dt.datetime | None = None
    kind: str | None = None


def _where(f: TaskFilter) -> list[Any]:
    if f.status is not None and f.status not in STATUSES:
        raise InvalidInput(f"status {f.status!r} 不在 {STATUSES}")
    c = tasks.c
    out: list[Any] = []
    if f.status:
        out.append(c.status == f.status)
    if f.assignee_role:
        out.append(c.assignee_role == f.assignee_role)
    if f.assignee:
        out.append(sa.or_(c.assignee == f.assignee, c.assignee.is_(None)))
    if f.departments is not None:
        out.append(c.department.in_(f.departments))
    if f.user_ids is not None:
        out.append(c.user_id.in_(f.user_ids))
    if f.due_before is not None:
        out.append(c.due_at < f.due_before)
    if f.kind:
        out.append(c.kind == f.kind)
    return out


def list_tasks(
    conn: Connection, f: TaskFilter, *, limit: int = 100, offset: int = 0
) -> tuple[list[Task], int]:
    """Tasks matching `f`, most urgent first (priority, then due time), and how many match."""
    where = _where(f)
    total = conn.execute(sa.select(sa.func.count()).select_from(tasks).where(*where)).scalar_one()
    q = (
        sa.select(tasks)
        .where(*where)
        .order_by(tasks.c.priority, tasks.c.due_at, tasks.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_row(r) for r in conn.execute(q)], int(total)


def get_task(conn: Connection, task_id: int) -> Task:
    """One task, or `NotFound`."""
    r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
    if r is None:
        raise NotFound(f"没有任务 {task_id} / no task {task_id}")
    return _row(r)


def close_task(
    conn: Connection,
    task_id: int,
    *,
    by: str,
    now: dt.datetime,
    status: Status = "done",
    outcome: str = "",
) -> Task:
    """Close an open task (`done` or `cancelled`) with an outcome; a closed one is a `Conflict`."""
    if status not in ("done", "cancelled"):
        raise InvalidInput(
            f"只能关闭为 done 或 cancelled / close as done or cancelled, not {status!r}"
        )
    if len(outcome) > 500 or not outcome.isprintable():
        raise InvalidInput("结果说明须为至多 500 个可打印字符 / outcome: up to 500 printable chars")
    get_task(conn, task_id)
    done = conn.execute(
        tasks.update()
        .where(tasks.c.id == task_id, tasks.c.status == "open")
        .values(status=status, closed_at=now, closed_by=by, outcome=outcome or None)
    )
    if done.rowcount != 1:
        raise Conflict(f"任务 {task_id} 已关闭 / task {task_id} is already closed")
    return get_task(conn, task_id)

"""Tasks for the caller: each role sees the tasks that are its work (least privilege).

- a health manager: health-manager tasks assigned to them, or unassigned ones about patients in
  their care (`care_assignments`);
- a doctor / medical assistant: medical-role tasks of their departments, or assigned to them;
- operations and admin: every task that is not medical (medical tasks carry clinical details);
- a CareOps job (`system` actor holding `tasks.work`): every task.
Closing a task needs `tasks.work` and the same visibility; both are audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import sqlalchemy as sa

from careops.errors import Forbidden, InvalidInput
from careops.service import Ops, now
from careops.state.models import care_assignments
from careops.tasks.store import Task, TaskFilter, close_task, get_task, list_tasks, tasks

MAX_PAGE = 1000


def _scope(ops: Ops, conn: sa.Connection) -> sa.ColumnElement[bool] | None:
    """The SQL condition limiting tasks to the caller's (None: every task)."""
    actor = ops.actor
    if actor.kind in ("os", "system") and not actor.roles:
        return None
    c = tasks.c
    parts: list[sa.ColumnElement[bool]] = []
    if actor.kind == "user":
        parts.append(c.assignee == actor.name)
    roles = set(actor.roles)
    if "health_manager" in roles:
        mine = sa.select(care_assignments.c.user_id).where(
            care_assignments.c.username == actor.name
        )
        parts.append(
            sa.and_(c.assignee_role == "health_manager", c.assignee.is_(None), c.user_id.in_(mine))
        )
    if "medical" in roles and actor.departments:
        parts.append(
            sa.and_(
                c.assignee_role == "medical",
                c.assignee.is_(None),
                c.department.in_(actor.departments),
            )
        )
    if roles & {"operations", "admin"}:
        parts.append(c.purpose != "medical")
    if not parts:
        return sa.false()
    return sa.or_(*parts)


def my_tasks(
    ops: Ops,
    f: TaskFilter | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Task], int]:
    """The caller's tasks matching `f` (default: open ones), most urgent first, and the total."""
    ops.require("tasks.read")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput(f"limit 须在 1–{MAX_PAGE}, offset ≥ 0 / limit 1–{MAX_PAGE}, offset ≥ 0")
    f = f or TaskFilter()
    with ops.state.connect() as conn:
        scope = _scope(ops, conn)
        if scope is None:
            return list_tasks(conn, f, limit=limit, offset=offset)
        return _scoped(conn, f, scope, limit, offset)


def _scoped(conn, f: TaskFilter, scope, limit: int, offset: int) -> tuple[list[Task], int]:
    from careops.tasks.store import _row, _where

    where = [*_where(f), scope]
    total = conn.execute(sa.select(sa.func.count()).select_from(tasks).where(*where)).scalar_one()
    q = (
        sa.select(tasks)
        .where(*where)
        .order_by(tasks.c.priority, tasks.c.due_at, tasks.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_row(r) for r in conn.execute(q)], int(total)


def _visible(ops: Ops, conn, task_id: int) -> Task:
    task = get_task(conn, task_id)
    scope = _scope(ops, conn)
    if scope is not None:
        q = sa.select(tasks.c.id).where(tasks.c.id == task_id, scope)
        if conn.execute(q).first() is None:
            raise Forbidden(f"无权处理任务 {task_id} / task {task_id} is not yours")
    return task


def show_task(ops: Ops, task_id: int) -> Task:
    """One of the caller's tasks (`Forbidden` for another's, `NotFound` for none)."""
    ops.require("tasks.read")
    with ops.state.connect() as conn:
        task = _visible(ops, conn, task_id)
    ops.audit("task.read", f"task:{task_id}", subject=task.user_id)
    return task


def finish_task(
    ops: Ops,
    task_id: int,
    *,
    outcome: str = "",
    cancel: bool = False,
    at: dt.datetime | None = None,
) -> Task:
    """Close one of the caller's open tasks as done (or cancelled) with an outcome."""
    ops.require("tasks.work")
    status = "cancelled" if cancel else "done"
    with ops.state.begin() as conn:
        _visible(ops, conn, task_id)
        task = close_task(
            conn, task_id, by=ops.actor.label, now=at or now(), status=status, outcome=outcome
        )
        ops.audit(
            f"task.{status}",
            f"task:{task_id}",
            {"kind": task.kind, "source": task.source},
            conn=conn,
            subject=task.user_id,
        )
    return task


def overdue(ops: Ops, at: dt.datetime | None = None, *, limit: int = 50) -> tuple[list[Task], int]:
    """The caller's open tasks already past their due time."""
    return my_tasks(ops, replace(TaskFilter(), due_before=at or now()), limit=limit)

"""`careops tasks …`: the open tasks (待办任务) of health managers, doctors and operations, and
closing them with an outcome. Thin shell over `careops.tasks.service`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from careops.cliutil import JsonOpt, StateOpt, WarehouseOpt, ops, out, print_json, rich_table
from careops.tasks.store import TaskFilter

tasks_app = typer.Typer(
    help="待办任务 / Tasks for health managers, doctors and operations.", no_args_is_help=True
)

PURPOSE_ZH = {"medical": "医疗", "service": "服务", "marketing": "营销"}
STATUS_ZH = {"open": "待办", "done": "已完成", "cancelled": "已取消"}


def _json(t) -> dict:
    d = dataclasses.asdict(t)
    for k in ("created_at", "due_at", "closed_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return d


@tasks_app.command("list")
def list_(
    status: Annotated[str, typer.Option("--status", help="open|done|cancelled|all")] = "open",
    role: Annotated[
        str | None, typer.Option("--role", help="只列该角色的任务 / only tasks for this role")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="只列该患者 / one patient")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="只列已超时 / only overdue")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """列出任务, 最紧急在前 / List tasks, the most urgent first."""
    from careops.service import now
    from careops.tasks.service import my_tasks

    f = TaskFilter(
        status=None if status == "all" else status,
        assignee_role=role,
        user_ids=(user,) if user else None,
        due_before=now() if overdue else None,
    )
    context = ops(warehouse, state)
    try:
        items, total = my_tasks(context, f, limit=limit)
    finally:
        context.close()
    if json_:
        print_json({"items": [_json(t) for t in items], "total": total})
        return
    at = now()
    rows = [
        [
            t.id,
            t.title,
            t.user_id or "",
            PURPOSE_ZH.get(t.purpose, t.purpose),
            t.assignee or t.assignee_role,
            t.due_at.strftime("%Y-%m-%d %H:%M UTC") + (" ⚠超时" if t.overdue(at) else ""),
            STATUS_ZH.get(t.status, t.status),
        ]
        for t in items
    ]
    cols = ["ID", "任务", "患者", "目的", "负责人", "截止", "状态"]
    out.print(rich_table(f"任务 / tasks: {len(items)} / {total}", cols, rows))


@tasks_app.command("done")
def done(
    task_id: Annotated[int, typer.Argument(help="任务 ID / task id")],
    outcome: Annotated[str, typer.Option("--outcome", help="处理结果 / what was done")] = "",
    cancel: Annotated[bool, typer.Option("--cancel", help="取消而非完成 / cancel it")] = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """完成(或取消)一项任务 / Close a task as done (or cancelled) with an outcome."""
    from careops.tasks.service import finish_task

    context = ops(warehouse, state)
    try:
        t = finish_task(context, task_id, outcome=outcome, cancel=cancel)
    finally:
        context.close()
    out.print(f"任务 {t.id} → {STATUS_ZH[t.status]} / task {t.id} → {t.status}")

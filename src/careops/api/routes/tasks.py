"""Tasks (待办任务) for the member of staff asking: list them, read one, close it with an outcome.
Each role sees its own work (`careops.tasks.service`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.pages import Page, PageParams, page_params
from careops.service import Ops, now
from careops.tasks import service
from careops.tasks.store import Task, TaskFilter

router = APIRouter(
    prefix="/tasks",
    tags=["tasks"],
    responses={
        **AUTH_ERRORS,
        404: {"description": "没有该任务 / no such task"},
        409: {"description": "任务已关闭 / the task is closed already"},
    },
)

Reader = Annotated[Ops, Depends(require("tasks.read"))]
Worker = Annotated[Ops, Depends(require("tasks.work"))]
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="任务 ID / task id")]


class TaskOut(BaseModel):
    """A task as its assignee sees it."""

    id: int
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
    overdue: bool
    status: str
    closed_at: dt.datetime | None
    closed_by: str | None
    outcome: str | None


class Close(BaseModel):
    """How a task ends."""

    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(default="", max_length=500, description="处理结果 / what was done")
    cancel: bool = Field(default=False, description="取消而非完成 / cancel instead of done")


def _out(t: Task) -> TaskOut:
    fields = {k: v for k, v in t.__dict__.items() if k != "key"}
    return TaskOut(**fields, overdue=t.overdue(now()))


@router.get("", summary="我的任务 (最紧急在前) / my tasks, the most urgent first")
def list_tasks(
    ops: Reader,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[
        Literal["open", "done", "cancelled", "all"], Query(description="状态 / status")
    ] = "open",
    overdue: Annotated[bool, Query(description="只列已超时 / only overdue")] = False,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=128, description="患者 / one patient")
    ] = None,
) -> Page[TaskOut]:
    """The caller's tasks (a health manager: those of patients in their care; a doctor: their
    department's; operations: the non-medical ones)."""
    f = TaskFilter(
        status=None if status == "all" else status,
        user_ids=(user_id,) if user_id else None,
        due_before=now() if overdue else None,
    )
    items, total = service.my_tasks(ops, f, limit=page.limit, offset=page.offset)
    return Page[TaskOut](
        items=[_out(t) for t in items], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{task_id}", summary="一项任务 / one task")
def get_task(ops: Reader, task_id: TaskId) -> TaskOut:
    """One of the caller's tasks (403 for another's)."""
    return _out(service.show_task(ops, task_id))


@router.post("/{task_id}/close", summary="完成或取消任务 / close a task")
def close_task(ops: Worker, task_id: TaskId, body: Close) -> TaskOut:
    """Close an open task as done (or cancelled) with an outcome; audited."""
    return _out(service.finish_task(ops, task_id, outcome=body.outcome, cancel=body.cancel))

"""Health management (健康管理): a patient's personal health record with plans and adherence
(clinical scope, audited), the abnormal-reading alerts raised for the caller, and the alert
rules in force (`careops.care.health_service`, `careops.care.alerts_service`). Readings
arrive through the event intake (`POST /api/v1/events`, `device_reading`) or a file load;
both evaluate the rules as they store them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.encode import finite
from careops.api.pages import Page, PageParams, page_params
from careops.api.params import AsOf, Lang
from careops.api.routes.patients import FORBIDDEN, UserId
from careops.api.routes.tasks import TaskOut, _out
from careops.care import alerts_service, health_service
from careops.care.alerts import rules_for
from careops.service import Ops

router = APIRouter(tags=["care"], responses={**AUTH_ERRORS})

Clinical = Annotated[Ops, Depends(require("patients.clinical"))]
TaskReader = Annotated[Ops, Depends(require("tasks.read"))]
CareReader = Annotated[Ops, Depends(require("care.read"))]


class MedicationOut(BaseModel):
    """A drug's latest supply and when it runs out."""

    drug_code: str | None
    drug_name: str | None
    prescribed_on: dt.date
    days_supply: int
    runs_out: dt.date = Field(description="断药首日 / the first day without supply")
    days_left: int
    status: Literal["ok", "refill_due", "lapsed"]


class TargetOut(BaseModel):
    """One target of a plan and whether the data show it met (null: not measurable)."""

    id: str
    kind: str
    text: str = Field(description="目标(按语言) / the target in the caller's language")
    met: bool | None
    value: float | None
    goal: float | None


class PlanOut(BaseModel):
    """A personalised plan from the template of one of the patient's conditions."""

    condition: str
    name: str
    measure: str
    controlled: bool | None
    severe: bool
    targets: list[TargetOut]
    adherence: float | None = Field(description="可衡量目标的达成比例 / share of targets met")


class HealthRecordOut(BaseModel):
    """The personal health record as of a day."""

    user_id: str
    as_of: dt.date
    profile: dict[str, Any]
    conditions: list[dict[str, Any]]
    consultations: list[dict[str, Any]]
    medications: list[MedicationOut]
    latest: dict[str, Any] = Field(description="最近读数 / latest readings by measure")
    plans: list[PlanOut]
    follow_up: dict[str, Any] | None = Field(description="下次随访 / the next follow-up")
    family: dict[str, Any] = Field(description="家庭账户 / family account (managed_by)")
    notify: list[dict[str, Any]]


class ConditionOut(BaseModel):
    codes: list[str]
    op: str
    value: float


class AlertRuleOut(BaseModel):
    """One abnormal-reading rule and the task it raises."""

    rule: str
    title: str
    when: list[ConditionOut]
    days: int = Field(description="连续天数 / consecutive days the condition must hold")
    assignee_role: str
    department: str | None
    due_minutes: int
    priority: int


class AlertRulesOut(BaseModel):
    """The rules in force and where they come from."""

    source: str = Field(description="shipped 或医院规则文件名 / shipped, or the file's name")
    rules: list[AlertRuleOut]


@router.get(
    "/patients/{user_id}/health-record",
    summary="个人健康档案: 病情、用药、读数、计划与依从 / a patient's health record",
    responses=FORBIDDEN,
)
def health_record(ops: Clinical, user_id: UserId, as_of: AsOf, lang: Lang) -> HealthRecordOut:
    """Conditions, consultations, medications with refill status, latest readings, plans with
    their targets and adherence, the follow-up interval, the family account; for clinicians
    and health managers whose scope covers the patient; audited."""
    r = health_service.record(ops, user_id, as_of)
    en = lang == "en"
    return HealthRecordOut(
        user_id=r.user_id,
        as_of=r.as_of,
        profile=finite(r.profile),
        conditions=finite(r.conditions),
        consultations=finite(r.consultations),
        medications=[MedicationOut(**dataclasses.asdict(m)) for m in r.medications],
        latest=finite(r.latest),
        plans=[
            PlanOut(
                condition=p.condition,
                name=p.name_en if en else p.name,
                measure=p.measure,
                controlled=p.controlled,
                severe=p.severe,
                targets=[
                    TargetOut(
                        id=t.id,
                        kind=t.kind,
                        text=t.text_en if en else t.text,
                        met=t.met,
                        value=finite(t.value),
                        goal=finite(t.goal),
                    )
                    for t in p.targets
                ],
                adherence=finite(p.adherence),
            )
            for p in r.plans
        ],
        follow_up=finite(r.follow_up),
        family=finite(r.family),
        notify=finite(r.notify),
    )


@router.get("/care/alerts", summary="异常读数预警任务 / abnormal-reading alerts for me")
def list_alerts(
    ops: TaskReader,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[
        Literal["open", "done", "cancelled", "all"], Query(description="状态 / status")
    ] = "open",
    overdue: Annotated[bool, Query(description="只列已超时 / only overdue")] = False,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=128, description="患者 / one patient")
    ] = None,
) -> Page[TaskOut]:
    """The alert tasks the rules raised that are the caller's work (a doctor: their
    departments'; a health manager: their patients'), most urgent first."""
    items, total = alerts_service.alert_tasks(
        ops,
        status=None if status == "all" else status,
        user_id=user_id,
        overdue=overdue,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[TaskOut](
        items=[_out(t) for t in items], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/care/alert-rules", summary="预警规则(当前生效) / the alert rules in force")
def alert_rules(ops: CareReader, lang: Lang) -> AlertRulesOut:
    """The rules the intake and file loads evaluate (setting `health.alert_rules`, else the
    shipped file)."""
    from pathlib import Path

    path = ops.settings.health.alert_rules
    rules = rules_for(ops.settings)
    return AlertRulesOut(
        source=Path(path).name if path else "shipped",
        rules=[
            AlertRuleOut(
                rule=k,
                title=r.title_en if lang == "en" else r.title,
                when=[ConditionOut(codes=c.codes, op=c.op, value=c.value) for c in r.when],
                days=r.days,
                assignee_role=r.assignee_role,
                department=r.department,
                due_minutes=r.due_minutes,
                priority=r.priority,
            )
            for k, r in rules.rules.items()
        ],
    )

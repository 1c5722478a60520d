"""Journeys (自动化旅程): the catalogue of definitions, one journey, validating a definition,
switching a journey on or off for the live worker, what each step did and caused, and the
review list of sends whose outcome is unknown (待核实发送)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import require
from careops.journeys import review, service
from careops.service import Ops

router = APIRouter(prefix="/journeys", tags=["journeys"])

Key = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="旅程标识 / journey key, e.g. silent_recall",
    ),
]


class DefinitionIn(BaseModel):
    """A journey definition as YAML text, to check (nothing is stored)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=200_000, description="YAML 定义 / the definition as YAML")


class ResolveIn(BaseModel):
    """A person's answer for one unknown send, after checking with the provider."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=200, description="发送键 / idempotency key")
    outcome: Literal["sent", "not_sent"] = Field(
        description="sent: 服务商已收到 / the provider has it; not_sent: 同键重新排队一次 / "
        "re-queue once under the same key"
    )
    note: str = Field("", max_length=500, description="核实说明 / how it was checked")


@router.get("/sends/unknown", summary="待核实发送 / sends whose outcome is unknown")
def unknown_sends(
    ops: Annotated[Ops, Depends(require("journeys.write"))],
    journey: Annotated[str | None, Query(max_length=64, description="旅程 / journey")] = None,
    channel: Annotated[str | None, Query(max_length=16, description="渠道 / channel")] = None,
    min_age_s: Annotated[
        int, Query(ge=0, le=315_360_000, description="至少多少秒前决定 / decided ≥ N s ago")
    ] = 0,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> review.UnknownPage:
    """Sends interrupted inside the provider call (they may or may not have arrived), oldest
    decision first, with the total; someone checks each with the provider."""
    return review.list_unknown(
        ops, journey=journey, channel=channel, min_age_s=min_age_s, page=page, per_page=per_page
    )


@router.post("/sends/unknown/resolve", summary="核实待定发送 / resolve an unknown send")
def resolve_unknown(
    body: ResolveIn, ops: Annotated[Ops, Depends(require("journeys.write"))]
) -> review.Resolution:
    """`sent` marks the send sent; `not_sent` re-queues it once under the same key, due
    outside the quiet hours. Audited; 409 when the send is no longer unknown or was re-queued
    before."""
    return review.resolve(ops, body.key, body.outcome, body.note)


@router.get("", summary="旅程列表 / the journeys of the catalogue")
def list_journeys(
    ops: Annotated[Ops, Depends(require("journeys.read"))],
) -> list[service.JourneySummary]:
    """Every journey of the catalogue (shipped templates and the hospital's own), valid or not
    with the reason."""
    return service.list_journeys(ops)


@router.get("/{key}", summary="旅程详情 / one journey with its definition")
def show_journey(
    key: Key, ops: Annotated[Ops, Depends(require("journeys.read"))]
) -> service.JourneyDetail:
    """One journey by key, with its whole definition."""
    return service.show_journey(ops, key)


@router.post("/validate", summary="校验旅程定义 / validate a definition")
def validate(
    body: DefinitionIn, ops: Annotated[Ops, Depends(require("journeys.write"))]
) -> service.ValidationReport:
    """Every problem of a definition with its line, column and field, and the medical
    advertising compliance findings of its templates."""
    return service.validate_text(ops, body.text)


class SwitchIn(BaseModel):
    """Why the journey is switched (kept with the change and in the audit trail)."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=500, description="原因 / why")


class SwitchOut(BaseModel):
    """A journey's live state after the change."""

    journey: str
    enabled: bool
    changed_by: str | None
    changed_at: str | None
    note: str


class StepStatsOut(BaseModel):
    """One step: decisions taken there and what its sends did."""

    step: str
    reached: int
    sent: int
    delivered: int
    suppressed: int
    opened: int
    clicked: int
    converted: int
    revenue: float


class StatsOut(BaseModel):
    """A journey's funnel per step, exits, and revenue against the global control group."""

    journey: str
    window_days: int
    entered: int
    exited: dict[str, int]
    steps: list[StepStatsOut]
    treated: int
    control: int
    revenue_per_treated: float | None
    revenue_per_control: float | None
    incremental_per_patient: float | None


def _switch(ops: Ops, key: str, enabled: bool, body: SwitchIn) -> SwitchOut:
    from careops.journeys import switch

    s = switch.set_enabled(ops, key, enabled, body.note)
    return SwitchOut(
        journey=s.journey,
        enabled=s.enabled,
        changed_by=s.changed_by,
        changed_at=s.changed_at.isoformat() if s.changed_at else None,
        note=s.note,
    )


Writer = Annotated[Ops, Depends(require("journeys.write"))]


@router.post("/{key}/enable", summary="启用旅程 / switch a journey on for the live worker")
def enable(key: Key, ops: Writer, body: SwitchIn = SwitchIn()) -> SwitchOut:  # noqa: B008
    """The live worker runs it from its next tick; audited with who and why."""
    return _switch(ops, key, True, body)


@router.post("/{key}/disable", summary="停用旅程 / switch a journey off")
def disable(key: Key, ops: Writer, body: SwitchIn = SwitchIn()) -> SwitchOut:  # noqa: B008
    """Its enrolments stop advancing (nothing is lost; they resume when it is enabled)."""
    return _switch(ops, key, False, body)


@router.get("/{key}/stats", summary="旅程效果 / per-step funnel, conversions and revenue")
def stats(
    key: Key,
    ops: Annotated[Ops, Depends(require("journeys.read"))],
    window_days: Annotated[
        int, Query(ge=1, le=365, description="归因窗口(天) / attribution window in days")
    ] = 7,
) -> StatsOut:
    """Entered, exits, and per step reached / sent / delivered / suppressed / opened /
    clicked / converted (last touch within the window) / revenue; revenue per patient sent
    versus held back as global control."""
    from careops.journeys.measure import measure

    service.find_in_catalogue(key, ops)  # 404 for a journey that is not in the catalogue
    m = measure(ops, key, window_days=window_days)
    return StatsOut(
        journey=m.journey,
        window_days=m.window_days,
        entered=m.entered,
        exited={str(k): v for k, v in m.exited.items()},
        steps=[
            StepStatsOut(**{k: getattr(s, k) for k in StepStatsOut.model_fields}) for s in m.steps
        ],
        treated=m.treated,
        control=m.control,
        revenue_per_treated=m.revenue_per_treated,
        revenue_per_control=m.revenue_per_control,
        incremental_per_patient=m.incremental_per_patient,
    )

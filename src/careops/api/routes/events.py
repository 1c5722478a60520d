"""Event intake for the hospital's apps: batches of behaviour events, answered per event."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import require
from careops.intake import service
from careops.service import Ops

router = APIRouter(prefix="/events", tags=["events"])


class EventIn(BaseModel):
    """One behaviour event, as the `events` table holds it (for the documentation: each item
    is checked on its own, so one bad event does not refuse the batch)."""

    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(max_length=128, description="唯一事件ID / unique id (idempotency key)")
    user_id: str = Field(max_length=128, description="患者ID / the patient's user_id")
    ts: str = Field(
        max_length=64,
        description="ISO 8601 时间; 无时区时按医院时区 / ISO 8601; without an offset: the "
        "hospital's timezone",
        examples=["2026-06-01T09:30:00+08:00"],
    )
    name: str = Field(max_length=64, description="事件名 / event name", examples=["search"])
    properties: dict[str, Any] | None = Field(
        None,
        description="属性 (JSON 对象) / properties (a JSON object)",
        examples=[{"query": "失眠"}],
    )


class EventBatch(BaseModel):
    """Up to 1,000 events (the `intake.max_batch` setting)."""

    model_config = ConfigDict(extra="forbid")
    events: list[Any] = Field(
        min_length=1,
        max_length=10_000,
        description="事件列表, 每批最多 1000 个 / the events, at most 1000 per request",
        json_schema_extra={"items": EventIn.model_json_schema()},
    )


class RejectedOut(BaseModel):
    """An event refused: its index in the request, its id, the field and the reason."""

    index: int
    event_id: str | None
    field: str
    reason: str


class IntakeOut(BaseModel):
    """Stored now, already stored (re-sent, same content), refused."""

    accepted: int
    duplicates: int
    rejected: list[RejectedOut]


@router.post(
    "",
    summary="上报行为事件 / send behaviour events",
    responses={
        413: {"description": "请求过大 / request body too large"},
        422: {"description": "批次格式错误或超过 1000 个事件 / malformed batch or > 1000 events"},
    },
)
def post_events(
    body: EventBatch, ops: Annotated[Ops, Depends(require("events.write"))]
) -> IntakeOut:
    """Store a batch of events durably and idempotently (by `event_id`); answered once stored.

    每个事件单独校验: 坏事件按下标返回原因, 其余照常保存; 重发的同一事件计为重复。
    Each event is checked on its own: refused ones come back by index with the field and the
    reason, the others are kept; an event sent again counts as a duplicate, the same event_id
    with different content is refused."""
    result = service.receive_events(ops, body.events)
    return IntakeOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[RejectedOut(**r.__dict__) for r in result.rejected],
    )

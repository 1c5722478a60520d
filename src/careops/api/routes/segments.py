"""Segments (人群圈选): count, sample and export the patients a rule matches; saved segments.

A rule is given as text (`lifecycle = silent AND searched("失眠", 30d)`) or in its JSON form, or a
saved segment is named; the segment compiler checks it and its message names the position of a
mistake (422). Lists of patients carry ids only, and only for callers who may look at any
patient (analysts get counts); every exported page is audited.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import require
from careops.api.pages import PageParams, page_params
from careops.api.params import Lang
from careops.privacy.access import sees_patient_ids
from careops.segments import service
from careops.segments.rules import MAX_LENGTH
from careops.segments.saved import SavedSegment, SegmentCreate
from careops.service import Ops

router = APIRouter(prefix="/segments", tags=["segments"])

RuleText = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
Rule = RuleText | dict[str, Any]
SegmentName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w\-]{1,64}$")]
NamePath = Annotated[
    str,
    Path(min_length=1, max_length=64, description="人群名称 / saved segment name"),
]
RULE_DOC = (
    "规则文本或其 JSON 形式 / a rule as text or in its JSON form, e.g. "
    "'lifecycle = silent AND age >= 60'"
)


class SegmentQuery(BaseModel):
    """What to evaluate: a rule, or a saved segment's name (one of the two), as of a date."""

    model_config = ConfigDict(extra="forbid")
    rule: Rule | None = Field(None, description=RULE_DOC)
    segment: SegmentName | None = Field(None, description="已保存人群名称 / a saved segment")
    as_of: date | None = Field(None, description="统计日, 默认今天 / as-of date, default today")


class SampleQuery(SegmentQuery):
    """A rule or saved segment, and how many patients to show (at most 100)."""

    limit: int = Field(10, ge=1, le=100, description="最多返回人数 / at most this many")


class CountOut(BaseModel):
    """How many patients match, with the rule as the compiler read it."""

    rule_text: str = Field(description="规范化规则 / the rule as read")
    segment: str | None
    as_of: date
    count: int
    notes: list[str] = Field(description="提示(如仓库中没有的事件值) / notes on the rule")


class SampleOut(CountOut):
    """The first matching patients by id (ids only; withheld for de-identified callers)."""

    user_ids: list[str]
    ids_withheld: bool = Field(
        description="调用者只能看去标识化数据, 不返回患者 ID / ids withheld for this caller"
    )


class ExportOut(BaseModel):
    """One page of the matching patients' ids; `total` matching in all."""

    rule_text: str
    segment: str | None
    as_of: date
    items: list[str] = Field(description="患者 ID / patient ids, by id")
    total: int
    limit: int
    offset: int


class SegmentSave(BaseModel):
    """A rule to save under the name in the path (a new version if the name exists)."""

    model_config = ConfigDict(extra="forbid")
    rule: Rule = Field(description=RULE_DOC)
    description: str = Field("", max_length=500, description="说明 / what it is for")


class SavedOut(BaseModel):
    """A saved segment: its current version, rule and when it was saved."""

    name: str
    version: int
    rule: dict[str, Any] = Field(description="规则的 JSON 形式 / the rule's JSON form")
    rule_text: str
    description: str
    saved_at: datetime

    @classmethod
    def of(cls, s: SavedSegment) -> SavedOut:
        return cls(
            name=s.name,
            version=s.version,
            rule=s.rule,
            rule_text=s.rule_text,
            description=s.description,
            saved_at=s.saved_at,
        )


class SavedWithNotes(SavedOut):
    notes: list[str] = Field(description="提示 / notes on the rule")


def _target(q: SegmentQuery) -> service.Target:
    return service.Target(rule=q.rule, segment=q.segment)


def _as_of(q: SegmentQuery, request: Request) -> date:
    from careops.asof import check_day, today

    settings = request.app.state.settings
    return check_day(q.as_of or today(settings), settings)


@router.post("/count", summary="人群计数 / count a segment's patients")
def count(
    ops: Annotated[Ops, Depends(require("segments.read"))],
    body: SegmentQuery,
    request: Request,
    lang: Lang,
) -> CountOut:
    """How many patients a rule or saved segment matches as of a date (0 is an answer)."""
    e = service.count(ops, _target(body), _as_of(body, request), lang)
    return CountOut(
        rule_text=e.rule_text, segment=e.segment, as_of=e.as_of, count=e.count, notes=e.notes
    )


@router.post("/sample", summary="人群抽样(仅 ID) / sample a segment's patients (ids only)")
def sample(
    ops: Annotated[Ops, Depends(require("segments.read"))],
    body: SampleQuery,
    request: Request,
    lang: Lang,
) -> SampleOut:
    """The first `limit` matching patients by id; analysts get the count without ids."""
    e = service.sample(ops, _target(body), _as_of(body, request), body.limit, lang)
    shown = sees_patient_ids(ops.actor, "segments.read")
    return SampleOut(
        rule_text=e.rule_text,
        segment=e.segment,
        as_of=e.as_of,
        count=e.count,
        notes=e.notes,
        user_ids=[r["user_id"] for r in e.rows] if shown else [],
        ids_withheld=not shown,
    )


@router.post("/export", summary="导出人群名单(分页) / export a segment's patient ids, by page")
def export(
    ops: Annotated[Ops, Depends(require("segments.export"))],
    body: SegmentQuery,
    page: Annotated[PageParams, Depends(page_params)],
    request: Request,
    lang: Lang,
) -> ExportOut:
    """One page of the matching patients' ids (by id) and the total; each page audited."""
    e = service.export_page(
        ops, _target(body), _as_of(body, request), page.limit, page.offset, lang
    )
    return ExportOut(
        rule_text=e.rule_text,
        segment=e.segment,
        as_of=e.as_of,
        items=[r["user_id"] for r in e.rows],
        total=e.count,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/saved", summary="已保存人群 / saved segments")
def list_saved(ops: Annotated[Ops, Depends(require("segments.read"))]) -> list[SavedOut]:
    """Every saved segment (its current version), by name."""
    return [SavedOut.of(s) for s in service.list_saved(ops)]


@router.get("/saved/{name}", summary="查看已保存人群 / a saved segment")
def get_saved(ops: Annotated[Ops, Depends(require("segments.read"))], name: NamePath) -> SavedOut:
    """A saved segment by name (404 names the closest)."""
    return SavedOut.of(service.get(ops, name))


@router.put("/saved/{name}", summary="保存人群 / save a segment (new version if it exists)")
def put_saved(
    ops: Annotated[Ops, Depends(require("segments.write"))],
    name: NamePath,
    body: SegmentSave,
    lang: Lang,
) -> SavedWithNotes:
    """Save a rule under `name` (checked by the compiler first); audited."""
    saved, notes = service.save(
        ops, SegmentCreate(name=name, rule=body.rule, description=body.description), lang
    )
    return SavedWithNotes(**SavedOut.of(saved).model_dump(), notes=notes)


@router.delete(
    "/saved/{name}",
    summary="删除已保存人群 / delete a saved segment",
    status_code=204,
    response_class=Response,
)
def delete_saved(ops: Annotated[Ops, Depends(require("segments.write"))], name: NamePath) -> None:
    """Delete a saved segment (409 while an experiment targets it); audited."""
    service.delete(ops, name)

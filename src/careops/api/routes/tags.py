"""Tags (用户标签): their definitions, and computing the day's snapshot of every tag."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from careops import labels
from careops.api.deps import require
from careops.api.params import Lang
from careops.service import Ops
from careops.tags import service

router = APIRouter(prefix="/tags", tags=["tags"])


class TagValue(BaseModel):
    """One value of a category tag."""

    code: str
    label: str


class TagOut(BaseModel):
    """A tag's definition: name, kind, type, what it means, its values."""

    name: str = Field(description="标签代码 / tag code")
    label: str = Field(description="标签名称 / tag label")
    kind: Literal["static", "dynamic", "smart"] = Field(description="静态/动态/智能 / kind")
    type: str = Field(description="取值类型 / value type")
    description: str = Field(description="含义 / what it means")
    dimension: str | None = Field(description="分层维度(若是) / the layer dimension it is")
    values: list[TagValue] = Field(description="类别取值 / category values")


class ComputeIn(BaseModel):
    """Which day's snapshot to compute."""

    model_config = ConfigDict(extra="forbid")
    as_of: date = Field(description="统计日 YYYY-MM-DD / as-of date")


class ComputedOut(BaseModel):
    """The stored snapshot: its date, its table and how many patients it holds."""

    as_of: date
    table: str
    patients: int


@router.get("", summary="标签定义 / tag definitions")
def list_tags(ops: Annotated[Ops, Depends(require("tags.read"))], lang: Lang) -> list[TagOut]:
    """Every tag CareOps computes, with labels in the caller's language."""
    from careops.tags.registry import all_tags

    return [
        TagOut(
            name=t.name,
            label=labels.tag_label(t.name, lang),
            kind=t.kind,
            type=t.type,
            description=labels.tag_description(t.name, lang),
            dimension=t.dimension,
            values=[TagValue(code=c, label=labels.value_label(t.name, c, lang)) for c in t.codes],
        )
        for t in all_tags()
    ]


@router.post("/compute", summary="计算并保存标签快照 / compute and store a tag snapshot")
def compute(
    ops: Annotated[Ops, Depends(require("tags.compute"))], body: ComputeIn, request: Request
) -> ComputedOut:
    """Compute every tag as of a date and store it as that day's snapshot; audited."""
    from careops.asof import check_day

    done = service.compute(ops, check_day(body.as_of, request.app.state.settings))
    return ComputedOut(as_of=done.as_of, table=done.table, patients=done.patients)

"""Layers (用户分层): users per layer as of a date, and migration between layers over time.

Results carry codes (`lifecycle` / `silent`); each gets a `label` in the caller's language
(`Accept-Language`) from the one label catalogue, applied here at the edge.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from careops import labels
from careops.api.deps import require
from careops.api.params import AsOf, Lang
from careops.service import Ops
from careops.tags import layers_view, service

router = APIRouter(prefix="/layers", tags=["layers"])

Dimension = Literal["lifecycle", "health_need", "value", "data_richness"]
Stale = Literal["settings", "loads"]


class LayerCountOut(BaseModel):
    """Users in one layer (or special group) of a dimension."""

    dimension: str = Field(description="维度代码, 特殊人群为 groups / dimension code or groups")
    dimension_label: str = Field(description="维度名称 / dimension label")
    code: str = Field(description="分层代码 / layer code")
    label: str = Field(description="分层名称 / layer label")
    users: int = Field(description="人数 / users")
    share: float = Field(description="占全部用户比例 / share of all users (0–1)")


class LayersOut(BaseModel):
    """Users per layer of each dimension as of a date."""

    as_of: date
    stale: Stale | None = Field(
        description="该日快照已过期时的原因(结果为实时计算) / why the stored snapshot of that day "
        "was bypassed and the layers computed live: settings or loads changed since"
    )
    layers: list[LayerCountOut]


class MigrationRow(BaseModel):
    """Users who were in layer `from` at the start and in `to` at the end."""

    from_code: str | None = Field(
        alias="from",
        description="起始分层 (空 = 当时未注册) / layer at start (null: not registered)",
    )
    from_label: str = Field(description="起始分层名称 / label (未注册: not registered yet)")
    to: str | None = Field(description="结束分层 / layer at end")
    to_label: str
    users: int

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class MigrationOut(BaseModel):
    """The migration matrix of one dimension between two dates."""

    start: date
    end: date
    dimension: Dimension
    dimension_label: str
    rows: list[MigrationRow]
    stale: dict[str, Stale] = Field(description="过期快照的日期 / dates whose snapshot was stale")


def _label(dimension: str, code: str | None, lang: str) -> str:
    """A layer's label; a special group's is the group tag's; no layer (None) reads 未注册."""
    if dimension == "groups" and code is not None:
        return labels.tag_label(code, lang)
    return layers_view.value_label(dimension, code, lang)


@router.get("", summary="各分层人数 / users per layer")
def get_layers(
    ops: Annotated[Ops, Depends(require("tags.read"))], as_of: AsOf, lang: Lang
) -> LayersOut:
    """Users per layer of lifecycle, health need, value and data richness, and per special
    group, as of a date (the stored snapshot when current, else computed)."""
    result = service.layers(ops, as_of)
    return LayersOut(
        as_of=result.as_of,
        stale=result.stale,
        layers=[
            LayerCountOut(
                dimension=c.dimension,
                dimension_label=layers_view.dimension_label(c.dimension, lang),
                code=c.code,
                label=_label(c.dimension, c.code, lang),
                users=c.users,
                share=c.share,
            )
            for c in result.counts
        ],
    )


@router.get("/migration", summary="分层迁移矩阵 / layer migration between two dates")
def get_migration(
    ops: Annotated[Ops, Depends(require("tags.read"))],
    request: Request,
    lang: Lang,
    start: Annotated[date, Query(description="起始日 / start date (YYYY-MM-DD)")],
    end: Annotated[date, Query(description="结束日, 晚于起始日 / end date, after start")],
    dimension: Annotated[Dimension, Query(description="分层维度 / layer dimension")] = "lifecycle",
) -> MigrationOut:
    """How many users moved from each layer at `start` to each layer at `end`."""
    from careops.asof import check_day

    settings = request.app.state.settings
    result = service.migration(ops, check_day(start, settings), check_day(end, settings), dimension)
    return MigrationOut(
        start=result.start,
        end=result.end,
        dimension=dimension,
        dimension_label=labels.layer_label(dimension, lang),
        rows=[
            MigrationRow(
                from_code=r["from"],
                from_label=_label(dimension, r["from"], lang),
                to=r["to"],
                to_label=_label(dimension, r["to"], lang),
                users=r["users"],
            )
            for r in result.rows
        ],
        stale={d.isoformat(): why for d, why in result.stale.items()},
    )

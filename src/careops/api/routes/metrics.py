"""Metrics (运营指标) and the report's data: codes and numbers, labels in the caller's language."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from careops import labels
from careops.api.deps import require
from careops.api.encode import finite
from careops.api.params import AsOf, Lang
from careops.metrics import service
from careops.metrics.result import MetricResult, Result
from careops.service import Ops

router = APIRouter(tags=["metrics"])

By = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="按标签/字段分组, 如 channel, lifecycle / break down by a tag or column",
    ),
]


class MetricInfo(BaseModel):
    """A metric's definition."""

    name: str
    label: str = Field(description="指标名称 / metric label")
    category: str
    category_label: str
    description: str = Field(description="含义 / what it means")
    formula: str
    unit: str
    kind: Literal["ratio", "sum", "analysis"]
    params: dict[str, Any] = Field(description="可调参数及默认值 / parameters and defaults")


class MetricOut(BaseModel):
    """A metric's result: `kind` metric (value, numerator, denominator, groups), funnel (steps)
    or cohort (rows); codes plus labels in the caller's language."""

    kind: Literal["metric", "funnel", "cohort"]
    name: str
    label: str
    as_of: date
    data_end: date | None = Field(
        None, description="未给统计日时: 数据最后一天 / without as_of: the last day with data"
    )
    result: dict[str, Any] = Field(description="结果 / the result (see `kind`)")


class ReportOut(BaseModel):
    """The report's data as of a date: KPIs, funnel, cohorts, breakdowns by channel and layer."""

    as_of: date
    timezone: str
    by: str
    data_end: date | None
    kpis: list[dict[str, Any]]
    funnel: dict[str, Any] | None
    cohort: dict[str, Any] | None
    channels: dict[str, dict[str, Any]]
    layers: dict[str, dict[str, Any]]
    medical: dict[str, dict[str, Any]]


def _result(result: Result, lang: str) -> dict[str, Any]:
    """A result as JSON, its labels (metric, groups, funnel steps) in `lang`."""
    out = finite(result.to_dict())
    out["label"] = labels.metric_label(result.name, lang)
    if isinstance(result, MetricResult):
        for g in out["groups"]:
            g["label"] = labels.group_label(result.by, g["group"], lang)
    for step in out.get("steps", ()):
        step["label"] = labels.funnel_step_label(step["step"], lang)
    return out


@router.get("/metrics", summary="指标列表 / the metrics")
def list_metrics(
    ops: Annotated[Ops, Depends(require("metrics.read"))], lang: Lang
) -> list[MetricInfo]:
    """Every metric CareOps computes, with labels and descriptions in the caller's language."""
    from careops.metrics.registry import all_metrics

    return [
        MetricInfo(
            name=m.name,
            label=m.label(lang),
            category=m.category,
            category_label=labels.category_label(m.category, lang),
            description=labels.metric_description(m.name, lang),
            formula=m.formula,
            unit=m.unit,
            kind=m.kind,
            params=m.params,
        )
        for m in all_metrics()
    ]


@router.get("/metrics/{name}", summary="计算指标 / compute a metric")
def get_metric(
    ops: Annotated[Ops, Depends(require("metrics.read"))],
    name: Annotated[str, Path(max_length=64, description="指标代码 / metric name")],
    lang: Lang,
    by: By = None,
    as_of: Annotated[
        date | None, Query(description="统计日, 默认今天 / as-of date, default today")
    ] = None,
    window: Annotated[
        int | None, Query(ge=1, le=3660, description="统计窗口(天) / look-back in days")
    ] = None,
) -> MetricOut:
    """The metric `name` as of a date, overall and (with `by`) per group."""
    params = {"window_days": window} if window is not None else {}
    answer = service.metric(ops, name, as_of, by=by, lang=lang, **params)
    r = answer.result
    return MetricOut(
        kind=r.to_dict()["kind"],
        name=r.name,
        label=labels.metric_label(r.name, lang),
        as_of=r.as_of,
        data_end=answer.data_end,
        result=_result(r, lang),
    )


@router.get("/report", summary="运营报告数据(JSON) / the report's data")
def get_report(
    ops: Annotated[Ops, Depends(require("metrics.read"))],
    as_of: AsOf,
    lang: Lang,
    by: Annotated[
        str,
        Query(max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="分组维度 / layer"),
    ] = "channel",
) -> ReportOut:
    """Every KPI of the report, the funnel, cohorts and breakdowns, as numbers and codes (the
    HTML report renders the same data)."""
    from careops.report.service import report_data

    data = report_data(ops, as_of, by)
    return ReportOut(
        as_of=data.as_of,
        timezone=data.timezone,
        by=data.by,
        data_end=data.data_end,
        kpis=[finite(asdict(k)) | {"label": labels.metric_label(k.name, lang)} for k in data.kpis],
        funnel=data.funnel.to_dict() if data.funnel else None,
        cohort=data.cohort.to_dict() if data.cohort else None,
        channels={k: _result(v, lang) for k, v in data.channels.items()},
        layers={k: _result(v, lang) for k, v in data.layers.items()},
        medical={k: _result(v, lang) for k, v in data.medical.items()},
    )

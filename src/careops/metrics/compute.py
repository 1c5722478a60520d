"""Compute a registered metric as of a date, overall and per group."""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.metrics.breakdown import UNKNOWN, group_order, resolve
from careops.metrics.context import MetricContext
from careops.metrics.errors import MetricError
from careops.metrics.registry import Metric, get_metric
from careops.metrics.result import NO_DATA, GroupValue, MetricResult, Result


def compute(
    con: BaseBackend,
    name: str,
    as_of: date,
    *,
    by: str | ir.Table | None = None,
    lang: str | None = None,
    ctx: MetricContext | None = None,
    **params: Any,
) -> Result:
    """The metric `name` as of `as_of` (facts before 00:00 hospital time of that day).

    The result carries codes; `lang` is not used (kept for callers: the shell names things)."""
    metric = get_metric(name)
    if ctx is None:
        ctx = MetricContext(con, as_of)
        ctx.validate()
    unknown = set(params) - set(metric.params)
    if unknown:
        raise MetricError(
            f"{name}: 未知参数 {sorted(unknown)} / unknown parameter(s) {sorted(unknown)}; it "
            f"takes {sorted(metric.params)}"
        )
    merged = {**metric.params, **{k: v for k, v in params.items() if v is not None}}
    if "window_days" in merged and merged["window_days"] is None:  # the setting, made visible
        merged["window_days"] = int(getattr(ctx.settings.metrics, metric.window_setting))
    by_name, groups = resolve(ctx, by) if by is not None else (None, None)
    if metric.kind == "analysis":
        assert metric.run is not None
        return metric.run(ctx, metric, groups, by_name, **merged)
    assert metric.units is not None
    units = metric.units(ctx, **merged)
    return evaluate(metric, ctx, units, groups, by_name, merged)


def evaluate(
    metric: Metric,
    ctx: MetricContext,
    units: ir.Table,
    groups: ir.Table | None,
    by: str | None,
    params: dict[str, Any],
) -> MetricResult:
    """Sum a `(user_id, num, den)` table overall and per group into a `MetricResult`."""
    units = units.select(
        user_id=units.user_id,
        num=units.num.cast("float64"),
        den=units.den.cast("float64"),
    )
    overall = units.aggregate(num=units.num.sum(), den=units.den.sum()).to_pyarrow().to_pylist()
    total = _value(metric, overall[0]["num"], overall[0]["den"], None)
    rows: tuple[GroupValue, ...] = ()
    if groups is not None:
        g = groups.select(gid=groups.user_id, group=groups.group)
        joined = units.left_join(g, units.user_id == g.gid)
        joined = joined.select(
            group=ibis.coalesce(joined.group, ibis.literal(UNKNOWN)),
            num=joined.num,
            den=joined.den,
        )
        agg = joined.group_by("group").aggregate(num=joined.num.sum(), den=joined.den.sum())
        values = {
            r["group"]: _value(metric, r["num"], r["den"], r["group"])
            for r in agg.to_pyarrow().to_pylist()
        }
        rows = tuple(values[g] for g in group_order(by, values))
    note = None
    if metric.empty and metric.kind == "ratio" and not total.denominator:
        note = NO_DATA
    return MetricResult(
        name=metric.name,
        unit=metric.unit,
        as_of=ctx.as_of,
        value=total.value,
        numerator=total.numerator,
        denominator=total.denominator,
        by=by,
        groups=rows,
        params=params,
        note=note,
    )


def _value(metric: Metric, num: float | None, den: float | None, group: str | None) -> GroupValue:
    num = float(num or 0.0)
    if metric.kind == "sum":
        return GroupValue(group, num * metric.scale, num, den)
    den = float(den or 0.0)
    value = metric.scale * num / den if den else None
    return GroupValue(group, value, num, den)

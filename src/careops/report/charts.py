"""ECharts options (plain dicts) for the report's charts; every word from the label catalogue
(results carry codes: metric names, funnel steps, group codes)."""

from __future__ import annotations

import math
from typing import Any

from careops.labels import funnel_step_label, group_label, label, metric_label
from careops.metrics.breakdown import group_order
from careops.metrics.result import CohortResult, FunnelResult, MetricResult

PALETTE = ["#2f7ed8", "#1aadce", "#8bbc21", "#f28f43", "#77a1e5", "#c42525", "#a6c96a"]
#: A group's rate or mean is left out (and its label marked) below this many users.
MIN_GROUP_USERS = 30
#: The channel table's columns (metric names), beside the channel chart.
CHANNEL_TABLE = ("new_users", "cac", "ltv", "roi")
#: Every chart: no animation, so screenshots and PDFs show the final values.
BASE: dict[str, Any] = {"animation": False, "color": PALETTE}
#: Category axis labels: all shown, turned so long ones do not overlap.
X_LABELS: dict[str, Any] = {"interval": 0, "rotate": 30, "width": 90, "overflow": "truncate"}


def _pct(v: float | None) -> float | None:
    return None if v is None else round(v * 100, 2)


def funnel_chart(f: FunnelResult, lang: str) -> dict[str, Any]:
    return {
        **BASE,
        "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
        "series": [
            {
                "type": "funnel",
                "sort": "none",
                "left": "10%",
                "width": "80%",
                "gap": 2,
                "label": {"show": True, "position": "inside", "formatter": "{b} {c}"},
                "data": [
                    {"name": funnel_step_label(s.step, lang), "value": s.users} for s in f.steps
                ],
            }
        ],
    }


def cohort_chart(c: CohortResult, lang: str) -> dict[str, Any]:
    """Heatmap of D-n retention; the colour scale spans the data (0 to its maximum)."""
    cohorts = [r.cohort.isoformat() for r in c.rows]
    days = [f"D{n}" for n in c.days]
    data = [
        [j, i, _pct(r.retention[n])]
        for i, r in enumerate(c.rows)
        for j, n in enumerate(c.days)
        if r.retention[n] is not None
    ]
    top = max((v for *_, v in data if v is not None), default=0.0)
    top = max(1, math.ceil(top / 5) * 5) if top < 100 else 100  # a round 5 % step above the max
    return {
        **BASE,
        "tooltip": {"position": "top"},
        "grid": {"left": 110, "right": 30, "top": 30, "bottom": 80},
        "xAxis": {"type": "category", "data": days, "splitArea": {"show": True}},
        "yAxis": {
            "type": "category",
            "data": cohorts,
            "splitArea": {"show": True},
            "name": t("cohort_col", lang),
        },
        "visualMap": {
            "min": 0,
            "max": top,
            "calculable": False,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "itemHeight": 200,
            "inRange": {"color": ["#f4f9ff", "#2f7ed8"]},
            "text": [f"{top}%", "0%"],
        },
        "series": [
            {"type": "heatmap", "data": data, "label": {"show": True, "formatter": "{@[2]}%"}}
        ],
    }


def _trusted(r: MetricResult, group: str | None) -> float | None:
    """A group's value, None when fewer than MIN_GROUP_USERS users stand behind it."""
    g = next((x for x in r.groups if x.group == group), None)
    if g is None or g.denominator is None or g.denominator < MIN_GROUP_USERS:
        return None
    return g.value


def t(key: str, lang: str, **kw: object) -> str:
    return label(f"report.{key}", lang, **kw)


def _axis_label(by: str | None, group: str | None, small: bool, lang: str) -> str:
    label = group_label(by, group, lang)
    return f"{label}{t('small_group', lang, n=MIN_GROUP_USERS)}" if small else label


def channel_chart(results: dict[str, MetricResult], lang: str) -> dict[str, Any]:
    """New users (right axis) and CAC, LTV (left axis, ¥) per channel; CAC and LTV of
    channels with fewer than MIN_GROUP_USERS users are left out and their label marked."""
    new, cac, ltv = results["new_users"], results["cac"], results["ltv"]
    groups = group_order(new.by, {g.group for r in (new, cac, ltv) for g in r.groups})
    users = {g.group: g.denominator or 0 for g in ltv.groups}
    small = {g for g in groups if users.get(g, 0) < MIN_GROUP_USERS}
    counts = {g.group: g.value for g in new.groups}
    right, left = t("axis_right", lang), t("axis_left", lang)
    new_l, cac_l, ltv_l = (metric_label(r.name, lang) for r in (new, cac, ltv))
    series = [
        {
            "name": f"{new_l}{right}",
            "type": "bar",
            "yAxisIndex": 1,
            "data": [counts.get(g) for g in groups],
        },
        {
            "name": f"{cac_l}{left}",
            "type": "bar",
            "yAxisIndex": 0,
            "data": [_round(_trusted(cac, g)) for g in groups],
        },
        {
            "name": f"{ltv_l}{left}",
            "type": "bar",
            "yAxisIndex": 0,
            "data": [_round(_trusted(ltv, g)) for g in groups],
        },
    ]
    return {
        **BASE,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 70, "right": 70, "top": 50, "bottom": 90},
        "xAxis": {
            "type": "category",
            "axisLabel": X_LABELS,
            "data": [_axis_label(new.by, g, g in small, lang) for g in groups],
        },
        "yAxis": [
            {"type": "value", "name": f"¥ · {cac_l} / {ltv_l}"},
            {
                "type": "value",
                "name": f"{t('users', lang)} · {new_l}",
                "splitLine": {"show": False},
            },
        ],
        "series": series,
    }


def rate_bars(
    results: dict[str, MetricResult], lang: str, groups_of: bool = True
) -> dict[str, Any]:
    """Grouped bars of ratio metrics (in %): per group of a breakdown (groups in the tag's
    order; those with fewer than MIN_GROUP_USERS users left out, label marked), or one bar
    each."""
    if groups_of:
        first = next(iter(results.values()))
        by = first.by
        groups = group_order(by, {g.group for r in results.values() for g in r.groups})
        size = {
            g: max(
                (x.denominator or 0 for r in results.values() for x in r.groups if x.group == g),
                default=0,
            )
            for g in groups
        }
        small = {g for g in groups if size[g] < MIN_GROUP_USERS}
        series = [
            {
                "name": metric_label(r.name, lang),
                "type": "bar",
                "data": [_pct(_trusted(r, x)) for x in groups],
            }
            for r in results.values()
        ]
        x = [_axis_label(by, g, g in small, lang) for g in groups]
    else:
        x = [metric_label(r.name, lang) for r in results.values()]
        series = [
            {
                "type": "bar",
                "data": [_pct(r.value) for r in results.values()],
                "label": {"show": True, "position": "top", "formatter": "{c}%"},
            }
        ]
    return {
        **BASE,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0} if groups_of else {"show": False},
        "grid": {"left": 50, "right": 20, "top": 50, "bottom": 90},
        "xAxis": {"type": "category", "data": x, "axisLabel": X_LABELS},
        "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}, "max": 100},
        "series": series,
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)

"""ECharts options (plain dicts) for the report's charts."""

from __future__ import annotations

from typing import Any

from careops.metrics.breakdown import group_label
from careops.metrics.result import CohortResult, FunnelResult, MetricResult
from careops.report.labels import t

PALETTE = ["#2f7ed8", "#1aadce", "#8bbc21", "#f28f43", "#77a1e5", "#c42525", "#a6c96a"]


def _pct(v: float | None) -> float | None:
    return None if v is None else round(v * 100, 2)


def funnel_chart(f: FunnelResult, lang: str) -> dict[str, Any]:
    return {
        "color": PALETTE,
        "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
        "series": [{
            "type": "funnel", "sort": "none", "left": "10%", "width": "80%", "gap": 2,
            "label": {"show": True, "position": "inside", "formatter": "{b} {c}"},
            "data": [{"name": s.label, "value": s.users} for s in f.steps],
        }],
    }


def cohort_chart(c: CohortResult, lang: str) -> dict[str, Any]:
    cohorts = [r.cohort.isoformat() for r in c.rows]
    days = [f"D{n}" for n in c.days]
    data = [[j, i, _pct(r.retention[n])] for i, r in enumerate(c.rows)
            for j, n in enumerate(c.days) if r.retention[n] is not None]
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 110, "right": 30, "top": 30, "bottom": 80},
        "xAxis": {"type": "category", "data": days, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": cohorts, "splitArea": {"show": True},
                  "name": t("cohort_col", lang)},
        "visualMap": {"min": 0, "max": 100, "calculable": True, "orient": "horizontal",
                      "left": "center", "bottom": 0, "itemHeight": 200,
                      "inRange": {"color": ["#f4f9ff", "#2f7ed8"]},
                      "text": ["100%", "0%"]},
        "series": [{"type": "heatmap", "data": data,
                    "label": {"show": True, "formatter": "{@[2]}%"}}],
    }


def channel_chart(results: dict[str, MetricResult], lang: str) -> dict[str, Any]:
    new, cac, ltv = results["new_users"], results["cac"], results["ltv"]
    groups = sorted({g.group for r in (new, cac, ltv) for g in r.groups})
    by = {name: {g.group: g.value for g in r.groups} for name, r in results.items()}
    series = [
        {"name": new.label, "type": "bar", "yAxisIndex": 1,
         "data": [by["new_users"].get(g) for g in groups]},
        {"name": cac.label, "type": "bar", "data": [_round(by["cac"].get(g)) for g in groups]},
        {"name": ltv.label, "type": "bar", "data": [_round(by["ltv"].get(g)) for g in groups]},
    ]
    return {
        "color": PALETTE, "tooltip": {"trigger": "axis"},
        "legend": {"top": 0}, "grid": {"left": 60, "right": 60, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": [group_label(new.by, g, lang) for g in groups],
                  "axisLabel": {"interval": 0}},
        "yAxis": [{"type": "value", "name": "¥"},
                  {"type": "value", "name": t("users", lang), "splitLine": {"show": False}}],
        "series": series,
    }


def rate_bars(results: dict[str, MetricResult], lang: str,
              groups_of: bool = True) -> dict[str, Any]:
    """Grouped bars of ratio metrics (in %): per group of a breakdown, or one bar each."""
    if groups_of:
        groups = sorted({g.group for r in results.values() for g in r.groups})
        series = [{"name": r.label, "type": "bar",
                   "data": [_pct({g.group: g.value for g in r.groups}.get(x)) for x in groups]}
                  for r in results.values()]
        by = next(iter(results.values())).by
        x = [group_label(by, g, lang) for g in groups]
    else:
        x = [r.label for r in results.values()]
        series = [{"type": "bar", "data": [_pct(r.value) for r in results.values()],
                   "label": {"show": True, "position": "top", "formatter": "{c}%"}}]
    return {
        "color": PALETTE, "tooltip": {"trigger": "axis"},
        "legend": {"top": 0} if groups_of else {"show": False},
        "grid": {"left": 50, "right": 20, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": x, "axisLabel": {"interval": 0}},
        "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}, "max": 100},
        "series": series,
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)

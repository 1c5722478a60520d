"""ECharts options of the cockpit's charts, in the report's style (`careops.report.charts`:
one palette, no animation so screenshots show final values, the same axis labels)."""

from __future__ import annotations

from typing import Any

from careops.report.charts import BASE, X_LABELS


def layer_bars(names: list[str], users: list[int], series_name: str) -> dict[str, Any]:
    """Patients per layer of one dimension, as labelled bars (the section names the
    dimension)."""
    return {
        **BASE,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 60, "right": 20, "top": 40, "bottom": 70},
        "xAxis": {"type": "category", "data": names, "axisLabel": X_LABELS},
        "yAxis": {"type": "value", "name": series_name},
        "series": [
            {
                "name": series_name,
                "type": "bar",
                "data": users,
                "label": {"show": True, "position": "top"},
            }
        ],
    }


def effect_ci(
    variants: list[str],
    lifts: list[float],
    intervals: list[tuple[float, float]],
    estimate_name: str,
    interval_name: str,
) -> dict[str, Any]:
    """Each treatment's absolute lift over control as a point with its confidence interval as
    a horizontal line, and a vertical line at zero (no effect); values to 4 significant
    digits, as the table shows them."""
    lifts = [_sig(x) for x in lifts]
    intervals = [(_sig(lo), _sig(hi)) for lo, hi in intervals]
    lines = [
        {
            "name": interval_name,
            "type": "line",
            "data": [[lo, v], [hi, v]],
            "symbol": "line",
            "symbolSize": 12,
            "lineStyle": {"width": 3},
            "color": "#5470c6",
        }
        for v, (lo, hi) in zip(variants, intervals, strict=True)
    ]
    return {
        **BASE,
        "tooltip": {"trigger": "item"},
        "grid": {"left": 90, "right": 30, "top": 30, "bottom": 40},
        "xAxis": {"type": "value", "scale": True},
        "yAxis": {"type": "category", "data": variants},
        "series": [
            *lines,
            {
                "name": estimate_name,
                "type": "scatter",
                "data": [[x, v] for v, x in zip(variants, lifts, strict=True)],
                "symbolSize": 12,
                "color": "#ee6666",
                "label": {"show": True, "position": "top", "formatter": "{@[0]}"},
                "markLine": {
                    "silent": True,
                    "symbol": "none",
                    "data": [{"xAxis": 0}],
                    "lineStyle": {"type": "dashed", "color": "#888"},
                },
            },
        ],
    }


def _sig(x: float) -> float:
    return float(f"{x:.4g}")

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

"""Render a `ReportData` to one self-contained HTML file (ECharts inlined: works offline).

The view layer: `ReportData` carries codes and numbers; here they become words (the label
catalogue, in the report's language) and formatted values, and a Jinja2 template with
autoescaping writes the page — a data value (a channel or group name holding `<script>`)
shows as text. Chart options are JSON inside a script element, with `<`, `>` and `&` written
as `\\u003c` … so no value can end the script.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from careops.labels import (
    by_label,
    category_label,
    funnel_step_label,
    group_label,
    label,
    metric_label,
    window_text,
)
from careops.metrics.breakdown import group_order
from careops.metrics.format import fmt, fmt_number, funnel_text, stale_note
from careops.metrics.registry import get_metric
from careops.report import charts
from careops.report.build import Kpi, ReportData

_ENV = Environment(
    loader=PackageLoader("careops.report", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _asset(name: str) -> str:
    return resources.files("careops.report").joinpath(name).read_text(encoding="utf-8")


def script_json(value: Any) -> Markup:
    """`value` as JSON safe inside a `<script>` element (no `</script>`, `<!--` or `&`)."""
    text = json.dumps(value, ensure_ascii=False)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return Markup(text)


def _kpi_card(k: Kpi, lang: str) -> dict[str, str]:
    note = ""
    if k.empty:
        empty = get_metric(k.name).empty
        note = (empty[1] if lang == "en" else empty[0]) if empty else ""
    detail = f"{fmt_number(k.numerator)} / {fmt_number(k.denominator)}" if k.kind == "ratio" else ""
    window = window_text(k.params.get("window_days"), lang)
    return {
        "name": k.name,
        "label": metric_label(k.name, lang),
        "value": fmt(k.value, k.unit, lang),
        "detail": " · ".join(p for p in (window, detail) if p),
        "note": note,
    }


def kpi_groups(data: ReportData, lang: str) -> list[dict[str, Any]]:
    """KPI cards grouped by category, in the order of `KPIS`."""
    groups: dict[str, dict[str, Any]] = {}
    for k in data.kpis:
        group = groups.setdefault(
            k.category, {"title": category_label(k.category, lang), "cards": []}
        )
        group["cards"].append(_kpi_card(k, lang))
    return list(groups.values())


def funnel_rows(data: ReportData, lang: str) -> list[list[str]]:
    assert data.funnel is not None
    return [
        [
            funnel_step_label(s.step, lang),
            f"{s.users:,}",
            fmt(s.rate_from_previous, "ratio"),
            fmt(s.rate_from_first, "ratio"),
            f"{s.dropped:,}",
        ]
        for s in data.funnel.steps
    ]


def channel_rows(data: ReportData, lang: str) -> list[list[str]]:
    """One row per channel: new users, CAC, LTV, ROI (values of small channels left out)."""
    new = data.channels.get("new_users")
    if new is None:
        return []
    groups = group_order(new.by, {g.group for r in data.channels.values() for g in r.groups})
    ltv = data.channels.get("ltv")
    users = {g.group: g.denominator or 0 for g in ltv.groups} if ltv else {}
    rows = []
    for g in groups:
        small = users.get(g, 0) < charts.MIN_GROUP_USERS
        row = [group_label(new.by, g, lang)]
        for name in charts.CHANNEL_TABLE:
            r = data.channels.get(name)
            value = next((x.value for x in r.groups if x.group == g), None) if r else None
            row.append(
                "—" if (small and name != "new_users") or r is None else fmt(value, r.unit, lang)
            )
        rows.append(row)
    return rows


def chart_options(data: ReportData, lang: str = "zh") -> dict[str, Any]:
    """The ECharts option of every chart, keyed by its element id."""
    assert data.funnel is not None and data.cohort is not None
    return {
        "chart-funnel": charts.funnel_chart(data.funnel, lang),
        "chart-cohort": charts.cohort_chart(data.cohort, lang),
        "chart-channels": charts.channel_chart(data.channels, lang),
        "chart-layers": charts.rate_bars(data.layers, lang),
        "chart-medical": charts.rate_bars(data.medical, lang, groups_of=False),
    }


def render_html(data: ReportData, lang: str = "zh") -> str:
    """The report as one HTML document, in `lang` (zh by default)."""
    assert data.funnel is not None

    def t(key: str, **kw: object) -> str:
        return label(f"report.{key}", lang, **kw)

    return _ENV.get_template("report.html").render(
        t=t,
        html_lang="zh-CN" if lang == "zh" else "en",
        as_of=data.as_of.isoformat(),
        timezone=data.timezone,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        data_end=data.data_end.isoformat() if data.data_end else None,
        stale=stale_note(data.data_end, data.as_of, lang),
        kpi_groups=kpi_groups(data, lang),
        funnel_params=funnel_text(data.funnel, lang),
        funnel_head=[t(k) for k in ("step", "users", "from_previous", "from_first", "dropped")],
        funnel_rows=funnel_rows(data, lang),
        channel_head=[t("channel"), *(metric_label(n, lang) for n in charts.CHANNEL_TABLE)],
        channel_rows=channel_rows(data, lang),
        by=by_label(data.by, lang),
        min_users=charts.MIN_GROUP_USERS,
        echarts=Markup(_asset("static/echarts.min.js").replace("</script", "<\\/script")),
        options=script_json(chart_options(data, lang)),
        no_data=script_json(t("no_data")),
    )


def write_report(data: ReportData, path: str | Path, lang: str = "zh") -> Path:
    """Write the report to `path` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data, lang), encoding="utf-8")
    return path

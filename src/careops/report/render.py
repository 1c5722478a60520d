"""Render a `ReportData` to one self-contained HTML file (ECharts inlined: works offline)."""

from __future__ import annotations

import html
import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from careops.metrics.breakdown import by_label
from careops.metrics.context import stale_note
from careops.metrics.format import fmt, funnel_text
from careops.report import charts
from careops.report.build import ReportData
from careops.report.labels import t


def _asset(name: str) -> str:
    return resources.files("careops.report").joinpath(name).read_text(encoding="utf-8")


def _esc(value: object) -> str:
    return html.escape(str(value))


def _kpi_cards(data: ReportData) -> str:
    sections: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for k in data.kpis:
        titles[k["category"]] = k["category_label"]
        sections.setdefault(k["category"], []).append(
            f'<div class="kpi" data-metric="{_esc(k["name"])}"><div class="kpi-label">'
            f'{_esc(k["label"])}</div><div class="kpi-value">{_esc(k["value"])}</div>'
            f'<div class="kpi-detail">{_esc(_join(k["window"], k["detail"]))}</div>'
            f'{_note(k["note"])}</div>'
        )
    return "".join(
        f'<div class="kpi-group"><h3>{_esc(titles[c])}</h3><div class="kpi-row">'
        f'{"".join(cards)}</div></div>' for c, cards in sections.items()
    )


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _note(text: str) -> str:
    return f'<div class="kpi-note">{_esc(text)}</div>' if text else ""


def _data_end(data: ReportData) -> str:
    """`数据截止 D`, with a warning when the data ends days before the as-of date."""
    if data.data_end is None:
        return ""
    text = f"{t('data_end', data.lang)} {data.data_end.isoformat()}"
    hint = stale_note(data.data_end, data.as_of, data.lang)
    return f" · {_esc(text)}" + (f'<div class="stale">{_esc(hint)}</div>' if hint else "")


def _funnel_table(data: ReportData) -> str:
    lang = data.lang
    assert data.funnel is not None
    head = "".join(f"<th>{_esc(t(k, lang))}</th>" for k in
                   ("step", "users", "from_previous", "from_first", "dropped"))
    body = "".join(
        f"<tr><td>{_esc(s.label)}</td><td>{s.users}</td>"
        f"<td>{fmt(s.rate_from_previous, 'ratio')}</td><td>{fmt(s.rate_from_first, 'ratio')}"
        f"</td><td>{s.dropped}</td></tr>" for s in data.funnel.steps
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def chart_options(data: ReportData) -> dict[str, Any]:
    """The ECharts option of every chart, keyed by its element id."""
    assert data.funnel is not None and data.cohort is not None
    return {
        "chart-funnel": charts.funnel_chart(data.funnel, data.lang),
        "chart-cohort": charts.cohort_chart(data.cohort, data.lang),
        "chart-channels": charts.channel_chart(data.channels, data.lang),
        "chart-layers": charts.rate_bars(data.layers, data.lang),
        "chart-medical": charts.rate_bars(data.medical, data.lang, groups_of=False),
    }


def render_html(data: ReportData) -> str:
    """The report as one HTML document."""
    lang = data.lang
    assert data.funnel is not None
    page = Template(_asset("templates/report.html"))
    return page.substitute(
        lang="zh-CN" if lang == "zh" else "en",
        title=_esc(t("title", lang)),
        as_of_label=_esc(t("as_of", lang)), as_of=data.as_of.isoformat(),
        as_of_note=_esc(t("as_of_note", lang)),
        tz_label=_esc(t("timezone", lang)), timezone=_esc(data.timezone),
        generated_label=_esc(t("generated", lang)),
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        kpis_title=_esc(t("kpis", lang)), kpis=_kpi_cards(data),
        funnel_title=_esc(t("funnel", lang)),
        funnel_note=_esc(t("funnel_note", lang, params=funnel_text(data.funnel, lang))),
        funnel_table=_funnel_table(data),
        cohort_title=_esc(t("cohort", lang)), cohort_note=_esc(t("cohort_note", lang)),
        channels_title=_esc(t("channels", lang)),
        layers_title=_esc(t("layers", lang, by=by_label(data.by, lang))),
        small_note=_esc(t("small_note", lang, n=charts.MIN_GROUP_USERS)),
        data_end=_data_end(data),
        medical_title=_esc(t("medical", lang)),
        footer=_esc(t("footer", lang)), no_data=json.dumps(t("no_data", lang)),
        echarts=_asset("static/echarts.min.js").replace("</script", "<\\/script"),
        options=json.dumps(chart_options(data), ensure_ascii=False).replace("</", "<\\/"),
    )


def write_report(data: ReportData, path: str | Path) -> Path:
    """Write the report to `path` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path

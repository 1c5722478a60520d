"""Human formatting of metric values by unit (CLI tables, the HTML report)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from careops.labels import funnel_step_label, label
from careops.labels import window_text as _window_text
from careops.metrics.registry import get_metric
from careops.metrics.result import NO_DATA, FunnelResult, MetricResult, Result, Unit


def fmt(value: float | None, unit: Unit | str, lang: str = "zh") -> str:
    """`0.1234` → `12.3%`, `1234.5` (cny) → `¥1,234.50`, None → `—`."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "cny":
        return f"¥{value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "days":
        return f"{value:.2f} {label('word.days', lang)}"
    if unit == "seconds":
        return f"{value:,.1f} {label('word.seconds', lang)}"
    if unit == "score":
        return f"{value:.1f}"
    return f"{value:.3f}"


def fmt_number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def window_text(params: dict[str, Any], lang: str = "zh") -> str:
    """The look-back a metric used: `近365天` (`last 365 days`), `累计` without a window."""
    return _window_text(params.get("window_days"), lang)


def funnel_text(result: FunnelResult, lang: str = "zh") -> str:
    """A funnel's parameters in words: steps, entry period and conversion window."""
    period = int(result.params.get("period_days") or 0)
    conv = int(result.params.get("conversion_days") or 0)
    until = result.as_of - timedelta(days=conv)
    since = until - timedelta(days=period)
    steps = " → ".join(funnel_step_label(s.step, lang) for s in result.steps)
    last = until - timedelta(days=1)
    if lang == "zh":
        return f"步骤 {steps} · 进入期 {since} 至 {last}（{period}天） · 转化窗口 进入后{conv}天内"
    return (
        f"steps {steps} · entry period {since} to {last} ({period} days)"
        f" · conversion window {conv} days after entry"
    )


def stale_note(end: date | None, as_of: date, lang: str = "zh") -> str | None:
    """A hint when the data ends (`end`) days before `as_of` (recent windows would be empty)."""
    if end is None or end >= as_of - timedelta(days=1):
        return None
    return label("metrics.stale_note", lang, end=end, as_of=as_of, next=end + timedelta(days=1))


def result_label(result: Result, lang: str = "zh") -> str:
    """The metric's name as people read it (7日留存 / D7 retention)."""
    return get_metric(result.name).label(lang)


def step_label(code: str, lang: str = "zh") -> str:
    """A funnel step in a table: 注册, 支付; `event:NAME` reads as NAME."""
    return code[6:] if code.startswith("event:") else funnel_step_label(code, lang)


def note_text(result: MetricResult, lang: str = "zh") -> str | None:
    """Why a metric has no value, in words (its `note` is a code)."""
    if result.note != NO_DATA:
        return result.note
    empty = get_metric(result.name).empty
    return None if empty is None else empty[0 if lang == "zh" else 1]


def labelled(result: Result, lang: str = "zh") -> dict[str, Any]:
    """A result as the CLI prints it in JSON: its codes, and beside them their labels in
    `lang` (`label` after `name`, each funnel step's `label` after `step`, `note` in words)."""
    data = result.to_dict()
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = value
        if key == "name":
            out["label"] = result_label(result, lang)
    if isinstance(result, MetricResult):
        out["note"] = note_text(result, lang)
    if isinstance(result, FunnelResult):
        out["steps"] = [_step_dict(s, lang) for s in out["steps"]]
        out["groups"] = {g: [_step_dict(s, lang) for s in v] for g, v in out["groups"].items()}
    return out


def _step_dict(step: dict[str, Any], lang: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in step.items():
        out[key] = value
        if key == "step":
            out["label"] = step_label(value, lang)
    return out

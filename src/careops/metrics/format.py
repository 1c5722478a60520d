"""Human formatting of metric values by unit (CLI tables, the HTML report)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from careops.labels import funnel_step_label, label, section
from careops.labels import window_text as _window_text
from careops.metrics.result import FunnelResult, Unit

#: Unit names — now in the label catalogue (`unit.*`); kept as a re-export.
UNIT_LABELS: dict[str, tuple[str, str]] = section("unit")


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

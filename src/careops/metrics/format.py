"""Human formatting of metric values by unit (CLI tables, the HTML report)."""

from __future__ import annotations

from careops.metrics.result import Unit

UNIT_LABELS: dict[str, tuple[str, str]] = {
    "ratio": ("比例", "share"), "count": ("人数", "count"), "cny": ("元", "CNY"),
    "days": ("天", "days"), "seconds": ("秒", "seconds"), "score": ("分", "score"),
    "per_user": ("每人", "per user"),
}


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
        return f"{value:.2f} {'天' if lang == 'zh' else 'days'}"
    if unit == "seconds":
        return f"{value:,.1f} {'秒' if lang == 'zh' else 's'}"
    if unit == "score":
        return f"{value:.1f}"
    return f"{value:.3f}"


def fmt_number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"

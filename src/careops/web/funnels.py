"""What the 漏斗与留存 page shows: a funnel with its drop-off and the cohort retention table,
from the metrics service (`careops.metrics.service.metric`, the function behind
`careops metrics show funnel|cohort_retention` and `GET /api/v1/metrics/{name}`), so the numbers
are the CLI's and the API's for the same as-of and parameters. No warehouse is opened here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from careops import labels
from careops.errors import InvalidInput
from careops.service import Ops
from careops.web.texts import text

#: the breakdowns the page offers ("" none): the four layers and the acquisition channel
BREAKDOWNS: tuple[str, ...] = ("", "lifecycle", "health_need", "value", "data_richness", "channel")
GRAINS: tuple[str, ...] = ("week", "month")
RETENTION_DAYS: tuple[int, ...] = (1, 7, 30)
MAX_STEPS = 6
PERIOD_DAYS = (1, 365)
CONVERSION_DAYS = (0, 90)
COHORT_DAYS = (7, 365)
DEFAULT_COHORT_DAYS = 182
DEFAULT_CONVERSION_DAYS = 30


@dataclass(frozen=True)
class FunnelQuery:
    """The user's choice, checked: step codes of the funnel catalogue, bounded windows."""

    as_of: date
    steps: tuple[str, ...]
    period_days: int
    conversion_days: int
    by: str
    grain: str
    cohort_days: int


def step_codes() -> tuple[str, ...]:
    """The steps the page offers (the funnel catalogue's codes, in its order)."""
    from careops.metrics.funnel import STEPS

    return tuple(STEPS)


def _bounded(name: str, raw: str | None, default: int, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidInput(
            f"{name}: 应为 {lo}–{hi} 的整数 / an integer {lo}–{hi}, not {raw[:20]!r}"
        )
    return int(raw)


def check_query(
    as_of: date,
    steps: list[str],
    period: str | None,
    conversion: str | None,
    by: str | None,
    grain: str | None,
    cohort: str | None,
    default_period: int,
) -> FunnelQuery:
    """The page's query checked field by field; a bad value names the field and what it takes."""
    from careops.metrics.funnel import DEFAULT_STEPS

    codes = [s for s in steps if s]
    if not codes:
        codes = DEFAULT_STEPS.split(",")
    known = step_codes()
    for code in codes:
        if code not in known:
            raise InvalidInput(
                f"step: 未知步骤 {code[:40]!r}, 可选 / unknown step; one of {', '.join(known)}"
            )
    if not 2 <= len(codes) <= MAX_STEPS:
        raise InvalidInput(
            f"step: 漏斗需要 2–{MAX_STEPS} 个步骤, 实际 {len(codes)} / a funnel takes "
            f"2–{MAX_STEPS} steps, got {len(codes)}"
        )
    if (by or "") not in BREAKDOWNS:
        raise InvalidInput(
            f"by: 应为 / one of {', '.join(b for b in BREAKDOWNS if b)} (或空 / or empty)"
        )
    if (grain or "week") not in GRAINS:
        raise InvalidInput(f"grain: 应为 / one of {', '.join(GRAINS)}")
    return FunnelQuery(
        as_of=as_of,
        steps=tuple(codes),
        period_days=_bounded("period_days", period, default_period, PERIOD_DAYS),
        conversion_days=_bounded(
            "conversion_days", conversion, DEFAULT_CONVERSION_DAYS, CONVERSION_DAYS
        ),
        by=by or "",
        grain=grain or "week",
        cohort_days=_bounded("cohort_days", cohort, DEFAULT_COHORT_DAYS, COHORT_DAYS),
    )


@dataclass(frozen=True)
class StepRow:
    code: str
    label: str
    users: int
    from_previous: str
    from_first: str
    dropped: int
    worst: bool  # the step that loses the largest share of the step before


@dataclass(frozen=True)
class FunnelBlock:
    group: str | None  # None: every patient
    label: str
    steps: list[StepRow]


@dataclass(frozen=True)
class CohortLine:
    group: str | None
    group_label: str
    cohort: str
    size: int
    cells: list[tuple[str, str, str]]  # (text, background, text colour) per day n


@dataclass(frozen=True)
class FunnelsView:
    query: FunnelQuery
    funnel: Any  # FunnelResult
    blocks: list[FunnelBlock]
    cohort: Any  # CohortResult (overall; the chart's)
    lines: list[CohortLine]
    by_label: str


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _steps(steps: Any, lang: str) -> list[StepRow]:
    losses = [
        (1 - s.rate_from_previous) if i and s.rate_from_previous is not None else -1.0
        for i, s in enumerate(steps)
    ]
    worst = max(range(len(losses)), key=losses.__getitem__) if max(losses) > 0 else -1
    return [
        StepRow(
            code=s.step,
            label=labels.funnel_step_label(s.step, lang),
            users=s.users,
            from_previous=_pct(s.rate_from_previous),
            from_first=_pct(s.rate_from_first),
            dropped=s.dropped,
            worst=i == worst,
        )
        for i, s in enumerate(steps)
    ]


def heat(value: float | None, top: float) -> tuple[str, str]:
    """A retention cell's background (white to a dark blue, by its share of `top`, the
    table's highest rate) and a text colour that stays readable on it (WCAG AA contrast)."""
    if value is None or top <= 0:
        return "#ffffff", "#1f2937"
    x = max(0.0, min(1.0, value / top))
    lo, hi = (0xF4, 0xF9, 0xFF), (0x1F, 0x5F, 0xAF)
    r, g, b = (round(a + (z - a) * x) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}", "#ffffff" if x > 0.5 else "#1f2937"


def _funnel(ops: Ops, q: FunnelQuery, by: str | None, lang: str) -> Any:
    from careops.metrics import service

    return service.metric(
        ops,
        "funnel",
        q.as_of,
        by=by,
        lang=lang,
        steps=",".join(q.steps),
        period_days=q.period_days,
        conversion_days=q.conversion_days,
    ).result


def _cohort(ops: Ops, q: FunnelQuery, by: str | None, lang: str) -> Any:
    from careops.metrics import service

    return service.metric(
        ops,
        "cohort_retention",
        q.as_of,
        by=by,
        lang=lang,
        grain=q.grain,
        days=",".join(str(n) for n in RETENTION_DAYS),
        window_days=q.cohort_days,
    ).result


def funnels(ops: Ops, q: FunnelQuery, lang: str) -> FunnelsView:
    """The funnel (overall, and per group with a breakdown) and the cohort retention table
    (overall for the heatmap; per group in the table with a breakdown)."""
    ops.require("metrics.read")
    by = q.by or None
    f = _funnel(ops, q, by, lang)
    blocks = [FunnelBlock(None, text("funnels.everyone", lang), _steps(f.steps, lang))]
    blocks += [
        FunnelBlock(g, labels.group_label(by, g, lang), _steps(steps, lang))
        for g, steps in f.groups.items()
    ]
    overall = _cohort(ops, q, None, lang)
    table = _cohort(ops, q, by, lang) if by else overall
    top = max((v for r in table.rows for v in r.retention.values() if v is not None), default=0.0)
    lines = [
        CohortLine(
            group=r.group,
            group_label=labels.group_label(by, r.group, lang) if by else "",
            cohort=r.cohort.isoformat(),
            size=r.size,
            cells=[(_pct(r.retention[n]), *heat(r.retention[n], top)) for n in table.days],
        )
        for r in table.rows
    ]
    return FunnelsView(
        query=q,
        funnel=f,
        blocks=blocks,
        cohort=overall,
        lines=lines,
        by_label=labels.by_label(by, lang) if by else "",
    )


def query_string(q: FunnelQuery) -> str:
    """The page's query for `q` (the CSV links carry exactly what the page shows)."""
    from urllib.parse import urlencode

    pairs: list[tuple[str, str]] = [("as_of", q.as_of.isoformat())]
    pairs += [("step", s) for s in q.steps]
    pairs += [
        ("period_days", str(q.period_days)),
        ("conversion_days", str(q.conversion_days)),
        ("by", q.by),
        ("grain", q.grain),
        ("cohort_days", str(q.cohort_days)),
    ]
    return urlencode(pairs)


def funnel_csv(ops: Ops, q: FunnelQuery, lang: str) -> str:
    """The funnel as CSV: one row per group and step (group empty for every patient)."""
    ops.require("metrics.read")
    by = q.by or None
    f = _funnel(ops, q, by, lang)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(
        ["group", "step", "label", "users", "rate_from_previous", "rate_from_first", "dropped"]
    )
    for group, steps in [(None, f.steps), *f.groups.items()]:
        for s in steps:
            w.writerow(
                [
                    _text(group),
                    s.step,
                    _text(labels.funnel_step_label(s.step, lang)),
                    s.users,
                    _num(s.rate_from_previous),
                    _num(s.rate_from_first),
                    s.dropped,
                ]
            )
    return out.getvalue()


def cohort_csv(ops: Ops, q: FunnelQuery, lang: str) -> str:
    """The cohort retention table as CSV: one row per group and cohort, D-n rate and count."""
    ops.require("metrics.read")
    c = _cohort(ops, q, q.by or None, lang)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(
        ["group", "cohort", "size"]
        + [f"d{n}_retention" for n in c.days]
        + [f"d{n}_retained" for n in c.days]
    )
    for r in c.rows:
        w.writerow(
            [_text(r.group), r.cohort.isoformat(), r.size]
            + [_num(r.retention[n]) for n in c.days]
            + [r.retained[n] for n in c.days]
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _text(value: str | None) -> str:
    """A text cell that no spreadsheet runs as a formula: a group code comes from the data (a
    channel name), so one starting with = + - @ or a tab is prefixed with an apostrophe."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

"""Compute what the report shows: KPI cards, funnel, cohorts, breakdowns (no HTML here).

The data carries codes and numbers only (metric names, units, group codes); words and
formatting are the view's (`render.py`), in the language the report is rendered in."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ibis.backends import BaseBackend

from careops.metrics import compute as compute_metric
from careops.metrics.breakdown import resolve
from careops.metrics.context import MetricContext, data_end
from careops.metrics.registry import Category, Kind, get_metric
from careops.metrics.result import CohortResult, FunnelResult, MetricResult, Unit

#: KPI cards, in reading order.
KPIS: tuple[str, ...] = (
    "new_users",
    "cac",
    "precise_reach_rate",
    "consult_rate",
    "booking_rate",
    "paid_conversion",
    "arpu",
    "mau",
    "monthly_active_days",
    "d1_retention",
    "d7_retention",
    "d30_retention",
    "repurchase_rate",
    "silent_recall_rate",
    "share_rate",
    "invites_per_user",
    "invite_conversion",
    "k_factor",
    "ltv",
    "roi",
    "nps",
    "satisfaction",
    "complaint_rate",
    "first_reply_sla_rate",
    "first_reply_mean_s",
    "adherence_rate",
    "pdc_mean",
    "bp_control_rate",
    "glucose_control_rate",
    "package_activation_rate",
    "renewal_rate",
)
CHANNEL_METRICS = ("new_users", "cac", "ltv", "roi")
LAYER_METRICS = ("d7_retention", "d30_retention", "paid_conversion", "repurchase_rate")
MEDICAL = (
    "adherence_rate",
    "bp_control_rate",
    "glucose_control_rate",
    "package_activation_rate",
    "renewal_rate",
)


@dataclass(frozen=True)
class Kpi:
    """One KPI card: the metric's code, category and value, nothing translated."""

    name: str
    category: Category
    kind: Kind
    unit: Unit
    value: float | None
    numerator: float
    denominator: float | None
    params: dict[str, Any]
    empty: bool
    """True when the metric had nothing to count (its definition says why)."""


@dataclass
class ReportData:
    """Everything the report shows, already computed (codes and numbers; no words)."""

    as_of: date
    timezone: str
    by: str
    kpis: list[Kpi] = field(default_factory=list)
    funnel: FunnelResult | None = None
    cohort: CohortResult | None = None
    channels: dict[str, MetricResult] = field(default_factory=dict)
    layers: dict[str, MetricResult] = field(default_factory=dict)
    medical: dict[str, MetricResult] = field(default_factory=dict)
    data_end: date | None = None
    """The hospital date of the latest fact in the warehouse."""


def build_report(
    con: BaseBackend, as_of: date, *, by: str = "channel", timings: dict[str, float] | None = None
) -> ReportData:
    """Compute the report's metrics as of `as_of`; `by` is the layer of the breakdown charts.

    `timings`, if given, receives the seconds each metric took (for benchmarks).
    """
    ctx = MetricContext(con, as_of, cache=True)
    ctx.validate()
    resolve(ctx, by)  # an unknown layer fails now, not after the KPIs

    def compute(con, name, as_of, **kw):
        t0 = time.perf_counter()
        result = compute_metric(con, name, as_of, **kw)  # codes; the view names them
        if timings is not None:
            key = name + (f" by {kw['by']}" if kw.get("by") else "")
            timings[key] = round(time.perf_counter() - t0, 3)
        return result

    data = ReportData(
        as_of=as_of, timezone=ctx.settings.timezone, by=by, data_end=data_end(con, ctx.settings)
    )
    results: dict[str, MetricResult] = {}
    for name in KPIS:
        r = compute(con, name, as_of, ctx=ctx)
        assert isinstance(r, MetricResult)
        results[name] = r
        m = get_metric(name)
        data.kpis.append(
            Kpi(
                name,
                m.category,
                m.kind,
                r.unit,
                r.value,
                r.numerator,
                r.denominator,
                dict(r.params),
                r.note is not None,
            )
        )
    funnel = compute(con, "funnel", as_of, ctx=ctx)
    cohort = compute(con, "cohort_retention", as_of, ctx=ctx, window_days=84)
    assert isinstance(funnel, FunnelResult) and isinstance(cohort, CohortResult)
    data.funnel, data.cohort = funnel, cohort
    for name in CHANNEL_METRICS:
        data.channels[name] = compute(con, name, as_of, ctx=ctx, by="channel")
    for name in LAYER_METRICS:
        data.layers[name] = compute(con, name, as_of, ctx=ctx, by=by)
    data.medical = {name: results[name] for name in MEDICAL}
    return data

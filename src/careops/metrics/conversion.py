"""Conversion metrics over users active in the window: consult, booking, paid, ARPU.

The ordered funnel lives in `funnel.py`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from careops.metrics import funnel  # noqa: F401  (registers the funnel analysis)
from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import flag, paid_orders, per_user, window


def bookers(ctx: MetricContext, since) -> ir.Table:
    """Users with an offline consultation or an encounter starting in [since, as_of)."""
    c = ctx.facts("consultations", "started_at", since)
    e = ctx.facts("encounters", "start_at", since)
    return ibis.union(c.filter(c.mode == "offline").select("user_id"), e.select("user_id"))


@unit_metric(
    "consult_rate",
    "conversion",
    "问诊率",
    "Consult rate",
    description="Share of users active in the window who had at least one consultation in it.",
    formula="active users with >=1 consultations row in window / active users in window",
    window_days=None,
)
def consult_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    return flag(ctx.active_users(since), ctx.facts("consultations", "started_at", since))


@unit_metric(
    "booking_rate",
    "conversion",
    "预约率",
    "Booking rate",
    description="Share of users active in the window who booked offline care in it: an "
    "offline-mode consultation or an encounter.",
    formula="active users with an offline consultation or encounter / active users in window",
    window_days=None,
)
def booking_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    return flag(ctx.active_users(since), bookers(ctx, since))


@unit_metric(
    "paid_conversion",
    "conversion",
    "付费转化率",
    "Paid conversion",
    description="Share of users active in the window with at least one paid order in it.",
    formula="active users with >=1 paid order in window / active users in window",
    window_days=None,
)
def paid_conversion(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    return flag(ctx.active_users(since), paid_orders(ctx, since))


@unit_metric(
    "arpu",
    "conversion",
    "客单价(ARPU)",
    "ARPU",
    unit="cny",
    description="Paid revenue in the window per user active in it (refunds excluded).",
    formula="sum(paid orders.amount_cny in window) / active users in window",
    window_days=None,
)
def arpu(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    return per_user(ctx.active_users(since), paid_orders(ctx, since), "amount_cny")

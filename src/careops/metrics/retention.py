"""Retention metrics: D-n retention, MAU, monthly active days, repurchase, silent-user recall.

D-n retention is *exact day n*: a user registered on hospital day d0 is retained at n if
active on day d0 + n (the registration day is day 0). Only users whose day n is over before
`as_of` are counted. The cohort table is in `cohort.py`.
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

from careops.metrics import cohort  # noqa: F401  (registers the cohort analysis)
from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import flag, paid_orders, window


def retained_on_day(
    ctx: MetricContext, cohort_users: ir.Table, n: int, since: date | None = None
) -> ir.Table:
    """Users of `cohort_users(user_id, reg_day)` active exactly n days after registering.

    `since`: the first day a cohort member's day n can fall on; active days are read from there
    only (a windowed scan shared with MAU, instead of every active day in the history)."""
    origin = ctx.as_of
    c = cohort_users.select(
        cid=cohort_users.user_id, rn=ctx.days_from(cohort_users.reg_day, origin)
    )
    a = ctx.active_days(since)
    a = a.select(user_id=a.user_id, dn=a.dn - ctx.day_number_lit())
    j = a.join(c, (a.user_id == c.cid) & (a.dn == c.rn + n))
    return j.select("user_id").distinct()


def _dn(n: int, zh: str, en: str) -> None:
    @unit_metric(
        f"d{n}_retention",
        "retention",
        zh,
        en,
        description=f"Share of users registered in the window (shifted back {n} days so day "
        f"{n} is over) who were active exactly on day {n} after registration.",
        formula=f"cohort users active on reg_day + {n} / cohort users, cohort = "
        f"reg_day in [as_of - {n} - window, as_of - {n})",
        window_days=None,
    )
    def dn(ctx: MetricContext, window_days: int | None) -> ir.Table:
        w = window(ctx, window_days)
        p = ctx.patients()
        p = p.filter(
            (p.reg_day >= ctx.date_literal(ctx.days_before(n + w)))
            & (p.reg_day < ctx.date_literal(ctx.days_before(n)))
        )
        # reg_day ≥ as_of − n − w, so day n falls on or after as_of − w
        return flag(p, retained_on_day(ctx, p, n, since=ctx.days_before(w)))


_dn(1, "次日留存", "D1 retention")
_dn(7, "7日留存", "D7 retention")
_dn(30, "30日留存", "D30 retention")


@unit_metric(
    "mau",
    "retention",
    "月活(MAU)",
    "MAU",
    kind="sum",
    unit="count",
    description="Users with at least one active day in the 30 days before as_of.",
    formula="count(distinct users active in [as_of - 30, as_of))",
    window_days=30,
)
def mau(ctx: MetricContext, window_days: int) -> ir.Table:
    a = ctx.active_users(ctx.days_before(window_days))
    return a.select(user_id=a.user_id, num=ibis.literal(1), den=ibis.literal(1))


@unit_metric(
    "monthly_active_days",
    "retention",
    "月活用户人均活跃天数",
    "Active days per monthly active user",
    unit="days",
    description="Average number of active days in the last 30 days per monthly active user.",
    formula="sum(active days in [as_of - 30, as_of)) / MAU",
    window_days=30,
)
def monthly_active_days(ctx: MetricContext, window_days: int) -> ir.Table:
    a = ctx.active_days(ctx.days_before(window_days))
    per = a.group_by("user_id").aggregate(num=a.dn.count())
    return per.select(user_id=per.user_id, num=per.num.cast("float64"), den=ibis.literal(1))


@unit_metric(
    "repurchase_rate",
    "retention",
    "复购率",
    "Repurchase rate",
    description="Among users with a paid order in the window, the share with two or more.",
    formula="users with >=2 paid orders in window / users with >=1 paid order in window",
    window_days=365,
)
def repurchase_rate(ctx: MetricContext, window_days: int) -> ir.Table:
    o = paid_orders(ctx, ctx.days_before(window_days))
    per = o.group_by("user_id").aggregate(n=o.order_id.count())
    return per.select(user_id=per.user_id, num=ibis.ifelse(per.n >= 2, 1, 0), den=ibis.literal(1))


@unit_metric(
    "silent_recall_rate",
    "retention",
    "沉默用户召回率",
    "Silent-user recall rate",
    description="Users silent at the start of the window (last active day between "
    "lifecycle.silent_min_days and lifecycle.churned_min_days before it) who were active "
    "again during the window.",
    formula="silent users at as_of - window active in [as_of - window, as_of) / silent users",
    window_days=None,
)
def silent_recall_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    lc = ctx.settings.lifecycle
    a = ctx.active_days()
    ref_dn = ctx.day_number_lit(window(ctx, window_days))
    before = a.filter(a.dn < ref_dn)
    last = before.group_by("user_id").aggregate(last_dn=before.dn.max())
    idle = ref_dn - last.last_dn
    silent = last.filter((idle >= lc.silent_min_days) & (idle <= lc.churned_min_days))
    back = a.filter(a.dn >= ref_dn)
    return flag(silent.select("user_id"), back.select("user_id"))

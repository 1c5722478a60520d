"""Medical-value metrics: medication adherence (PDC), BP and glucose control, service packages.

PDC (proportion of days covered) per patient over the adherence window: each prescription
covers `days_supply` hospital days from the day it was written; overlapping supplies are not
double counted (any drug on hand covers the day). The period runs from the first covered day
in the window (carry-over from an earlier prescription counts) to the day before `as_of`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import rows

SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
GLUCOSE_CODES = ("2339-0", "2345-7", "15074-8", "14749-6")


def pdc(ctx: MetricContext, window_days: int) -> ir.Table:
    """Per patient with supply in the window: `(user_id, covered, period, pdc)`."""
    start = ctx.days_before(window_days)
    p = ctx.facts("prescriptions", "ts")
    p = p.filter(p.days_supply.notnull() & (p.days_supply > 0))
    s = ctx.days_after(p.ts, start)
    e = s + p.days_supply
    f = p.select(user_id=p.user_id, s=ibis.greatest(s, 0), e=ibis.least(e, window_days))
    f = f.filter(f.e > f.s)
    w = ibis.window(group_by=f.user_id, order_by=[f.s, f.e], rows=(None, -1))
    f = f.mutate(prev_end=f.e.max().over(w))
    begin = ibis.greatest(f.s, ibis.coalesce(f.prev_end, f.s))
    f = f.mutate(add=ibis.greatest(f.e - begin, 0))
    per = f.group_by("user_id").aggregate(covered=f.add.sum(), first=f.s.min())
    per = per.mutate(period=window_days - per["first"])
    return per.mutate(pdc=per.covered.cast("float64") / per.period)


@unit_metric(
    "adherence_rate",
    "medical",
    "用药依从率",
    "Medication adherence",
    description="Share of patients with medication supply in the window whose PDC is at least "
    "metrics.adherence_pdc_min (0.8).",
    formula="patients with PDC >= 0.8 / patients with supply in window",
    window_days=None,
    window_setting="adherence_window_days",
)
def adherence_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    m = ctx.settings.metrics
    d = pdc(ctx, int(window_days or m.adherence_window_days))
    return rows(d, ibis.ifelse(d.pdc >= m.adherence_pdc_min, 1, 0))


@unit_metric(
    "pdc_mean",
    "medical",
    "平均用药覆盖率(PDC)",
    "Mean PDC",
    description="Mean proportion of days covered by prescriptions in the window.",
    formula="mean over patients of covered days / days from first supply to as_of",
    window_days=None,
    window_setting="adherence_window_days",
)
def pdc_mean(ctx: MetricContext, window_days: int | None) -> ir.Table:
    d = pdc(ctx, int(window_days or ctx.settings.metrics.adherence_window_days))
    return rows(d, d.pdc)


def last_value(ctx: MetricContext, codes: tuple[str, ...], since) -> ir.Table:
    """Each patient's latest reading among `codes` in [since, as_of): `(user_id, value)`."""
    o = ctx.facts("observations", "ts", since)
    o = o.filter(o.code.isin(list(codes)))
    rank = ibis.row_number().over(
        group_by=o.user_id, order_by=[ibis.desc(o.ts), ibis.desc(o.observation_id)]
    )
    o = o.mutate(rank=rank)
    return o.filter(o.rank == 0).select("user_id", "value")


@unit_metric(
    "bp_control_rate",
    "medical",
    "血压控制率",
    "BP control rate",
    description="Share of patients with a BP reading in the window whose last systolic is "
    "below health.bp_systolic_max (140) and last diastolic below bp_diastolic_max (90).",
    formula="patients with last SBP < 140 and last DBP < 90 / patients with SBP and DBP",
    window_days=365,
)
def bp_control_rate(ctx: MetricContext, window_days: int) -> ir.Table:
    since = ctx.days_before(window_days)
    h = ctx.settings.health
    sbp = last_value(ctx, (SYSTOLIC,), since)
    dbp = last_value(ctx, (DIASTOLIC,), since)
    dbp = dbp.select(did=dbp.user_id, dia=dbp.value)
    j = sbp.join(dbp, sbp.user_id == dbp.did)
    ok = (j.value < h.bp_systolic_max) & (j.dia < h.bp_diastolic_max)
    return rows(j, ibis.ifelse(ok, 1, 0))


@unit_metric(
    "glucose_control_rate",
    "medical",
    "血糖控制率",
    "Glucose control rate",
    description="Share of patients with a glucose reading (LOINC 2339-0, 2345-7, 15074-8, "
    "14749-6, mmol/L) in the window whose last reading is below "
    "metrics.glucose_control_max_mmol (7.0, the fasting target of the Chinese T2DM guideline).",
    formula="patients with last glucose < 7.0 mmol/L / patients with a glucose reading",
    window_days=365,
)
def glucose_control_rate(ctx: MetricContext, window_days: int) -> ir.Table:
    g = last_value(ctx, GLUCOSE_CODES, ctx.days_before(window_days))
    ok = g.value < ctx.settings.metrics.glucose_control_max_mmol
    return rows(g, ibis.ifelse(ok, 1, 0))


@unit_metric(
    "package_activation_rate",
    "medical",
    "服务包激活率",
    "Package activation",
    description="Share of service-package enrollments (started in the window and at least "
    "health.package_activation_days (90) before as_of) with health.package_activation_uses "
    "(5) entitlement uses within their first 90 days.",
    formula="enrollments with >= 5 uses in days [0, 90) of start / mature enrollments",
    window_days=365,
    per_user=False,
)
def package_activation_rate(ctx: MetricContext, window_days: int) -> ir.Table:
    h = ctx.settings.health
    days = h.package_activation_days
    en = ctx.facts("enrollments", "start_at")
    en = en.mutate(sd=ctx.days_after(en.start_at, ctx.as_of))
    en = en.filter((en.sd >= -(window_days + days)) & (en.sd < -days))
    u = ctx.facts("entitlement_usage", "ts")
    u = u.select(eid=u.enrollment_id, ud=ctx.days_after(u.ts, ctx.as_of))
    j = en.left_join(u, (en.enrollment_id == u.eid) & (u.ud >= en.sd) & (u.ud < en.sd + days))
    per = j.group_by(["enrollment_id", "user_id"]).aggregate(uses=j.eid.count())
    return rows(per, ibis.ifelse(per.uses >= h.package_activation_uses, 1, 0))


@unit_metric(
    "renewal_rate",
    "medical",
    "续费率",
    "Renewal rate",
    description="Share of enrollments that ended in the window (and at least "
    "metrics.renewal_grace_days before as_of) that were renewed: a later enrollment with "
    "renewal_of = it, or the same package for the same patient starting after it and no "
    "later than the grace days after its end. Cancelled and refunded ones are left out.",
    formula="renewed ended enrollments / ended enrollments",
    window_days=365,
    per_user=False,
)
def renewal_rate(ctx: MetricContext, window_days: int) -> ir.Table:
    grace = ctx.settings.metrics.renewal_grace_days
    allx = ctx.facts("enrollments", "start_at")
    allx = allx.mutate(sd=ctx.days_after(allx.start_at, ctx.as_of))
    ended = allx.filter(allx.end_at.notnull() & ~allx.status.isin(["cancelled", "refunded"]))
    ended = ended.mutate(ed=ctx.days_after(ended.end_at, ctx.as_of))
    ended = ended.filter((ended.ed >= -window_days) & (ended.ed < -grace))
    nxt = allx.select(
        nid=allx.enrollment_id,
        nuser=allx.user_id,
        npkg=allx.package_id,
        nsd=allx.sd,
        nof=allx.renewal_of,
    )
    # two equi-joins (hash joins) rather than one OR join (a nested loop on large data)
    by_link = ended.join(nxt, nxt.nof == ended.enrollment_id)
    by_package = ended.join(
        nxt,
        (nxt.nuser == ended.user_id)
        & (nxt.npkg == ended.package_id)
        & (nxt.nsd > ended.sd)
        & (nxt.nsd <= ended.ed + grace)
        & (nxt.nid != ended.enrollment_id),
    )
    renewed = ibis.union(by_link.select("enrollment_id"), by_package.select("enrollment_id"))
    hit = ended.enrollment_id.isin(renewed.enrollment_id)
    return rows(ended, ibis.ifelse(hit, 1, 0))

"""Ordered funnels with a conversion window and the drop-off at each step.

A user enters at their first step-1 occurrence in the entry period; step k counts if some
occurrence of it is at or after the time step k-1 was reached and within `conversion_days` of
entry (greedy earliest match, which is optimal for ordered funnels). Paid-order steps (支付,
复购) also carry the order's rank among the user's paid orders: such a step counts only an order
ranked after the last order the funnel already used, so 复购 after 支付 is a later order than
the one that counted as 支付 (and, on its own, a 2nd-or-later paid order). Entry periods end
`conversion_days` before `as_of`, so every counted user had the full window to convert.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from careops.metrics.breakdown import UNKNOWN, group_order
from careops.metrics.context import MetricContext
from careops.metrics.errors import MetricError
from careops.metrics.registry import Metric, analysis
from careops.metrics.result import FunnelResult, FunnelStep
from careops.metrics.units import paid_orders

StepFn = Callable[[MetricContext], ir.Table]


def _events(name: str) -> StepFn:
    def fn(ctx: MetricContext) -> ir.Table:
        e = ctx.facts("events", "ts")
        return e.filter(e.name == name).select("user_id", "ts")

    return fn


def _register(ctx: MetricContext) -> ir.Table:
    p = ctx.facts("patients", "registered_at")
    return p.select(user_id=p.user_id, ts=p.registered_at)


def _consult(ctx: MetricContext) -> ir.Table:
    c = ctx.facts("consultations", "started_at")
    return c.select(user_id=c.user_id, ts=c.started_at)


def _book(ctx: MetricContext) -> ir.Table:
    c = ctx.facts("consultations", "started_at")
    e = ctx.facts("encounters", "start_at")
    return ibis.union(
        c.filter(c.mode == "offline").select(user_id=c.user_id, ts=c.started_at),
        e.select(user_id=e.user_id, ts=e.start_at),
    )


def _ranked_orders(ctx: MetricContext) -> ir.Table:
    """Paid orders as `(user_id, ts, seq)`, seq the 0-based rank of the user's paid orders."""
    o = paid_orders(ctx)
    seq = ibis.row_number().over(group_by=o.user_id, order_by=[o.ts, o.order_id])
    return o.select(o.user_id, o.ts, seq=seq.cast("int64"))


def _pay(ctx: MetricContext) -> ir.Table:
    return _ranked_orders(ctx)


def _repurchase(ctx: MetricContext) -> ir.Table:
    o = _ranked_orders(ctx)
    return o.filter(o.seq >= 1)  # row_number is 0-based: the 2nd paid order on


def _package(ctx: MetricContext) -> ir.Table:
    e = ctx.facts("enrollments", "start_at")
    return e.select(user_id=e.user_id, ts=e.start_at)


#: step code -> its occurrences (the step's words are `funnel_step.<code>` of `careops.labels`)
STEPS: dict[str, StepFn] = {
    "register": _register,
    "app_open": _events("app_open"),
    "search": _events("search"),
    "view_content": _events("view_content"),
    "view_doctor": _events("view_doctor"),
    "consult": _consult,
    "book": _book,
    "pay": _pay,
    "repurchase": _repurchase,
    "package": _package,
    "share": _events("share"),
    "invite": _events("invite"),
}
DEFAULT_STEPS = "register,search,consult,pay,repurchase"


def parse_steps(steps: str | list[str] | tuple[str, ...]) -> list[str]:
    """Step codes from `"a,b,c"` or a list; `event:NAME` is any event name."""
    codes = [s.strip() for s in (steps.split(",") if isinstance(steps, str) else steps)]
    codes = [c for c in codes if c]
    if len(codes) < 2:
        raise MetricError(
            f"steps: 漏斗至少需要两个步骤, 实际 {codes} / a funnel needs at least two steps, "
            f"got {codes}"
        )
    for code in codes:
        if code not in STEPS and not (code.startswith("event:") and len(code) > 6):
            raise MetricError(
                f"steps: 未知步骤 {code!r} / unknown step {code!r}; use {', '.join(STEPS)} or "
                "event:NAME"
            )
    return codes


def _step(code: str) -> StepFn:
    if code.startswith("event:"):
        return _events(code[6:])
    return STEPS[code]


def reached(
    ctx: MetricContext, codes: list[str], period_days: int, conversion_days: int
) -> list[ir.Table]:
    """For each step, the users who reached it (tables of `user_id`)."""
    since = ctx.days_before(period_days + conversion_days)
    until = ctx.days_before(conversion_days)
    first = _step(codes[0])(ctx)
    lo, hi = ctx.ts_literal(first.ts, ctx.utc(since)), ctx.ts_literal(first.ts, ctx.utc(until))
    first = first.filter((first.ts >= lo) & (first.ts < hi))
    cur = first.group_by("user_id").aggregate(t0=first.ts.min())
    # t: when the last step was reached; seq: rank of the last paid order used (-1: none yet)
    cur = cur.mutate(t=cur.t0, seq=ibis.literal(-1, type="int64"))
    out = [cur.select("user_id")]
    span = ibis.interval(days=conversion_days)
    for code in codes[1:]:
        occ = _step(code)(ctx)
        oseq = occ.seq if "seq" in occ.columns else ibis.null("int64")
        occ = occ.select(uid=occ.user_id, ots=occ.ts, oseq=oseq)
        j = cur.join(
            occ,
            (cur.user_id == occ.uid)
            & (occ.ots >= cur.t)
            & (occ.ots <= cur.t0 + span)
            & (occ.oseq.isnull() | (occ.oseq > cur.seq)),
        )
        # earliest match; seq ranks follow time, so the smallest rank is the earliest order
        agg = j.group_by(["user_id", "t0", "seq"]).aggregate(t=j.ots.min(), s=j.oseq.min())
        cur = agg.select("user_id", "t0", "t", seq=ibis.coalesce(agg.s, agg.seq))
        out.append(cur.select("user_id"))
    return out


def _steps(codes: list[str], counts: list[int]) -> tuple[FunnelStep, ...]:
    steps = []
    for i, (code, n) in enumerate(zip(codes, counts, strict=True)):
        prev = counts[i - 1] if i else None
        steps.append(
            FunnelStep(
                step=code,
                users=n,
                rate_from_previous=(n / prev if prev else None) if i else 1.0,
                rate_from_first=n / counts[0] if counts[0] else None,
                dropped=(prev - n) if prev is not None else 0,
            )
        )
    return tuple(steps)


@analysis(
    "funnel",
    "conversion",
    "转化漏斗",
    "Conversion funnel",
    unit="ratio",
    description="Ordered funnel (default register → search → consult → pay → repurchase): "
    "users entering at step 1 in the period, how many reach each later step in order within "
    "the conversion window, and the drop-off at each step.",
    formula="users reaching step k in order within conversion_days of entry / step k-1",
    steps=DEFAULT_STEPS,
    period_days=None,
    conversion_days=30,
)
def funnel(
    ctx: MetricContext,
    metric: Metric,
    groups: ir.Table | None,
    by: str | None,
    *,
    steps: str,
    period_days: int | None,
    conversion_days: int,
) -> FunnelResult:
    codes = parse_steps(steps)
    period = int(period_days or ctx.settings.metrics.window_days)
    if conversion_days < 0:
        raise MetricError(
            f"conversion_days: 须 >= 0, 实际 {conversion_days} / must be >= 0, got "
            f"{conversion_days}"
        )
    tables = reached(ctx, codes, period, int(conversion_days))
    # one schema for every step: a key column is NOT NULL on PostgreSQL (patients.user_id),
    # the same column of a fact table is not, and a union needs equal schemas
    stacked = ibis.union(
        *[
            t.select(user_id=t.user_id.cast("string"), step=ibis.literal(i))
            for i, t in enumerate(tables)
        ]
    )
    overall = stacked.group_by("step").aggregate(n=stacked.user_id.nunique())
    total = [0] * len(codes)
    for r in overall.to_pyarrow().to_pylist():
        total[r["step"]] = int(r["n"])
    per_group: dict[str, tuple[FunnelStep, ...]] = {}
    if groups is not None:
        g = groups.select(gid=groups.user_id, group=groups.group)
        j = stacked.left_join(g, stacked.user_id == g.gid)
        j = j.select(j.user_id, j.step, group=ibis.coalesce(j.group, ibis.literal(UNKNOWN)))
        agg = j.group_by(["group", "step"]).aggregate(n=j.user_id.nunique())
        counts: dict[str, list[int]] = {}
        for r in agg.to_pyarrow().to_pylist():
            counts.setdefault(r["group"], [0] * len(codes))[r["step"]] = int(r["n"])
        per_group = {k: _steps(codes, counts[k]) for k in group_order(by, counts)}
    return FunnelResult(
        name=metric.name,
        as_of=ctx.as_of,
        steps=_steps(codes, total),
        by=by,
        groups=per_group,
        params={"steps": codes, "period_days": period, "conversion_days": conversion_days},
    )

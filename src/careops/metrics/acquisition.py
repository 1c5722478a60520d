"""Acquisition metrics: new users, CAC per channel, precise-reach rate."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import rows, window

#: Event written when a message reaches a user; `properties.in_target` says whether the user
#: was in the message's target segment when it was sent.
REACH_EVENT = "message_delivered"


def new_patients(ctx: MetricContext, since) -> ir.Table:
    """Patients registered in [since, as_of), with their channel."""
    p = ctx.patients()
    return p.filter(p.reg_day >= ctx.date_literal(since))


def attributed_cost(ctx: MetricContext, since) -> ir.Table:
    """Each user registered in [since, as_of) with their channel's spend per new user."""
    p = new_patients(ctx, since)
    s = ctx.table("marketing_spend")
    s = s.filter((s.date >= ctx.date_literal(since)) & (s.date < ctx.date_literal(ctx.as_of)))
    spend = s.group_by("channel").aggregate(spend=s.amount_cny.sum())
    regs = p.group_by(channel=p.source_channel).aggregate(n=p.user_id.count())
    per = regs.join(spend, "channel").select("channel", cost=lambda t: t.spend / t.n)
    j = p.left_join(per, p.source_channel == per.channel)
    return j.select(user_id=j.user_id, cost=ibis.coalesce(j.cost, 0))


@unit_metric(
    "new_users",
    "acquisition",
    "新增用户",
    "New users",
    kind="sum",
    unit="count",
    description="Patients who registered in the window (by channel: source_channel).",
    formula="count(patients with registered_at in [as_of - window, as_of))",
    window_days=None,
)
def new_users(ctx: MetricContext, window_days: int | None) -> ir.Table:
    p = new_patients(ctx, ctx.days_before(window(ctx, window_days)))
    return rows(p, ibis.literal(1))


@unit_metric(
    "cac",
    "acquisition",
    "获客成本",
    "CAC",
    unit="cny",
    description="Marketing spend per new user in the window. Each new user carries their "
    "channel's spend / new users; organic channels (no spend) carry 0, so the overall figure "
    "is the blended CAC.",
    formula="sum(marketing_spend.amount_cny in window) / new users in window",
    window_days=None,
)
def cac(ctx: MetricContext, window_days: int | None) -> ir.Table:
    c = attributed_cost(ctx, ctx.days_before(window(ctx, window_days)))
    return rows(c, c.cost)


@unit_metric(
    "precise_reach_rate",
    "acquisition",
    "精准触达率",
    "Precise-reach rate",
    description=f"Share of messages reaching a user who was in the message's target segment "
    f"({REACH_EVENT} events with properties.in_target; events without it are not counted).",
    formula=f"count({REACH_EVENT} with in_target=true) / count({REACH_EVENT} with in_target)",
    window_days=None,
    per_user=False,
    empty=(
        f"暂无触达数据: 旅程发送消息时写入 {REACH_EVENT} 事件(含 in_target)",
        f"no reach data yet: journeys write {REACH_EVENT} events (with in_target)",
    ),
)
def precise_reach_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    e = ctx.facts("events", "ts", ctx.days_before(window(ctx, window_days)))
    e = e.filter(e.name == REACH_EVENT)
    e = e.mutate(hit=ctx.prop_field(e.properties, "in_target").lower())
    e = e.filter(e.hit.notnull())
    return rows(e, ibis.ifelse(e.hit.isin(["true", "1"]), 1, 0))

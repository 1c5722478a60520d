"""Referral metrics: share rate, invites per user, invite conversion, K-factor.

An invite is an `invite` event with `properties.invitee_id`; distinct (inviter, invitee)
pairs count once. It converts when the invitee is a patient registered before `as_of` whose
`referrer_id` is the inviter. K-factor = invites per active user × invite conversion rate
= converted invites / active users.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import flag, per_user, rows, window

SHARE_EVENTS = ("share", "invite")


def invites(ctx: MetricContext, since) -> ir.Table:
    """Distinct (user_id, invitee_id) invites in [since, as_of) with `converted` 0/1."""
    e = ctx.facts("events", "ts", since)
    e = e.filter(e.name == "invite")
    e = e.select(user_id=e.user_id, invitee_id=ctx.prop_field(e.properties, "invitee_id"))
    e = e.filter(e.invitee_id.notnull()).distinct()
    p = ctx.patients()
    p = p.filter(p.referrer_id.notnull()).select(pid=p.user_id, ref=p.referrer_id)
    j = e.left_join(p, (e.invitee_id == p.pid) & (e.user_id == p.ref))
    return j.select(j.user_id, j.invitee_id, converted=ibis.ifelse(j.pid.notnull(), 1, 0))


@unit_metric(
    "share_rate",
    "referral",
    "分享率",
    "Share rate",
    description="Share of users active in the window who shared or invited at least once.",
    formula="active users with a share or invite event in window / active users in window",
    window_days=None,
)
def share_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    e = ctx.facts("events", "ts", since)
    return flag(ctx.active_users(since), e.filter(e.name.isin(SHARE_EVENTS)))


@unit_metric(
    "invites_per_user",
    "referral",
    "人均邀请数",
    "Invites per user",
    unit="per_user",
    description="Distinct invitees invited in the window per user active in it.",
    formula="distinct (inviter, invitee) invites in window / active users in window",
    window_days=None,
)
def invites_per_user(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    inv = invites(ctx, since).mutate(one=ibis.literal(1))
    return per_user(ctx.active_users(since), inv, "one")


@unit_metric(
    "invite_conversion",
    "referral",
    "邀请转化率",
    "Invite conversion",
    description="Share of invites sent in the window whose invitee registered (before as_of) "
    "with the inviter as referrer_id.",
    formula="converted invites / invites in window",
    window_days=None,
    per_user=False,
)
def invite_conversion(ctx: MetricContext, window_days: int | None) -> ir.Table:
    inv = invites(ctx, ctx.days_before(window(ctx, window_days)))
    return rows(inv, inv.converted)


@unit_metric(
    "k_factor",
    "referral",
    "裂变系数(K因子)",
    "K-factor",
    unit="per_user",
    description="Invites per active user × invite conversion: new users brought by each "
    "active user's invitations in the window.",
    formula="invites per user × invite conversion = converted invites / active users",
    window_days=None,
)
def k_factor(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    return per_user(ctx.active_users(since), invites(ctx, since), "converted")

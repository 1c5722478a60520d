"""Value metrics: historical LTV and ROI = (LTV − CAC) / CAC, by channel or layer.

Historical LTV is the paid revenue (refunds excluded) a patient brought before `as_of`.
For ROI every patient carries their channel's lifetime CAC (all spend before `as_of` /
all patients the channel brought), so any breakdown (channel, layer, segment) works.
"""

from __future__ import annotations

from datetime import date

import ibis.expr.types as ir

from careops.metrics.acquisition import attributed_cost
from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import paid_orders, per_user

#: "Lifetime" starts here: before any plausible registration or spend.
LIFETIME_START = date(1900, 1, 1)


@unit_metric(
    "ltv",
    "value",
    "历史LTV",
    "Historical LTV",
    unit="cny",
    description="Paid revenue per patient registered before as_of, over their whole history.",
    formula="sum(paid orders.amount_cny before as_of) / patients registered before as_of",
)
def ltv(ctx: MetricContext) -> ir.Table:
    return per_user(ctx.patients().select("user_id"), paid_orders(ctx), "amount_cny")


@unit_metric(
    "roi",
    "value",
    "投资回报率(ROI)",
    "ROI",
    description="(LTV − CAC) / CAC with historical LTV and lifetime CAC per channel; > 1 is "
    "healthy, > 3 ideal. Undefined for groups that cost nothing (organic only).",
    formula="(sum(LTV) − sum(attributed CAC)) / sum(attributed CAC)",
    per_user=False,
)
def roi(ctx: MetricContext) -> ir.Table:
    cost = attributed_cost(ctx, LIFETIME_START)
    value = per_user(cost.select("user_id"), paid_orders(ctx), "amount_cny")
    c = cost.select(cid=cost.user_id, cost=cost.cost)
    j = value.join(c, value.user_id == c.cid)
    return j.select(user_id=j.user_id, num=j.num - j.cost, den=j.cost)

"""Building blocks for unit metrics: populations, flags and per-user sums as Ibis tables."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from careops.metrics.context import MetricContext


def window(ctx: MetricContext, window_days: int | None) -> int:
    """The look-back in days: the argument, else the `metrics.window_days` setting."""
    return int(window_days or ctx.settings.metrics.window_days)


def flag(population: ir.Table, members: ir.Table) -> ir.Table:
    """`(user_id, num, den)`: den 1 per user of `population`, num 1 if also in `members`."""
    hit = population.user_id.isin(members.user_id)
    return population.select(
        user_id=population.user_id,
        num=ibis.ifelse(hit, 1, 0),
        den=ibis.literal(1),
    )


def per_user(population: ir.Table, values: ir.Table, column: str) -> ir.Table:
    """`(user_id, num, den)`: den 1 per user of `population`, num its `column` sum in `values`."""
    v = values.group_by("user_id").aggregate(val=values[column].sum())
    v = v.select(uid=v.user_id, val=v.val)
    j = population.left_join(v, population.user_id == v.uid)
    return j.select(
        user_id=j.user_id,
        num=ibis.coalesce(j.val.cast("float64"), 0),
        den=ibis.literal(1),
    )


def rows(table: ir.Table, num: ir.Value, den: ir.Value | int = 1) -> ir.Table:
    """`(user_id, num, den)` straight from rows of a fact table.

    Constants are integers cast to float64: PostgreSQL reads a bare `1.0` as NUMERIC.
    """
    den_value = den if isinstance(den, ir.Value) else ibis.literal(int(den))
    return table.select(
        user_id=table.user_id, num=num.cast("float64"), den=den_value.cast("float64")
    )


def paid_orders(ctx: MetricContext, since=None) -> ir.Table:
    """Paid orders before the cut-off (refunded, failed and cancelled ones excluded)."""
    o = ctx.facts("orders", "ts", since)
    return o.filter(o.status == "paid")

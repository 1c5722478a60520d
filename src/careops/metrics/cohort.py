"""Cohort retention table: D-n retention per registration week or month.

Per cohort and n, only members whose day n is over before `as_of` are counted (a young
cohort shows D30 for its older members only, and nothing until the first of them gets there).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

from careops.metrics.breakdown import UNKNOWN, group_order
from careops.metrics.context import MetricContext
from careops.metrics.errors import MetricError
from careops.metrics.registry import Metric, analysis
from careops.metrics.result import CohortResult, CohortRow

GRAINS = ("week", "month")


def cohort_start(day: date, grain: str) -> date:
    """Monday of the week, or first of the month, of `day`."""
    return day - timedelta(days=day.weekday()) if grain == "week" else day.replace(day=1)


def _days(days: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    try:
        values = tuple(int(d) for d in (days.split(",") if isinstance(days, str) else days))
    except ValueError:
        raise MetricError(
            f"days: 应为 1,7,30 这样的天数, 实际 {days!r} / expected day numbers like 1,7,30, "
            f"got {days!r}"
        ) from None
    if not values or any(d < 1 for d in values):
        raise MetricError(f"days: 天数须 >= 1, 实际 {days!r} / need day numbers >= 1, got {days!r}")
    return values


@analysis(
    "cohort_retention",
    "retention",
    "同期群留存",
    "Cohort retention",
    description="D1/D7/D30 retention (exact day n) per registration week or month over the "
    "window; a member counts for day n once that day is over.",
    formula="cohort users active on reg_day + n / cohort users whose day n < as_of",
    grain="week",
    days="1,7,30",
    window_days=182,
)
def cohort_retention(
    ctx: MetricContext,
    metric: Metric,
    groups: ir.Table | None,
    by: str | None,
    *,
    grain: str,
    days: str,
    window_days: int,
) -> CohortResult:
    if grain not in GRAINS:
        raise MetricError(
            f"grain: 应为 {', '.join(GRAINS)} 之一, 实际 {grain!r} / must be one of "
            f"{', '.join(GRAINS)}, got {grain!r}"
        )
    ns = _days(days)
    origin = ctx.as_of
    p = ctx.patients()
    p = p.filter(p.reg_day >= ctx.date_literal(ctx.days_before(int(window_days))))
    if groups is not None:
        g = groups.select(gid=groups.user_id, group=groups.group)
        j = p.left_join(g, p.user_id == g.gid)
        p = j.select(j.user_id, j.reg_day, group=ibis.coalesce(j.group, ibis.literal(UNKNOWN)))
    else:
        p = p.select(p.user_id, p.reg_day, group=ibis.literal(UNKNOWN))
    p = p.mutate(rn=ctx.days_from(p.reg_day, origin))
    a = ctx.active_days(ctx.days_before(int(window_days)))
    a = a.select(aid=a.user_id, dn=a.dn - ctx.day_number_lit())
    # equi-join on the user, then keep days n: a residual condition inside a LEFT join makes
    # some engines fall back to a nested loop
    hits = p.join(a, p.user_id == a.aid)
    hits = hits.mutate(n=hits.dn - hits.rn)
    hits = hits.filter(hits.n.isin(list(ns)))
    flags = hits.group_by("user_id").aggregate(
        **{f"r{n}": ibis.ifelse(hits.n == n, 1, 0).max() for n in ns}
    )
    flags = flags.rename(fid="user_id")
    j = p.left_join(flags, p.user_id == flags.fid)
    per_user = j.select(
        "user_id", "reg_day", "group", **{f"r{n}": ibis.coalesce(j[f"r{n}"], 0) for n in ns}
    )
    per_day = per_user.group_by(["reg_day", "group"]).aggregate(
        size=per_user.user_id.count(),
        **{f"r{n}": per_user[f"r{n}"].sum() for n in ns},
    )
    size: dict[tuple[date, str], int] = defaultdict(int)
    eligible: dict[tuple[date, str, int], int] = defaultdict(int)
    kept: dict[tuple[date, str, int], int] = defaultdict(int)
    for r in per_day.to_pyarrow().to_pylist():
        key = (cohort_start(r["reg_day"], grain), r["group"])
        size[key] += int(r["size"])
        for n in ns:
            if r["reg_day"] + timedelta(days=n) < ctx.as_of:
                eligible[(*key, n)] += int(r["size"])
                kept[(*key, n)] += int(r[f"r{n}"] or 0)
    out = []
    rank = {g: i for i, g in enumerate(group_order(by, {g for _, g in size}))}
    for (start, group), n_users in sorted(size.items(), key=lambda kv: (rank[kv[0][1]], kv[0][0])):
        ret = {
            n: (
                kept[(start, group, n)] / eligible[(start, group, n)]
                if eligible[(start, group, n)]
                else None
            )
            for n in ns
        }
        out.append(
            CohortRow(
                cohort=start,
                group=group if by else None,
                size=n_users,
                retention=ret,
                retained={n: kept[(start, group, n)] for n in ns},
            )
        )
    return CohortResult(
        name=metric.name,
        as_of=ctx.as_of,
        grain=grain,
        days=ns,
        rows=tuple(out),
        by=by,
        params={"grain": grain, "days": list(ns), "window_days": int(window_days)},
    )

"""Experience metrics: NPS, satisfaction, complaint rate, consult first-reply time and SLA."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from careops.metrics.context import MetricContext
from careops.metrics.registry import unit_metric
from careops.metrics.units import rows, window


@unit_metric(
    "nps",
    "experience",
    "净推荐值(NPS)",
    "NPS",
    unit="score",
    scale=100.0,
    description="Net promoter score of NPS survey answers in the window: % promoters "
    "(score >= metrics.nps_promoter_min, 9) minus % detractors (<= nps_detractor_max, 6).",
    formula="100 × (promoters − detractors) / NPS responses in window",
    window_days=None,
    per_user=False,
)
def nps(ctx: MetricContext, window_days: int | None) -> ir.Table:
    s = ctx.facts("surveys", "ts", ctx.days_before(window(ctx, window_days)))
    s = s.filter(s.kind == "nps")
    m = ctx.settings.metrics
    score = ibis.cases(
        (s.score >= m.nps_promoter_min, 1), (s.score <= m.nps_detractor_max, -1), else_=0
    )
    return rows(s, score)


@unit_metric(
    "satisfaction",
    "experience",
    "满意度",
    "Satisfaction",
    description="Share of CSAT answers (1–5) in the window at or above "
    "metrics.csat_satisfied_min (4).",
    formula="CSAT responses with score >= 4 / CSAT responses in window",
    window_days=None,
    per_user=False,
)
def satisfaction(ctx: MetricContext, window_days: int | None) -> ir.Table:
    s = ctx.facts("surveys", "ts", ctx.days_before(window(ctx, window_days)))
    s = s.filter(s.kind == "csat")
    ok = ibis.ifelse(s.score >= ctx.settings.metrics.csat_satisfied_min, 1, 0)
    return rows(s, ok)


@unit_metric(
    "complaint_rate",
    "experience",
    "投诉率",
    "Complaint rate",
    description="Complaint tickets in the window per consultation in the window.",
    formula="complaint tickets in window / consultations in window",
    window_days=None,
    per_user=False,
)
def complaint_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    since = ctx.days_before(window(ctx, window_days))
    t = ctx.facts("tickets", "ts", since)
    t = t.filter(t.kind == "complaint")
    c = ctx.facts("consultations", "started_at", since)
    return ibis.union(rows(t, ibis.literal(1), 0), rows(c, ibis.literal(0), 1), distinct=False)


def _online_replies(ctx: MetricContext, window_days: int | None) -> ir.Table:
    c = ctx.facts("consultations", "started_at", ctx.days_before(window(ctx, window_days)))
    return c.filter((c.mode != "offline") & c.first_reply_s.notnull())


@unit_metric(
    "first_reply_sla_rate",
    "experience",
    "首次回复达标率",
    "First reply within SLA",
    description="Share of online consultations in the window whose first doctor reply came "
    "within metrics.first_reply_sla_s (600 s).",
    formula="online consultations with first_reply_s <= SLA / online consultations with a reply",
    window_days=None,
    per_user=False,
)
def first_reply_sla_rate(ctx: MetricContext, window_days: int | None) -> ir.Table:
    c = _online_replies(ctx, window_days)
    ok = ibis.ifelse(c.first_reply_s <= ctx.settings.metrics.first_reply_sla_s, 1, 0)
    return rows(c, ok)


@unit_metric(
    "first_reply_mean_s",
    "experience",
    "平均首次回复时长",
    "Mean first-reply time",
    unit="seconds",
    description="Mean seconds to the first doctor reply of online consultations in the window.",
    formula="sum(first_reply_s) / online consultations with a reply",
    window_days=None,
    per_user=False,
)
def first_reply_mean_s(ctx: MetricContext, window_days: int | None) -> ir.Table:
    c = _online_replies(ctx, window_days)
    return rows(c, c.first_reply_s)

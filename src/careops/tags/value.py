"""Value tags: RFM scores, health contribution, value tier and spend-based LTV tier.

Scores use fixed cut-offs from settings (not quantiles), so a patient's score does not move
when other patients change and every backend gives the same answer.
"""

from __future__ import annotations

import ibis

from careops.tags.registry import Scope, tag


def _steps(value, cuts, *, ge: bool = True):
    """How many cut-offs `value` reaches (value >= cut, or <= cut when ge is False)."""
    out = ibis.literal(0)
    for cut in cuts:
        out = out + ((value >= cut) if ge else (value <= cut)).ifelse(1, 0)
    return out


@tag(
    "rfm_recency",
    "R评分",
    "RFM recency score",
    "dynamic",
    "int",
    "0 no paid order in tags.rfm_days; else 1 + cut-offs of tags.rfm_recency_days met",
)
def rfm_recency(s: Scope):
    last = s.col("od.last_day")
    days = s.ctx.days_since(last)
    inside = last.notnull() & (days <= s.settings.tags.rfm_days)
    return inside.ifelse(1 + _steps(days, s.settings.tags.rfm_recency_days, ge=False), 0).cast(
        "int64"
    )


@tag(
    "rfm_frequency",
    "F评分",
    "RFM frequency score",
    "dynamic",
    "int",
    "Cut-offs of tags.rfm_frequency reached by paid orders in tags.rfm_days",
)
def rfm_frequency(s: Scope):
    return _steps(s.col("od.rfm_n").fill_null(0), s.settings.tags.rfm_frequency).cast("int64")


@tag(
    "rfm_monetary",
    "M评分",
    "RFM monetary score",
    "dynamic",
    "int",
    "Cut-offs of tags.rfm_monetary_cny reached by paid spend in tags.rfm_days",
)
def rfm_monetary(s: Scope):
    return _steps(s.col("od.rfm_spend").fill_null(0), s.settings.tags.rfm_monetary_cny).cast(
        "int64"
    )


@tag("rfm_score", "RFM总分", "RFM score", "dynamic", "int", "R + F + M (0–15)")
def rfm_score(s: Scope):
    return s.tag("rfm_recency") + s.tag("rfm_frequency") + s.tag("rfm_monetary")


@tag(
    "health_contribution",
    "健康贡献度",
    "Health contribution",
    "dynamic",
    "int",
    "Cut-offs of tags.contribution reached by shares, invites and activities in "
    "tags.need_days (0–3)",
)
def health_contribution(s: Scope):
    return _steps(s.col("ev.contribution").fill_null(0), s.settings.tags.contribution).cast("int64")


@tag("paid_orders", "付费订单数", "Paid orders", "dynamic", "int", "All paid orders before as-of")
def paid_orders(s: Scope):
    return s.col("od.total").fill_null(0)


@tag(
    "spend_cny",
    "累计消费",
    "Total spend (¥)",
    "dynamic",
    "float",
    "Sum of paid orders before as-of, in yuan",
)
def spend(s: Scope):
    return s.col("od.spend").fill_null(0).cast("float64")


@tag(
    "repurchase_confirmed",
    "复购确认",
    "Repurchase confirmed",
    "dynamic",
    "bool",
    "At least tags.repurchase_min_orders paid orders",
)
def repurchase_confirmed(s: Scope):
    return s.tag("paid_orders") >= s.settings.tags.repurchase_min_orders


@tag(
    "high_spend_unconfirmed",
    "高消费待复购确认",
    "High spend, no repurchase yet",
    "dynamic",
    "bool",
    "Spend above value.ltv_high_cny from fewer than tags.repurchase_min_orders orders",
)
def high_spend_unconfirmed(s: Scope):
    return (s.tag("spend_cny") > s.settings.value.ltv_high_cny) & ~s.tag("repurchase_confirmed")


LTV = (
    ("ltv_high", "高LTV(>¥1000)", "LTV high"),
    ("ltv_mid", "中LTV(¥300–1000)", "LTV mid"),
    ("ltv_low", "低LTV(<¥300)", "LTV low"),
)


@tag(
    "ltv_tier",
    "LTV分层",
    "LTV tier",
    "dynamic",
    "category",
    "Spend-based until the LTV model replaces it: > value.ltv_high_cny (repurchase confirmed) "
    "→ ltv_high; ≥ value.ltv_mid_cny → ltv_mid; else ltv_low",
    values=LTV,
)
def ltv_tier(s: Scope):
    spend = s.tag("spend_cny")
    v = s.settings.value
    return ibis.cases(
        ((spend > v.ltv_high_cny) & s.tag("repurchase_confirmed"), "ltv_high"),
        (spend >= v.ltv_mid_cny, "ltv_mid"),
        else_="ltv_low",
    )


VALUE = (
    ("high", "高价值", "High value"),
    ("mid", "中价值", "Mid value"),
    ("low", "低价值", "Low value"),
)


@tag(
    "value",
    "价值",
    "Value",
    "dynamic",
    "category",
    "RFM score + health contribution ≥ tags.value_high_min with repurchase confirmed → high; "
    "≥ tags.value_mid_min (or high but unconfirmed) → mid; else low",
    values=VALUE,
    dimension="value",
)
def value(s: Scope):
    score = s.tag("rfm_score") + s.tag("health_contribution")
    t = s.settings.tags
    return ibis.cases(
        ((score >= t.value_high_min) & s.tag("repurchase_confirmed"), "high"),
        (score >= t.value_mid_min, "mid"),
        else_="low",
    )

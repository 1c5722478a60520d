"""Smart tags (智能标签): model scores as tags, usable in layers, segments, journeys, portraits.

A model's scoring run stores its per-patient scores as of a day in the warehouse table
`smart_<kind>_YYYYMMDD` (`store_scores`; e.g. `careops churn score --as-of D --store`). A tag
computation as of D reads, per kind, the latest such table of a day in
(D − `tags.smart_max_age_days`, D] — never a later one, so a snapshot is replayable — and
patients it does not score, or a kind never scored, get null. Scores are as of their own day
(facts before it); the tag says which day through `<kind>_scored_as_of`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.errors import InvalidInput
from careops.tags.context import TagContext
from careops.tags.families import DECLARED, FAMILIES
from careops.tags.registry import Scope, tag
from careops.tags.value import LTV

#: the churn drivers (`careops.models.churn.drivers.DRIVERS`) as tag values
CHURN_DRIVERS: tuple[tuple[str, str, str], ...] = (
    ("service", "服务体验", "Service experience"),
    ("payment", "支付失败", "Payment failure"),
    ("unmet_need", "需求未满足", "Unmet need"),
    ("need_changed", "需求变化(疗程结束)", "Need changed (episode ended)"),
    ("new_user", "新用户期", "New-user period"),
    ("low_value", "获益不足", "Little value received"),
    ("unknown", "原因不明", "Unknown"),
)

PREFIX = "smart_"

#: per kind of model: the columns its scores table holds (besides user_id)
KINDS: dict[str, dict[str, str]] = {
    "churn": {"churn_score": "int16", "churn_reasons": "string", "churn_driver": "string"},
    "clv": {"predicted_ltv": "float64", "ltv_tier_predicted": "string"},
    "nextneed": {"next_need": "string"},
}
_NAME = re.compile(rf"^{PREFIX}([a-z]+)_(\d{{8}})$")


def table_name(kind: str, as_of: date) -> str:
    return f"{PREFIX}{kind}_{as_of:%Y%m%d}"


def scored_days(con: BaseBackend, kind: str) -> list[date]:
    """The days `kind` was stored for, oldest first."""
    days = []
    for name in con.list_tables():
        m = _NAME.match(name)
        if m and m.group(1) == kind:
            days.append(date(int(m.group(2)[:4]), int(m.group(2)[4:6]), int(m.group(2)[6:])))
    return sorted(days)


def latest_day(con: BaseBackend, kind: str, as_of: date, max_age_days: int) -> date | None:
    """The latest day in (as_of − max_age_days, as_of] that `kind` was stored for."""
    usable = [d for d in scored_days(con, kind) if as_of - timedelta(max_age_days) < d <= as_of]
    return usable[-1] if usable else None


def store_scores(con: BaseBackend, kind: str, as_of: date, scores: pa.Table) -> str:
    """Store the scores of `kind` as of `as_of` (replacing that day's), for the tags to read;
    returns the table name. `scores` holds `user_id` and the kind's columns (others ignored)."""
    from careops.warehouse.store import replace_table

    if kind not in KINDS:
        raise InvalidInput(
            f"未知的智能标签种类 / unknown smart-tag kind {kind!r}; known: {', '.join(KINDS)}"
        )
    columns = {"user_id": "string", **KINDS[kind]}
    missing = [c for c in columns if c not in scores.column_names]
    if missing:
        raise InvalidInput(f"{kind} 评分缺少列 / {kind} scores lack the columns {missing}")
    schema = ibis.schema(columns)
    table = scores.select(list(columns)).cast(schema.to_pyarrow())
    name = table_name(kind, as_of)
    replace_table(con, name, ibis.memtable(table))
    return name


def _family(kind: str) -> Callable[[TagContext], ir.Table]:
    columns = KINDS[kind]

    def build(ctx: TagContext) -> ir.Table:
        day = latest_day(ctx.con, kind, ctx.as_of, ctx.settings.tags.smart_max_age_days)
        if day is None:  # never scored (recently): every patient null
            p = ctx.table("patients")
            t = p.filter(ibis.literal(False)).select(
                user_id=p.user_id,
                **{c: ibis.null().cast(typ) for c, typ in columns.items()},
                scored_as_of=ibis.null().cast("date"),
            )
        else:
            s = ctx.table(table_name(kind, day))
            t = s.select(
                "user_id",
                # a column added to the kind later is null in tables stored before it
                **{
                    c: s[c] if c in s.columns else ibis.null().cast(typ)
                    for c, typ in columns.items()
                },
                scored_as_of=ibis.literal(day, type="date"),
            )
        return t.rename({f"{kind}__{c}": c for c in t.columns})

    return build


for _kind, _cols in KINDS.items():
    FAMILIES[_kind] = _family(_kind)
    DECLARED[_kind] = ibis.schema(
        {f"{_kind}__user_id": "string"}
        | {f"{_kind}__{c}": typ for c, typ in _cols.items()}
        | {f"{_kind}__scored_as_of": "date"}
    )


@tag(
    "churn_score",
    "流失风险分",
    "Churn score",
    "smart",
    "int",
    "0–100: probability of going inactive within the churn model's horizon, stored by a "
    "churn scoring run; null when not scored within tags.smart_max_age_days",
)
def churn_score(s: Scope):
    return s.col("churn.churn_score")


@tag(
    "churn_reasons",
    "流失原因",
    "Churn reasons",
    "smart",
    "string",
    "The top three reasons behind the churn score, in Chinese (the model's own contributions)",
)
def churn_reasons(s: Scope):
    return s.col("churn.churn_reasons")


@tag(
    "churn_driver",
    "流失主因",
    "Churn driver",
    "smart",
    "category",
    "The kind of cause behind the churn score (service, payment, unmet need, need changed, "
    "new user, little value, unknown), from the model's own contributions",
    values=CHURN_DRIVERS,
)
def churn_driver(s: Scope):
    return s.col("churn.churn_driver")


@tag(
    "churn_scored_as_of",
    "流失评分日",
    "Churn scored as of",
    "smart",
    "date",
    "The as-of day of the churn scores the tags use",
)
def churn_scored_as_of(s: Scope):
    return s.col("churn.scored_as_of")


@tag(
    "predicted_ltv",
    "预测LTV(元)",
    "Predicted LTV (CNY)",
    "smart",
    "float",
    "Predicted value over the horizon of a stored CLV scoring run (BG/NBD + Gamma-Gamma)",
)
def predicted_ltv(s: Scope):
    return s.col("clv.predicted_ltv")


@tag(
    "ltv_tier_predicted",
    "预测LTV分层",
    "Predicted LTV tier",
    "smart",
    "category",
    "The LTV tier of the predicted value (> value.ltv_high_cny / ≥ value.ltv_mid_cny / below)",
    values=LTV,
)
def ltv_tier_predicted(s: Scope):
    return s.col("clv.ltv_tier_predicted")


@tag(
    "next_need",
    "下一需求",
    "Next need",
    "smart",
    "string",
    "The service a patient is likely to need next (next-need rules and learned associations)",
)
def next_need(s: Scope):
    return s.col("nextneed.next_need")

"""The churn reason catalogue: a feature's contribution → a plain Chinese phrase with the
patient's own value ("14 天未打开应用", "上次问诊医生回复超时", "服务包权益 90 天内仅用 1 次").

A patient's reasons are the features whose LightGBM contribution (`pred_contrib`, log-odds)
raises their risk the most, in that order, each phrased only when its value says something
(`applies`): a contribution of "days since the app was opened" is phrased "14 天未打开应用"
only when the patient has a value; a missing value has its own phrase ("从未打开应用").
Features with no phrase for the patient's value are passed over, so a reason always reads true.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Value = float | str | None


def _i(v: Value) -> str:
    return f"{round(float(v))}" if v is not None else ""


def _num(v: Value) -> float | None:
    if v is None or isinstance(v, str):
        return None
    return None if math.isnan(float(v)) else float(v)


@dataclass(frozen=True)
class Reason:
    """How one feature reads as a reason: `text(value)` or None when it says nothing."""

    feature: str
    phrase: Callable[[Value], str | None]
    #: (feature, value) the patient must have for this reason to apply (e.g. enrolled = 1)
    needs: tuple[str, float] | None = None


def _days(label: str, never: str | None = None, min_days: int = 1) -> Callable[[Value], str | None]:
    def phrase(v: Value) -> str | None:
        x = _num(v)
        if x is None:
            return never
        return f"{_i(x)} 天{label}" if x >= min_days else None

    return phrase


def _count(template: str, min_value: float = 1) -> Callable[[Value], str | None]:
    def phrase(v: Value) -> str | None:
        x = _num(v)
        return template.format(n=_i(x)) if x is not None and x >= min_value else None

    return phrase


def _low(template: str, max_value: float) -> Callable[[Value], str | None]:
    def phrase(v: Value) -> str | None:
        x = _num(v)
        return template.format(n=_i(x)) if x is not None and x <= max_value else None

    return phrase


def _flag(text: str, when: float = 1) -> Callable[[Value], str | None]:
    return lambda v: text if _num(v) == when else None


def _uses(v: Value) -> str | None:
    x = _num(v)
    return None if x is None or x >= 5 else f"服务包权益 90 天内仅用 {_i(x)} 次"


def _package_left(v: Value) -> str | None:
    x = _num(v)
    return None if x is None or x > 30 else f"服务包 {_i(max(x, 0))} 天后到期"


def _registered(v: Value) -> str | None:
    x = _num(v)
    return None if x is None or x > 60 else f"注册仅 {_i(x)} 天, 尚在新用户易流失期"


def _nps(v: Value) -> str | None:
    x = _num(v)
    return None if x is None or x > 6 else f"近期满意度评分仅 {_i(x)} 分"


def _age(v: Value) -> str | None:
    x = _num(v)
    return None if x is None else f"{_i(x)} 岁人群流失较多"


def _pct(template: str, max_share: float | None = None, min_share: float | None = None):
    def phrase(v: Value) -> str | None:
        x = _num(v)
        if x is None or (max_share is not None and x > max_share):
            return None
        if min_share is not None and x < min_share:
            return None
        return template.format(pct=round(100 * x))

    return phrase


def _trend(v: Value) -> str | None:
    x = _num(v)
    return None if x is None or x >= 0 else f"近 30 天活跃天数比前 30 天少 {_i(-x)} 天"


def _recent(text: str, *, above: float | None = None, below: float | None = None):
    """A decayed score read as a plain fact: present (above) or absent (below)."""

    def phrase(v: Value) -> str | None:
        x = _num(v)
        if x is None:
            return None
        if above is not None:
            return text if x > above else None
        return text if below is not None and x < below else None

    return phrase


CATALOGUE: dict[str, Reason] = {
    r.feature: r
    for r in (
        Reason("registered_days", _registered),
        Reason("days_since_active", _days("未活跃", "注册后从未活跃", 3)),
        Reason("active_days_7d", _low("近 7 天仅活跃 {n} 天", 1)),
        Reason("active_days_30d", _low("近 30 天仅活跃 {n} 天", 2)),
        Reason("active_days_90d", _low("近 90 天仅活跃 {n} 天", 3)),
        Reason("active_days_365d", _low("一年内仅活跃 {n} 天", 12)),
        Reason("active_rate_365d", _pct("注册以来仅 {pct}% 的日子使用过", max_share=0.05)),
        Reason("activity_trend", _trend),
        Reason("days_since_app_open", _days("未打开应用", "从未打开应用", 3)),
        Reason("app_opens_30d", _low("近 30 天仅打开应用 {n} 次", 2)),
        Reason(
            "searches_30d",
            _count("近 30 天搜索 {n} 次但未问诊"),
            needs=("searched_no_consult_30d", 1),
        ),
        Reason(
            "days_since_search",
            _days("前搜索过, 此后未再问诊", None, 1),
            needs=("searched_no_consult_30d", 1),
        ),
        Reason("message_opens_30d", _low("近 30 天未打开消息", 0)),
        Reason("searched_no_consult_30d", _flag("搜索后未问诊(需求未满足)")),
        Reason("consults_90d", _low("近 90 天仅问诊 {n} 次", 1)),
        Reason("days_since_consult", _days("未问诊", "从未问诊", 14)),
        Reason("late_replies_90d", _count("90 天内 {n} 次问诊医生回复超时")),
        Reason("last_consult_late", _flag("上次问诊医生回复超时")),
        Reason("low_ratings_90d", _count("90 天内 {n} 次问诊低评分")),
        Reason("paid_orders_365d", _low("一年内付费订单仅 {n} 笔", 1)),
        Reason("spend_365d", _low("一年内消费仅 ¥{n}", 100)),
        Reason("days_since_order", _days("未下单", "从未付费下单", 30)),
        Reason("refunds_90d", _count("90 天内退款 {n} 次")),
        Reason("failed_payments_90d", _count("90 天内支付失败 {n} 次")),
        Reason("complaints_90d", _count("90 天内投诉 {n} 次")),
        Reason("service_issues_recent", _recent("近期投诉过服务体验", above=0.1)),
        Reason("payment_issues_recent", _recent("近期支付失败", above=0.1)),
        Reason("good_consults_recent", _recent("近期没有满意的问诊", below=0.1)),
        Reason(
            "drug_orders_recent",
            _recent("慢病用药近期未续购", below=0.1),
            needs=("chronic", 1),
        ),
        Reason(
            "entitlement_uses_recent",
            _recent("近期很少使用服务包权益", below=0.5),
            needs=("enrolled", 1),
        ),
        Reason("days_since_complaint", _days("前曾投诉", None, 0)),
        Reason("tickets_90d", _count("90 天内客服工单 {n} 个")),
        Reason("nps_min_90d", _nps),
        Reason("enrolled", _flag("未签约服务包", 0)),
        Reason("package_days_left", _package_left, needs=("enrolled", 1)),
        Reason("entitlement_uses_90d", _uses, needs=("enrolled", 1)),
        Reason(
            "days_since_entitlement_use", _days("未使用服务包权益", None, 14), needs=("enrolled", 1)
        ),
        Reason("chronic", _flag("无慢病管理需求", 0)),
        Reason("age", _age),
        Reason(
            "uncontrolled_share_90d", _pct("近 90 天 {pct}% 的血压/血糖读数未达标", min_share=0.5)
        ),
        Reason("last_department", lambda v: None),
        Reason("sex", lambda v: None),
        Reason("channel", lambda v: f"来自{v}渠道, 该渠道用户流失较多" if v else None),
    )
}


def phrase(name: str, raw: dict[str, np.ndarray], i: int) -> str | None:
    """The phrase of feature `name` for row `i` of `raw`, or None when the patient's value says
    nothing (or the reason needs another value the patient lacks, e.g. a package)."""
    value = raw[name][i]
    if not isinstance(value, str) and value is not None:
        value = None if math.isnan(float(value)) else float(value)
    reason = CATALOGUE[name]
    if reason.needs and _num(raw[reason.needs[0]][i]) != reason.needs[1]:
        return None
    return reason.phrase(value)


def top_reasons(
    contrib: np.ndarray,
    raw: dict[str, np.ndarray],
    names: list[str],
    *,
    top: int = 3,
) -> list[list[str]]:
    """For each row of `contrib` (n × features, the bias column dropped), the phrases of the
    `top` features that raise the risk most (positive contribution), each true of the patient
    (`drivers.explain_rows` gives them with the driver, in the same pass)."""
    from careops.models.churn.drivers import explain_rows

    return explain_rows(contrib, raw, names, top=top)[0]

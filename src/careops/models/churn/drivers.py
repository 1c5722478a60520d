"""Churn drivers: the kind of cause behind a patient's churn risk, from the model's own
per-patient contributions (LightGBM `pred_contrib`, SHAP values of the trees).

Every feature belongs to one driver (`FEATURE_DRIVER`):

| driver | features (what a hospital observes) |
|---|---|
| `service` 服务体验 | late replies, low ratings, complaints about the service, refunds, low NPS |
| `payment` 支付失败 | failed payments, complaints about a failed payment |
| `unmet_need` 需求未满足 | searched without a consultation or order |
| `need_changed` 需求变化 | consultations stopped (the episode ended) |
| `new_user` 新用户期 | days since registration |
| `low_value` 获益不足 | package unused or ending, no good consult, no refills, readings high |
| `unknown` 原因不明 | activity itself (a symptom, not a cause); who the patient is; spend |

A patient's driver is the driver whose features add the most log-odds to their risk, counting
only positive contributions of features whose reason phrase is true of the patient (the
`reasons.CATALOGUE` phrase applies: "searched 0 times" raising the risk is not an unmet need),
among the `DEPTH` largest; named when that sum reaches `MIN_LOGIT`, otherwise `unknown`.
Activity and profile features never name a driver: "went quiet" is what churn is, not why; how
much a patient buys is who they are, not what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from careops.models.churn.reasons import phrase

#: driver codes, in display order (labels: `careops.labels` `churn_driver.<code>`)
DRIVERS: tuple[str, ...] = (
    "service",
    "payment",
    "unmet_need",
    "need_changed",
    "new_user",
    "low_value",
    "unknown",
)
UNKNOWN = "unknown"
#: the least log-odds a driver's features must add to name it (0.1 ≈ odds × 1.1)
MIN_LOGIT = 0.1
#: how many of a patient's largest positive contributions are read
DEPTH = 8

_GROUPS: dict[str, tuple[str, ...]] = {
    "service": (
        "late_replies_90d",
        "last_consult_late",
        "low_ratings_90d",
        "complaints_90d",
        "days_since_complaint",
        "service_issues_recent",
        "refunds_90d",
        "tickets_90d",
        "nps_min_90d",
    ),
    "payment": ("failed_payments_90d", "payment_issues_recent"),
    "unmet_need": ("searches_30d", "days_since_search", "searched_no_consult_30d"),
    "need_changed": ("days_since_consult", "consults_90d"),
    "new_user": ("registered_days",),
    "low_value": (
        "enrolled",
        "package_days_left",
        "entitlement_uses_90d",
        "days_since_entitlement_use",
        "entitlement_uses_recent",
        "good_consults_recent",
        "drug_orders_recent",
        "uncontrolled_share_90d",
    ),
    UNKNOWN: (
        "days_since_active",
        "active_days_7d",
        "active_days_30d",
        "active_days_90d",
        "active_days_365d",
        "active_rate_365d",
        "activity_trend",
        "days_since_app_open",
        "app_opens_30d",
        "message_opens_30d",
        "paid_orders_365d",
        "spend_365d",
        "days_since_order",
        "chronic",
        "age",
        "last_department",
        "sex",
        "channel",
    ),
}
#: feature → driver
FEATURE_DRIVER: dict[str, str] = {f: d for d, fs in _GROUPS.items() for f in fs}


@dataclass(frozen=True)
class Drivers:
    """Per patient: the driver (code) and the log-odds each driver's features add (n × drivers,
    positive contributions only, in `DRIVERS` order)."""

    driver: np.ndarray
    weight: np.ndarray

    def counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        d = self.driver if mask is None else self.driver[mask]
        return {code: int((d == code).sum()) for code in DRIVERS}


def explain_rows(
    contrib: np.ndarray,
    raw: dict[str, np.ndarray],
    names: list[str],
    *,
    top: int = 3,
    min_logit: float = MIN_LOGIT,
) -> tuple[list[list[str]], Drivers]:
    """In one pass over each patient's largest positive contributions (`contrib`: n × features,
    the bias column dropped): the `top` reason phrases (what `churn score` and the
    `churn_reasons` tag show) and the driver (see the module docstring)."""
    if contrib.shape[1] != len(names):
        raise ValueError(f"{contrib.shape[1]} contribution columns for {len(names)} features")
    n = contrib.shape[0]
    column = np.array([DRIVERS.index(FEATURE_DRIVER[name]) for name in names])
    unknown = DRIVERS.index(UNKNOWN)
    weight = np.zeros((n, len(DRIVERS)))
    order = np.argsort(-contrib, axis=1, kind="stable")
    reasons: list[list[str]] = []
    for i in range(n):
        phrases: list[str] = []
        for k, j in enumerate(order[i]):
            c = contrib[i, j]
            if c <= 0 or (k >= DEPTH and len(phrases) == top):
                break
            text = phrase(names[j], raw, i)
            if not text:
                continue
            if k < DEPTH:
                weight[i, column[j]] += c
            if len(phrases) < top and text not in phrases:
                phrases.append(text)
        reasons.append(phrases)
    causes = weight.copy()
    causes[:, unknown] = -np.inf
    best = causes.argmax(axis=1) if n else np.zeros(0, dtype=int)
    strong = causes[np.arange(n), best] >= min_logit
    codes = np.array(DRIVERS, dtype=object)
    return reasons, Drivers(np.where(strong, codes[best], UNKNOWN), weight)

"""`careops clv fit`: BG/NBD (and Gamma-Gamma with amounts) on any transaction log, with an
honest holdout check beside a naive baseline.

Calibration covers purchases on or before `calibration_end` (inclusive); the holdout covers
(calibration_end, holdout_end]. Time is counted in whole days and expressed in the unit asked
(week = 7 days). The naive baseline predicts each customer's holdout purchases from their own
calibration rate, x / T × holdout length (0 for a customer first seen on the last day).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from careops.errors import InvalidInput
from careops.models.clv.bgnbd import BetaGeo
from careops.models.clv.gammagamma import GammaGamma, frequency_spend_correlation
from careops.models.clv.summary import Summary, holdout_counts, summarise
from careops.models.clv.transactions import TransactionLog, day_number

Unit = Literal["week", "day"]
UNIT_DAYS: dict[str, int] = {"week": 7, "day": 1}
#: below this many repeat customers the fit gets a note that it is unstable
FEW_REPEATERS = 30


@dataclass(frozen=True)
class Holdout:
    """Per-customer actual vs predicted repeat purchases in the holdout period."""

    length: float
    customers: int
    actual_total: int
    predicted_total: float
    naive_total: float
    mae: float
    naive_mae: float


@dataclass(frozen=True)
class SpendFit:
    """The Gamma-Gamma fit on customers with repeat purchases of positive value."""

    customers: int
    log_likelihood: float
    mean_spend: float | None
    frequency_spend_correlation: float


@dataclass(frozen=True)
class FitReport:
    """What `careops clv fit` prints; `to_dict` is its JSON."""

    params: dict[str, float]
    log_likelihood: float
    unit: str
    customers: int
    repeat_customers: int
    first_day: date
    calibration_end: date
    holdout_end: date | None
    holdout: Holdout | None = None
    spend: SpendFit | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "log_likelihood": self.log_likelihood,
            "holdout": None if self.holdout is None else asdict(self.holdout),
            "spend": None if self.spend is None else asdict(self.spend),
            "unit": self.unit,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "first_day": self.first_day.isoformat(),
            "calibration_end": self.calibration_end.isoformat(),
            "holdout_end": None if self.holdout_end is None else self.holdout_end.isoformat(),
            "notes": self.notes,
        }


def check_periods(
    log: TransactionLog, calibration_end: date, holdout_end: date | None, today: date
) -> None:
    """Refuse periods that cannot be evaluated, naming the option."""
    if calibration_end > today:
        raise InvalidInput(
            f"calibration_end {calibration_end} 在未来 / is in the future (today is {today})",
            field="calibration_end",
        )
    if calibration_end < log.first_day:
        raise InvalidInput(
            f"calibration_end {calibration_end} 早于第一笔交易 / is before the first purchase "
            f"({log.first_day}); nothing to calibrate on",
            field="calibration_end",
        )
    if holdout_end is not None:
        if holdout_end <= calibration_end:
            raise InvalidInput(
                f"holdout_end {holdout_end} 必须晚于 calibration_end / must be after "
                f"calibration_end {calibration_end}",
                field="holdout_end",
            )
        if holdout_end > today:
            raise InvalidInput(
                f"holdout_end {holdout_end} 在未来 / is in the future (today is {today}): the "
                "holdout must be observed",
                field="holdout_end",
            )


def fit_spend(summary: Summary) -> tuple[GammaGamma, SpendFit] | None:
    """Gamma-Gamma on customers with repeat purchases of positive mean value (None if < 2)."""
    if summary.spend_mean is None or summary.spend_n is None:
        return None
    use = (summary.spend_n > 0) & (summary.spend_mean > 0)
    if use.sum() < 2:
        return None
    n, m = summary.spend_n[use], summary.spend_mean[use]
    model = GammaGamma().fit(n, m)
    mean = model.params.mean_spend
    return model, SpendFit(
        customers=int(use.sum()),
        log_likelihood=float(model.log_likelihood_ or 0.0),
        mean_spend=None if mean is None else float(mean),
        frequency_spend_correlation=frequency_spend_correlation(n, m),
    )


def evaluate_holdout(
    model: BetaGeo,
    summary: Summary,
    log: TransactionLog,
    end_day: int,
    holdout_end: date,
    unit_days: int,
) -> Holdout:
    """Actual vs predicted repeat purchases per calibration customer over the holdout."""
    stop = day_number(holdout_end)
    actual = holdout_counts(summary, log.customer, log.day, start_day=end_day, end_day=stop)
    length = (stop - end_day) / unit_days
    predicted = model.expected_purchases(length, summary.x, summary.t_x, summary.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        naive = np.where(summary.T > 0, summary.x / summary.T * length, 0.0)
    return Holdout(
        length=float(length),
        customers=len(summary),
        actual_total=int(actual.sum()),
        predicted_total=float(predicted.sum()),
        naive_total=float(naive.sum()),
        mae=float(np.mean(np.abs(actual - predicted))),
        naive_mae=float(np.mean(np.abs(actual - naive))),
    )


def fit_log(
    log: TransactionLog,
    *,
    calibration_end: date,
    holdout_end: date | None = None,
    unit: Unit = "week",
    today: date,
) -> FitReport:
    """Fit BG/NBD (and Gamma-Gamma when the log has amounts) on the calibration period and,
    with `holdout_end`, score the holdout beside the naive baseline."""
    if unit not in UNIT_DAYS:
        raise InvalidInput(f"unit {unit!r}: expected week or day", field="unit")
    check_periods(log, calibration_end, holdout_end, today)
    unit_days = UNIT_DAYS[unit]
    end_day = day_number(calibration_end)
    summary = summarise(log.customer, log.day, log.amount, end_day=end_day, unit_days=unit_days)
    if not (summary.x > 0).any():
        raise InvalidInput(
            f"每位客户在 {calibration_end} 前都只购买过一次 / every customer bought only once on "
            f"or before calibration_end {calibration_end} ({len(summary)} customers): BG/NBD "
            "needs repeat purchases; choose a later calibration end or a longer log"
        )
    model = BetaGeo().fit(summary.x, summary.t_x, summary.T)
    params = model.params.as_dict()
    notes: list[str] = []
    repeaters = int((summary.x > 0).sum())
    if repeaters < FEW_REPEATERS:
        notes.append(
            f"仅 {repeaters} 位客户复购, 参数估计不稳定 / only {repeaters} customers made a repeat "
            "purchase: the estimates are unstable"
        )
    if model.at_bound_:
        notes.append(
            "BG/NBD 参数触及边界, 数据不足以确定 / a BG/NBD parameter hit its bound (e^±12): the "
            "data do not pin it down"
        )
    spend = None
    if log.amount is not None:
        fitted = fit_spend(summary)
        if fitted is None:
            notes.append(
                "消费模型未拟合: 复购且金额 > 0 的客户少于 2 位 / spend model not fitted: fewer "
                "than 2 customers with repeat purchases of positive value"
            )
        else:
            gg, spend = fitted
            params |= gg.params.as_dict()
            if gg.at_bound_:
                notes.append(
                    "消费模型参数触及边界 / a spend-model parameter hit its bound (e^±12): "
                    "spend per purchase barely varies within a customer"
                )
            if abs(spend.frequency_spend_correlation) > 0.3:
                notes.append(
                    f"购买频次与客单价相关 {spend.frequency_spend_correlation:.2f}: Gamma-Gamma "
                    "假设二者独立 / purchase frequency and spend per purchase correlate; the "
                    "Gamma-Gamma model assumes they are independent"
                )
    holdout = None
    if holdout_end is not None:
        if log.last_day <= calibration_end:
            notes.append(
                f"交易记录止于 {log.last_day}, 留出期没有数据 / the log ends on {log.last_day}: "
                "no purchases after calibration_end"
            )
        holdout = evaluate_holdout(model, summary, log, end_day, holdout_end, unit_days)
    return FitReport(
        params=params,
        log_likelihood=float(model.log_likelihood_ or 0.0),
        unit=unit,
        customers=len(summary),
        repeat_customers=int((summary.x > 0).sum()),
        first_day=log.first_day,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        holdout=holdout,
        spend=spend,
        notes=notes,
    )

"""`careops clv score`: predicted value per patient from the warehouse's paid orders, as of a
date, and per acquisition channel mean LTV, CAC and ROI.

Data (one Ibis query, any backend): every patient registered before `as_of` with their channel,
registration day, purchase days (paid orders before the cut-off, several orders on one local
day = one purchase), first and last purchase day, total spend and spend in the last 365 days.
Only orders before the as-of cut-off count (`careops.asof`), so a score can be replayed for any
past day without leakage.

Two BG/NBD variants are fitted side by side:

- `first_purchase` — the published model, the reference: a patient enters at their first paid
  purchase (x = purchase days − 1); patients who never paid get no prediction (value 0).
- `registration` — the patient enters at registration and every purchase day counts (x =
  purchase days, T from registration): patients who have not bought yet get a prediction too,
  which is most of a hospital's users. Chosen by default because on the simulator it tracks the
  true future spend more closely (see docs/models.md).

Spend per purchase is Gamma-Gamma on each buyer's mean purchase-day value; value over the
horizon = expected purchases × expected spend per purchase (optionally discounted month by month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import ibis
import numpy as np
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.config import Settings, get_settings
from careops.errors import InvalidInput
from careops.models.clv.bgnbd import BetaGeo
from careops.models.clv.gammagamma import GammaGamma
from careops.models.clv.segmented import (
    SEGMENT_BY,
    SegmentBy,
    SegmentReport,
    fit_segments,
    segment_labels,
)
from careops.warehouse import time as wtime

Origin = Literal["registration", "first_purchase"]
ORIGINS: tuple[Origin, ...] = ("registration", "first_purchase")
#: discounting steps (days) when a discount rate is given
STEP_DAYS = 30
MAX_HORIZON_DAYS = 3650
#: (code, 中文, English) of the ROI bands of SPEC §4
ROI_BANDS = (
    ("ideal", "理想(>3)", "ideal (> 3)"),
    ("healthy", "健康(>1)", "healthy (> 1)"),
    ("low", "偏低(≤1)", "low (≤ 1)"),
)


class ClvError(InvalidInput):
    """The warehouse cannot be scored as asked (no patients, no repeat purchases, bad horizon)."""


@dataclass(frozen=True)
class Customers:
    """The per-patient inputs, as numpy arrays in user order."""

    user_id: np.ndarray
    channel: np.ndarray
    reg_day: np.ndarray
    purchases: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    spend: np.ndarray
    spend_365d: np.ndarray
    end_day: int  # the last full local day before the cut-off

    def __len__(self) -> int:
        return len(self.user_id)

    def rfm(self, origin: Origin) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(modelled, x, t_x, T) in days for `origin`; `modelled` marks who the model covers."""
        bought = self.purchases > 0
        if origin == "first_purchase":
            start = np.where(bought, self.first_day, self.end_day)
            x = np.maximum(self.purchases - 1, 0)
            modelled = bought
        else:
            start = np.where(bought, np.minimum(self.reg_day, self.first_day), self.reg_day)
            start = np.minimum(start, self.end_day)
            x = self.purchases
            modelled = np.ones(len(self), dtype=bool)
        t_x = np.where(x > 0, self.last_day - start, 0)
        T = self.end_day - start
        return modelled, x.astype(np.float64), t_x.astype(np.float64), T.astype(np.float64)


def customers_query(frame: AsOf) -> ibis.Table:
    """The per-patient aggregate as one Ibis expression (see the module docstring)."""
    o = frame.facts("orders", "ts")
    o = o.filter(o.status == "paid")
    daily = o.group_by(user_id=o.user_id, dn=frame.day_number(o.ts)).aggregate(
        amount=o.amount_cny.sum()
    )
    year_start = frame.day_number_lit(365)
    per = daily.group_by("user_id").aggregate(
        purchases=daily.dn.count(),
        first_day=daily.dn.min(),
        last_day=daily.dn.max(),
        spend=daily.amount.sum(),
        spend_365d=daily.amount.sum(where=daily.dn >= year_start),
    )
    p = frame.facts("patients", "registered_at")
    p = p.select(
        pid=p.user_id,
        channel=ibis.coalesce(p.source_channel, "unknown"),
        reg_day=frame.day_number(p.registered_at),
    )
    j = p.left_join(per, p.pid == per.user_id)
    return j.select(
        user_id=j.pid,
        channel=j.channel,
        reg_day=j.reg_day.cast("int64"),
        purchases=ibis.coalesce(j.purchases, 0).cast("int64"),
        first_day=ibis.coalesce(j.first_day, j.reg_day).cast("int64"),
        last_day=ibis.coalesce(j.last_day, j.reg_day).cast("int64"),
        spend=ibis.coalesce(j.spend, 0).cast("float64"),
        spend_365d=ibis.coalesce(j.spend_365d, 0).cast("float64"),
    ).order_by("user_id")


def load_customers(frame: AsOf) -> Customers:
    """Run `customers_query` and hand the columns to numpy."""
    t = customers_query(frame).to_pyarrow()

    def col(name: str, dtype=None) -> np.ndarray:
        arr = t.column(name).to_numpy()
        return arr if dtype is None else arr.astype(dtype)

    return Customers(
        user_id=col("user_id"),
        channel=col("channel"),
        reg_day=col("reg_day", np.int64),
        purchases=col("purchases", np.int64),
        first_day=col("first_day", np.int64),
        last_day=col("last_day", np.int64),
        spend=col("spend", np.float64),
        spend_365d=col("spend_365d", np.float64),
        end_day=wtime.day_number_of(frame.as_of) - 1,
    )


def marketing_spend(frame: AsOf) -> dict[str, float]:
    """Marketing spend per channel before `as_of` (yuan)."""
    s = frame.table("marketing_spend")
    s = s.filter(s.date < frame.day_lit())
    rows = s.group_by("channel").aggregate(amount=s.amount_cny.sum()).to_pyarrow().to_pylist()
    return {r["channel"]: float(r["amount"] or 0) for r in rows if r["channel"] is not None}


@dataclass(frozen=True)
class ModelFit:
    """One variant's fitted models and what they say per patient."""

    origin: Origin
    bgnbd: BetaGeo
    spend: GammaGamma
    expected_purchases: np.ndarray
    p_alive: np.ndarray
    spend_per_purchase: np.ndarray
    predicted_value: np.ndarray

    def params(self) -> dict[str, float]:
        return self.bgnbd.params.as_dict() | self.spend.params.as_dict()


def _discounted_purchases(
    model: BetaGeo, horizon: int, annual_rate: float, x, t_x, T
) -> np.ndarray:
    """Expected purchases over `horizon` days, each 30-day step discounted at `annual_rate`."""
    if annual_rate == 0:
        return model.expected_purchases(horizon, x, t_x, T)
    total = np.zeros(len(x))
    previous = np.zeros(len(x))
    for end in [*range(STEP_DAYS, horizon, STEP_DAYS), horizon]:
        cumulative = model.expected_purchases(end, x, t_x, T)
        total += (cumulative - previous) / (1 + annual_rate) ** (end / 365)
        previous = cumulative
    return total


@dataclass(frozen=True)
class SpendModel:
    """Gamma-Gamma on every paying patient's mean purchase-day value, and each patient's
    expected value of a future purchase (the population mean for those who have not paid)."""

    model: GammaGamma
    per_purchase: np.ndarray


def fit_spend_model(customers: Customers) -> SpendModel:
    """Fit the spend model once; both BG/NBD variants share it."""
    buyers = customers.purchases > 0
    n = customers.purchases[buyers].astype(np.float64)
    m = customers.spend[buyers] / n
    positive = m > 0
    if positive.sum() < 2:
        raise ClvError(
            "付费患者少于 2 位, 无法拟合消费模型 / fewer than two patients with paid orders of "
            "positive amount: the spend model cannot be fitted"
        )
    model = GammaGamma().fit(n[positive], m[positive])
    own = np.zeros(len(customers))
    count = np.zeros(len(customers))
    own[buyers] = m
    count[buyers] = n
    return SpendModel(model, model.expected_spend(count, own))


def check_repeat(customers: Customers, origin: Origin):
    """`customers.rfm(origin)`, refused when nobody has a repeat purchase to learn from."""
    modelled, x, t_x, T = customers.rfm(origin)
    if not (x[modelled] > 0).any():
        raise ClvError(
            "没有患者复购, 无法拟合 BG/NBD / no patient has a repeat purchase before as_of: "
            "BG/NBD needs some patients with two or more paid purchase days"
        )
    return modelled, x, t_x, T


def fit_variant(
    customers: Customers,
    origin: Origin,
    horizon_days: int,
    discount_rate: float = 0.0,
    spend: SpendModel | None = None,
) -> ModelFit:
    """Fit BG/NBD (`origin`) (and the spend model unless given), and predict every patient's
    value."""
    modelled, x, t_x, T = check_repeat(customers, origin)
    spend = spend or fit_spend_model(customers)
    xm, tm, Tm = x[modelled], t_x[modelled], T[modelled]
    bgnbd = BetaGeo().fit(xm, tm, Tm)
    purchases = np.zeros(len(customers))
    alive = np.full(len(customers), np.nan)  # not modelled: unknown, not "gone"
    purchases[modelled] = bgnbd.expected_purchases(horizon_days, xm, tm, Tm)
    alive[modelled] = bgnbd.p_alive(xm, tm, Tm)
    discounted = purchases
    if discount_rate:
        discounted = np.zeros(len(customers))
        discounted[modelled] = _discounted_purchases(bgnbd, horizon_days, discount_rate, xm, tm, Tm)
    return ModelFit(
        origin=origin,
        bgnbd=bgnbd,
        spend=spend.model,
        expected_purchases=purchases,
        p_alive=alive,
        spend_per_purchase=spend.per_purchase,
        predicted_value=discounted * spend.per_purchase,
    )


def ltv_tiers(value: np.ndarray, settings: Settings) -> np.ndarray:
    """ltv_high (> value.ltv_high_cny), ltv_mid (≥ value.ltv_mid_cny), ltv_low, by value."""
    v = settings.value
    return np.where(
        value > v.ltv_high_cny, "ltv_high", np.where(value >= v.ltv_mid_cny, "ltv_mid", "ltv_low")
    )


def roi_band(roi: float | None) -> str | None:
    """SPEC §4: > 3 ideal, > 1 healthy, else low (None without a CAC)."""
    if roi is None:
        return None
    return "ideal" if roi > 3 else "healthy" if roi > 1 else "low"


@dataclass(frozen=True)
class ChannelValue:
    """One acquisition channel: lifetime value per patient (spend so far + predicted over the
    horizon), CAC = marketing spend before as_of / patients it brought, ROI = (LTV − CAC)/CAC."""

    channel: str
    users: int
    mean_spend_to_date: float
    mean_predicted_value: float
    mean_ltv: float
    marketing_spend: float
    cac: float | None
    roi: float | None
    band: str | None


def channel_values(
    customers: Customers, predicted: np.ndarray, spend: dict[str, float]
) -> list[ChannelValue]:
    """Per channel, largest first (vectorised: one bincount per figure)."""
    names, code = np.unique(customers.channel.astype(str), return_inverse=True)
    code = code.ravel()
    users = np.bincount(code, minlength=len(names))
    to_date = np.bincount(code, weights=customers.spend, minlength=len(names))
    future = np.bincount(code, weights=predicted, minlength=len(names))
    out = []
    for i, name in enumerate(names):
        n = int(users[i])
        ltv = (to_date[i] + future[i]) / n
        cost = spend.get(str(name), 0.0)
        cac = cost / n if cost > 0 else None
        roi = (ltv - cac) / cac if cac else None
        out.append(
            ChannelValue(
                channel=str(name),
                users=n,
                mean_spend_to_date=float(to_date[i] / n),
                mean_predicted_value=float(future[i] / n),
                mean_ltv=float(ltv),
                marketing_spend=float(cost),
                cac=None if cac is None else float(cac),
                roi=None if roi is None else float(roi),
                band=roi_band(roi),
            )
        )
    return sorted(out, key=lambda c: (-c.users, c.channel))


@dataclass(frozen=True)
class ClvScores:
    """`careops clv score`'s answer: per-patient `table`, the fits, per-channel value."""

    as_of: date
    horizon_days: int
    origin: Origin
    discount_rate: float
    table: pa.Table
    params: dict[str, dict[str, float]]
    log_likelihood: dict[str, float]
    channels: list[ChannelValue]
    tiers: dict[str, int]
    patients: int
    buyers: int
    total_predicted_value: float
    segments: SegmentReport | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of the summary (per-patient rows go to a file with --out)."""
        from dataclasses import asdict

        return {
            "as_of": self.as_of.isoformat(),
            "horizon_days": self.horizon_days,
            "origin": self.origin,
            "discount_rate": self.discount_rate,
            "patients": self.patients,
            "buyers": self.buyers,
            "total_predicted_value": self.total_predicted_value,
            "tiers": self.tiers,
            "params": self.params,
            "log_likelihood": self.log_likelihood,
            "channels": [asdict(c) for c in self.channels],
            "segments": None if self.segments is None else self.segments.to_dict(),
            "notes": self.notes,
        }


def check_options(
    horizon_days: int, discount_rate: float, origin: str = "registration", segment_by: str = "none"
) -> None:
    """Refuse options out of range, naming the flag (before any warehouse is opened)."""
    check_horizon(horizon_days, discount_rate)
    if origin not in ORIGINS:
        raise ClvError(
            f"origin {origin!r}: expected registration or first_purchase", field="origin"
        )
    if segment_by not in SEGMENT_BY:
        raise ClvError(
            f"segment_by {segment_by!r}: expected none, chronic or channel", field="segment_by"
        )


def check_horizon(horizon_days: int, discount_rate: float) -> None:
    if not isinstance(horizon_days, int) or not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise ClvError(
            f"horizon_days {horizon_days!r}: 需为 1–{MAX_HORIZON_DAYS} 的整数 / expected a whole "
            f"number of days from 1 to {MAX_HORIZON_DAYS}",
            field="horizon_days",
        )
    if not (np.isfinite(discount_rate) and 0 <= discount_rate < 1):
        raise ClvError(
            f"discount_rate {discount_rate!r}: 需在 [0, 1) / expected an annual rate in [0, 1)",
            field="discount_rate",
        )


def score_clv(
    con: BaseBackend,
    as_of: date,
    *,
    horizon_days: int = 365,
    origin: Origin = "registration",
    discount_rate: float = 0.0,
    segment_by: SegmentBy = "none",
    settings: Settings | None = None,
) -> ClvScores:
    """Fit both BG/NBD variants and Gamma-Gamma on paid orders before `as_of`; per-patient
    value over `horizon_days` from the `origin` variant (segmented by `segment_by` when the
    segments differ significantly); per-channel LTV, CAC and ROI."""
    settings = settings or get_settings()
    check_options(horizon_days, discount_rate, origin, segment_by)
    frame = AsOf(con, as_of, settings)
    frame.validate()
    customers = load_customers(frame)
    if len(customers) == 0:
        raise ClvError(f"as_of {as_of}: 没有患者 / no patient registered before as_of")
    return score_customers(
        customers,
        as_of,
        marketing_spend(frame),
        horizon_days=horizon_days,
        origin=origin,
        discount_rate=discount_rate,
        labels=segment_labels(con, as_of, customers, segment_by, settings),
        segment_by=segment_by,
        settings=settings,
    )


def score_customers(
    customers: Customers,
    as_of: date,
    spend_by_channel: dict[str, float],
    *,
    horizon_days: int = 365,
    origin: Origin = "registration",
    discount_rate: float = 0.0,
    labels: np.ndarray | None = None,
    segment_by: str = "none",
    settings: Settings | None = None,
) -> ClvScores:
    """The numpy part of `score_clv`, on per-patient arrays already loaded (`labels`: the
    segment of each patient for the segmented BG/NBD)."""
    settings = settings or get_settings()
    check_repeat(customers, origin)
    spend = fit_spend_model(customers)
    chosen = fit_variant(customers, origin, horizon_days, discount_rate, spend)
    fits = {origin: chosen}
    notes = []
    for other in ORIGINS:
        if other != origin:
            try:  # the other variant is reported beside the chosen one when it can be fitted
                fits[other] = fit_variant(customers, other, horizon_days, discount_rate, spend)
            except ClvError as exc:
                notes.append(f"{other}: {exc}")
    segments = None
    if labels is not None:
        segmented, segments = fit_segments(
            customers, origin, labels, horizon_days, discount_rate, chosen, segment_by
        )
        if segments.used:
            chosen = segmented
        else:
            notes.append(
                f"按 {segment_by} 分组的模型与整体模型无显著差异 (LR p = {segments.p_value:.3g}), "
                f"沿用整体模型 / segments by {segment_by} do not differ significantly: the pooled "
                "model is used"
            )
    tiers = ltv_tiers(chosen.predicted_value, settings)
    table = pa.table(
        {
            "user_id": pa.array(customers.user_id, pa.string()),
            "predicted_value": np.round(chosen.predicted_value, 2),
            "expected_purchases": np.round(chosen.expected_purchases, 4),
            "p_alive": pa.array(np.round(chosen.p_alive, 4), from_pandas=True),  # NaN → null
            "ltv_tier": pa.array(tiers, pa.string()),
        }
    )
    labels, counts = np.unique(tiers, return_counts=True)
    orphan = sorted(set(spend_by_channel) - set(customers.channel.astype(str)))
    for name in orphan:
        notes.append(
            f"渠道 {name} 投放 ¥{spend_by_channel[name]:,.0f} 但无注册患者 / channel {name} spent "
            f"¥{spend_by_channel[name]:,.0f} before as_of and brought no patient (CAC undefined)"
        )
    if chosen.spend.at_bound_:
        notes.append(
            "消费模型参数触及边界: 同一患者每次消费金额几乎不变, 预测主要依据其自身均值 / the "
            "spend model hit a parameter bound: spend per purchase barely varies within a "
            "patient, so each patient's own mean is trusted"
        )
    if chosen.bgnbd.at_bound_:
        notes.append(
            "BG/NBD 参数触及边界, 数据不足以确定 / a BG/NBD parameter hit its bound: the data "
            "do not pin it down"
        )
    if origin == "first_purchase":
        unmodelled = int((customers.purchases == 0).sum())
        if unmodelled:
            notes.append(
                f"{unmodelled} 位患者尚未付费, 首购起点模型不预测 (预测值 0) / {unmodelled} "
                "patients have not paid yet: the first-purchase model does not predict them"
            )
    return ClvScores(
        as_of=as_of,
        horizon_days=horizon_days,
        origin=origin,
        discount_rate=discount_rate,
        table=table,
        params={o: f.params() for o, f in fits.items()},
        log_likelihood={o: float(f.bgnbd.log_likelihood_ or 0.0) for o, f in fits.items()},
        channels=channel_values(customers, chosen.predicted_value, spend_by_channel),
        tiers={k: int(counts[labels == k].sum()) for k in ("ltv_high", "ltv_mid", "ltv_low")},
        patients=len(customers),
        buyers=int((customers.purchases > 0).sum()),
        total_predicted_value=float(chosen.predicted_value.sum()),
        segments=segments,
        notes=notes,
    )

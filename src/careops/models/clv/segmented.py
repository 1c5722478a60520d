"""BG/NBD with a covariate: one fit per segment of patients (chronic patients and the others, or
each acquisition channel), used instead of the pooled fit only when a likelihood-ratio test says
the segments buy and drop out differently.

LR = 2 (Σ LL_segment − LL_pooled) ~ χ² with 4 (k − 1) degrees of freedom (each segment has its
own r, α, a, b). A segment with fewer than `MIN_REPEAT` repeat buyers keeps the pooled
parameters (and adds no degrees of freedom). Spend per purchase stays the pooled Gamma-Gamma.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy.stats import chi2

from careops.models.clv.bgnbd import BetaGeo, log_likelihood

SegmentBy = Literal["none", "chronic", "channel"]
SEGMENT_BY: tuple[SegmentBy, ...] = ("none", "chronic", "channel")
#: repeat buyers a segment needs for its own parameters
MIN_REPEAT = 30
#: the segmented fit replaces the pooled one below this p-value
ALPHA = 0.01


@dataclass(frozen=True)
class SegmentReport:
    """The per-segment fits and the test against the pooled model."""

    by: str
    segments: dict[str, dict[str, Any]]
    log_likelihood: float
    pooled_log_likelihood: float
    lr_statistic: float
    df: int
    p_value: float
    used: bool

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def fit_segments(
    customers, origin, labels: np.ndarray, horizon_days: int, discount_rate: float, pooled, by: str
):
    """(the segmented ModelFit, its SegmentReport) beside the `pooled` ModelFit."""
    from careops.models.clv.score import _discounted_purchases

    modelled, x, t_x, T = customers.rfm(origin)
    purchases = pooled.expected_purchases.copy()
    alive = pooled.p_alive.copy()
    discounted = pooled.predicted_value / np.where(
        pooled.spend_per_purchase > 0, pooled.spend_per_purchase, 1
    )
    pooled_params = pooled.bgnbd.params
    total_ll = 0.0
    segments: dict[str, dict[str, Any]] = {}
    own = 0
    for label in np.unique(labels):
        m = modelled & (labels == label)
        xm, tm, Tm = x[m], t_x[m], T[m]
        repeat = int((xm > 0).sum())
        if repeat >= MIN_REPEAT:
            model = BetaGeo().fit(xm, tm, Tm)
            own += 1
            purchases[m] = model.expected_purchases(horizon_days, xm, tm, Tm)
            alive[m] = model.p_alive(xm, tm, Tm)
            discounted[m] = (
                purchases[m]
                if not discount_rate
                else _discounted_purchases(model, horizon_days, discount_rate, xm, tm, Tm)
            )
            total_ll += float(model.log_likelihood_ or 0.0)
            params = model.params.as_dict()
        else:
            total_ll += float(log_likelihood(pooled_params, xm, tm, Tm).sum())
            params = None
        segments[str(label)] = {"customers": int(m.sum()), "repeat": repeat, "params": params}
    pooled_ll = float(pooled.bgnbd.log_likelihood_ or 0.0)
    df = 4 * max(own - 1, 0)
    lr = max(2 * (total_ll - pooled_ll), 0.0)
    p = float(chi2.sf(lr, df)) if df > 0 else 1.0
    report = SegmentReport(
        by=by,
        segments=segments,
        log_likelihood=total_ll,
        pooled_log_likelihood=pooled_ll,
        lr_statistic=lr,
        df=df,
        p_value=p,
        used=p < ALPHA,
    )
    fit = replace(
        pooled,
        expected_purchases=purchases,
        p_alive=alive,
        predicted_value=discounted * pooled.spend_per_purchase,
    )
    return fit, report


def segment_labels(con, as_of, customers, by: SegmentBy, settings) -> np.ndarray | None:
    """Per-patient segment labels in `customers` order (None for "none"): the `chronic` tag as
    of `as_of` (careops.tags), or the acquisition channel."""
    if by == "none":
        return None
    if by == "channel":
        return customers.channel.astype(str)
    import pyarrow as pa
    import pyarrow.compute as pc

    from careops.tags.compute import compute_tags

    tags = compute_tags(con, as_of, ["chronic"], settings=settings)
    idx = pc.index_in(pa.array(customers.user_id, pa.string()), tags.column("user_id"))
    chronic = pc.fill_null(pc.take(tags.column("chronic"), idx), False)
    return np.where(chronic.to_numpy(zero_copy_only=False), "chronic", "other")

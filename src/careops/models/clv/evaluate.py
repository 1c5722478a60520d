"""How well predicted value ranks and totals the true future value (on the simulator, whose
`ground_truth/users.parquet` holds each user's `expected_spend_365d`).

Figures: Pearson and Spearman correlation, the share of the total true value held by the top
decile by prediction (beside the oracle's share, the best possible), and the aggregate error
(Σ predicted − Σ true) / Σ true. The baseline is past-year spend read as next year's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from careops.errors import InvalidInput


@dataclass(frozen=True)
class ValueCheck:
    """One predictor's agreement with the true value."""

    name: str
    users: int
    correlation: float
    spearman: float
    top_decile_share: float
    oracle_top_decile_share: float
    aggregate_error: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_share(score: np.ndarray, truth: np.ndarray, fraction: float = 0.1) -> float:
    """Share of Σ truth held by the `fraction` of users ranked highest by `score` (ties broken
    by position, stable)."""
    k = max(1, round(len(score) * fraction))
    order = np.argsort(-score, kind="stable")[:k]
    total = truth.sum()
    return float(truth[order].sum() / total) if total > 0 else 0.0


def value_check(name: str, predicted, truth) -> ValueCheck:
    """Compare `predicted` with `truth` (aligned arrays, yuan)."""
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if len(p) != len(t) or len(p) < 2:
        raise InvalidInput("predicted and true values must be aligned arrays of ≥ 2 users")
    corr = float(np.corrcoef(p, t)[0, 1]) if p.std() > 0 and t.std() > 0 else 0.0
    rho = float(spearmanr(p, t).statistic) if p.std() > 0 and t.std() > 0 else 0.0
    total = t.sum()
    return ValueCheck(
        name=name,
        users=len(p),
        correlation=corr,
        spearman=rho,
        top_decile_share=top_share(p, t),
        oracle_top_decile_share=top_share(t, t),
        aggregate_error=float((p.sum() - total) / total) if total > 0 else float("nan"),
    )


def simulator_check(
    con, sim_dir, as_of, *, horizon_days: int = 365, settings=None
) -> tuple[dict[str, ValueCheck], dict]:
    """Both BG/NBD variants, each also segmented by the `chronic` tag (with its likelihood-ratio
    report), and the past-year baseline against the simulator's
    `expected_spend_365d` of every patient registered before `as_of` (which should be the day
    after the simulated window: that is where the truth's 365 days start)."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from careops.asof import AsOf
    from careops.config import get_settings
    from careops.models.clv.score import ORIGINS, fit_spend_model, fit_variant, load_customers
    from careops.models.clv.segmented import fit_segments, segment_labels
    from careops.sim.writer import GROUND_TRUTH

    frame = AsOf(con, as_of, settings or get_settings())
    customers = load_customers(frame)
    truth = pq.read_table(
        Path(sim_dir) / GROUND_TRUTH / "users.parquet", columns=["user_id", "expected_spend_365d"]
    )
    idx = pc.index_in(pa.array(customers.user_id, pa.string()), truth.column("user_id"))
    if pc.any(pc.is_null(idx)).as_py():
        raise InvalidInput("the warehouse has patients the simulator's ground truth does not know")
    true = pc.take(truth.column("expected_spend_365d"), idx).to_numpy(zero_copy_only=False)
    reports = {}
    spend = fit_spend_model(customers)
    checks = {}
    for o in ORIGINS:
        pooled = fit_variant(customers, o, horizon_days, 0.0, spend)
        checks[o] = value_check(o, pooled.predicted_value, true)
        labels = segment_labels(con, as_of, customers, "chronic", frame.settings)
        segmented, report = fit_segments(customers, o, labels, horizon_days, 0.0, pooled, "chronic")
        checks[f"{o}+chronic"] = value_check(f"{o}+chronic", segmented.predicted_value, true)
        reports[o] = report
    checks["past_year"] = value_check("past_year", customers.spend_365d, true)
    return checks, reports

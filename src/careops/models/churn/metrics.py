"""Scores against labels: AUC, PR-AUC, reliability curve with ECE, top-decile lift."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

BINS = 10


@dataclass(frozen=True)
class Scorecard:
    """How well one predictor ranks and (when it gives probabilities) is calibrated."""

    name: str
    n: int
    positives: int
    base_rate: float
    auc: float | None
    pr_auc: float | None
    top_decile_lift: float | None
    ece: float | None = None
    #: (mean predicted, observed rate, count) per equal-width probability bin with rows
    reliability: list[tuple[float, float, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scorecard(name: str, y: np.ndarray, score: np.ndarray, *, probability: bool) -> Scorecard:
    """Metrics of `score` (higher = more likely churn) against 0/1 labels `y`; ECE and the
    reliability curve only when `score` is a probability."""
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=float)
    n, pos = len(y), int(y.sum())
    both = 0 < pos < n
    auc = float(roc_auc_score(y, score)) if both else None
    pr = float(average_precision_score(y, score)) if both else None
    lift = None
    if n >= 10 and pos:
        k = max(n // 10, 1)
        # ties broken by a stable sort on the negated score: deterministic
        top = np.argsort(-score, kind="stable")[:k]
        lift = float(y[top].mean() / y.mean())
    ece, curve = None, []
    if probability and n:
        inner = np.arange(1, BINS) / BINS  # 0.1 … 0.9 exactly as written (not linspace's 0.3000…4)
        which = np.clip(np.digitize(score, inner), 0, BINS - 1)
        ece = 0.0
        for b in range(BINS):
            m = which == b
            if m.any():
                p, o = float(score[m].mean()), float(y[m].mean())
                curve.append((round(p, 4), round(o, 4), int(m.sum())))
                ece += m.sum() / n * abs(p - o)
        ece = float(ece)
    return Scorecard(
        name,
        n,
        pos,
        float(y.mean()) if n else 0.0,
        auc,
        pr,
        lift,
        ece,
        curve,
    )

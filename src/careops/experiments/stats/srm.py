"""Sample-ratio mismatch: do the arms hold the share of users the design promised?

A chi-square goodness-of-fit test of the observed counts against total × weight. A very small
p-value (default < 0.001, setting `experiments.srm_p`) means assignment or logging is broken and
the experiment's results should not be trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True, slots=True)
class SrmResult:
    """chi2 statistic, its p-value (df = arms − 1), and whether it falls below the threshold."""

    chi2: float
    p_value: float
    flagged: bool
    threshold: float


def srm_check(
    counts: Mapping[str, int], weights: Mapping[str, float], threshold: float = 0.001
) -> SrmResult:
    """Chi-square test of per-arm user counts against the design weights.

    `weights` are normalised to sum to 1; arms missing from `counts` count as 0 users. With no
    users at all there is nothing to test: p = 1, not flagged.
    """
    names = list(weights)
    w = np.array([weights[k] for k in names], dtype=float)
    w = w / w.sum()
    observed = np.array([counts.get(k, 0) for k in names], dtype=float)
    total = observed.sum()
    if total == 0 or len(names) < 2:
        return SrmResult(0.0, 1.0, False, threshold)
    expected = total * w
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    p_value = float(stats.chi2.sf(chi2, len(names) - 1))
    return SrmResult(chi2, p_value, p_value < threshold, threshold)

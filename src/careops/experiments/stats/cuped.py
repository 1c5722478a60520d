"""CUPED: variance reduction with a pre-period covariate (Deng, Xu, Kohavi & Walker, WSDM 2013).

Each user's metric y is replaced by y − θ(x − x̄), x the same user's pre-period value and x̄ its
mean over all arms. θ = cov(y, x) / var(x) is estimated once from all arms pooled, so every arm is
adjusted the same way and the difference of adjusted means stays unbiased. The per-user variance
becomes var(y)(1 − ρ²), ρ the correlation of y and x: the same precision for fewer users.
Ratio metrics are adjusted on their linearised values (`RatioCupedStatistic`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import reduce
from operator import add

from careops.experiments.stats.statistics import CupedStatistic, Moments, RatioCupedStatistic

Cuped = CupedStatistic | RatioCupedStatistic


def pooled_theta(arms: Mapping[str, Cuped] | list[Cuped]) -> float:
    """θ = cov(y, x) / var(x) over all arms pooled; 0 when the covariate is constant (or, for a
    ratio, has no units)."""
    values = list(arms.values()) if isinstance(arms, Mapping) else list(arms)
    pooled: Cuped = reduce(add, values)
    if not pooled.pre.variance > 0:
        return 0.0
    theta = pooled.covariance / pooled.pre.variance
    return theta if math.isfinite(theta) else 0.0


def adjust(arms: Mapping[str, Cuped]) -> dict[str, Moments]:
    """CUPED-adjusted moments of every arm, with θ pooled over all arms."""
    theta = pooled_theta(arms)
    pooled: Cuped = reduce(add, arms.values())
    return {name: arm.moments(theta, pooled.pre.mean) for name, arm in arms.items()}

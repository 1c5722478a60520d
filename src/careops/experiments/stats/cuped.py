"""CUPED: variance reduction with a pre-period covariate (Deng, Xu, Kohavi & Walker, WSDM 2013).

Each user's metric y is replaced by y − θ(x − x̄), x the same user's pre-period value and x̄ its
mean over all arms. θ = cov(y, x) / var(x) is estimated once from all arms pooled, so every arm is
adjusted the same way and the difference of adjusted means stays unbiased. The per-user variance
becomes var(y)(1 − ρ²), ρ the correlation of y and x: the same precision for fewer users.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce
from operator import add

from careops.experiments.stats.statistics import CupedStatistic, Moments


def pooled_theta(arms: Mapping[str, CupedStatistic] | list[CupedStatistic]) -> float:
    """θ = cov(y, x) / var(x) over all arms pooled; 0 when the covariate is constant."""
    values = list(arms.values()) if isinstance(arms, Mapping) else list(arms)
    pooled: CupedStatistic = reduce(add, values)
    if pooled.pre.variance == 0:
        return 0.0
    return pooled.covariance / pooled.pre.variance


def adjust(arms: Mapping[str, CupedStatistic]) -> dict[str, Moments]:
    """CUPED-adjusted moments of every arm, with θ pooled over all arms."""
    theta = pooled_theta(arms)
    pooled: CupedStatistic = reduce(add, arms.values())
    return {name: arm.moments(theta, pooled.pre.mean) for name, arm in arms.items()}

"""Sufficient statistics of one experiment arm, as small frozen dataclasses that add together.

An arm is summarised by sums the warehouse computes in one pass (`n`, `sum`, `sum_squares`, and
for CUPED the covariate's sums and the cross-product). Adding two statistics pools the users they
describe, so daily or per-shard aggregates combine exactly. `Moments` is what the tests consume:
a sample size, a mean and the per-user variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Moments:
    """The normal summary of an arm that the tests use: n, mean and per-user variance."""

    n: int
    mean: float
    variance: float

    @property
    def standard_error(self) -> float:
        """Standard error of the mean, 0 for an arm with no users."""
        return float(np.sqrt(self.variance / self.n)) if self.n > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SampleMean:
    """A mean metric (spend, visits): n, Σy and Σy²; variance with n − 1 in the denominator."""

    n: int
    sum: float
    sum_squares: float

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> SampleMean:
        """Summarise an array of per-user values."""
        y = np.asarray(values, dtype=float)
        return cls(n=int(y.size), sum=float(y.sum()), sum_squares=float((y * y).sum()))

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        if self.n <= 1:
            return 0.0
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)

    def moments(self) -> Moments:
        return Moments(self.n, self.mean, self.variance)

    def __add__(self, other: SampleMean) -> SampleMean:
        if not isinstance(other, SampleMean):
            return NotImplemented
        return SampleMean(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )


@dataclass(frozen=True, slots=True)
class Proportion:
    """A 0/1 metric (converted, retained): n and the number of successes; variance p(1 − p)."""

    n: int
    sum: float

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> Proportion:
        """Summarise an array of 0/1 values."""
        y = np.asarray(values, dtype=float)
        return cls(n=int(y.size), sum=float(y.sum()))

    @property
    def sum_squares(self) -> float:
        return self.sum

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1.0 - p)

    def moments(self) -> Moments:
        return Moments(self.n, self.mean, self.variance)

    def __add__(self, other: Proportion) -> Proportion:
        if not isinstance(other, Proportion):
            return NotImplemented
        return Proportion(self.n + other.n, self.sum + other.sum)


@dataclass(frozen=True, slots=True)
class CupedStatistic:
    """A metric with a pre-period covariate: the metric's and covariate's sums and Σxy.

    `post` is the in-experiment metric, `pre` the same user's pre-period value. Both are kept as
    `SampleMean` so variances and the covariance use the same n − 1 convention.
    """

    post: SampleMean
    pre: SampleMean
    sum_products: float

    def __post_init__(self) -> None:
        if self.post.n != self.pre.n:
            msg = f"post has {self.post.n} users but pre has {self.pre.n}"
            raise ValueError(msg)

    @classmethod
    def from_values(cls, post: npt.ArrayLike, pre: npt.ArrayLike) -> CupedStatistic:
        """Summarise paired per-user arrays (metric, pre-period covariate)."""
        y = np.asarray(post, dtype=float)
        x = np.asarray(pre, dtype=float)
        return cls(SampleMean.from_values(y), SampleMean.from_values(x), float((x * y).sum()))

    @property
    def n(self) -> int:
        return self.post.n

    @property
    def covariance(self) -> float:
        """Sample covariance of metric and covariate (n − 1 denominator)."""
        if self.n <= 1:
            return 0.0
        return (self.sum_products - self.post.sum * self.pre.sum / self.n) / (self.n - 1)

    def moments(self, theta: float, pre_mean: float) -> Moments:
        """The CUPED-adjusted arm: mean ȳ − θ(x̄ − pre_mean), variance var(y − θx)."""
        variance = self.post.variance + theta**2 * self.pre.variance - 2 * theta * self.covariance
        return Moments(
            self.n, self.post.mean - theta * (self.pre.mean - pre_mean), max(variance, 0.0)
        )

    def __add__(self, other: CupedStatistic) -> CupedStatistic:
        if not isinstance(other, CupedStatistic):
            return NotImplemented
        return CupedStatistic(
            self.post + other.post, self.pre + other.pre, self.sum_products + other.sum_products
        )


ArmStatistic = SampleMean | Proportion | CupedStatistic

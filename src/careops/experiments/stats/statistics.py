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

    def moments(self) -> Moments:
        """Itself: every arm summary answers `moments()`, so tests need not ask which it is."""
        return self


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
        return _covariance(self.n, self.sum_products, self.post.sum, self.pre.sum)

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


@dataclass(frozen=True, slots=True)
class RatioStatistic:
    """A ratio metric R = Σnum / Σden over an arm's users, whose denominator is not one per user
    (NPS per answer, complaints per consultation): each user i brings (num_i, den_i).

    Users, not answers, are randomised, so the answers of one user are not independent and the
    variance comes from the delta method (Deng, Knoblich & Lu, "Applying the Delta Method in
    Metric Analytics", KDD 2018): R − ρ ≈ mean of the linearised per-user values
    (num_i − R·den_i) / d̄, whose sample variance is `variance`. Users with no units (den 0)
    still count in n. `mean` is NaN when the arm has no units at all.
    """

    num: SampleMean
    den: SampleMean
    sum_products: float

    @classmethod
    def from_values(cls, num: npt.ArrayLike, den: npt.ArrayLike) -> RatioStatistic:
        """Summarise paired per-user arrays (numerator, denominator)."""
        y = np.asarray(num, dtype=float)
        d = np.asarray(den, dtype=float)
        return cls(SampleMean.from_values(y), SampleMean.from_values(d), float((y * d).sum()))

    @property
    def n(self) -> int:
        return self.num.n

    @property
    def mean(self) -> float:
        return self.num.sum / self.den.sum if self.den.sum else float("nan")

    @property
    def covariance(self) -> float:
        """Sample covariance of numerator and denominator (n − 1 denominator)."""
        return _covariance(self.n, self.sum_products, self.num.sum, self.den.sum)

    @property
    def variance(self) -> float:
        """Per-user variance of the linearised value (num − R·den) / d̄ (NaN without units)."""
        if not self.den.sum:
            return float("nan")
        r, d_bar = self.mean, self.den.mean
        v = self.num.variance - 2 * r * self.covariance + r * r * self.den.variance
        return max(v, 0.0) / (d_bar * d_bar)

    def moments(self) -> Moments:
        return Moments(self.n, self.mean, self.variance)

    def __add__(self, other: RatioStatistic) -> RatioStatistic:
        if not isinstance(other, RatioStatistic):
            return NotImplemented
        return RatioStatistic(
            self.num + other.num, self.den + other.den, self.sum_products + other.sum_products
        )


@dataclass(frozen=True, slots=True)
class RatioCupedStatistic:
    """A ratio metric with the same ratio over a pre-period as CUPED covariate.

    Both ratios are linearised (see `RatioStatistic`) and CUPED is applied to the linearised
    values: the adjusted estimate is R − θ(R_pre − R̄_pre) with per-user variance
    var(L) − 2θ·cov(L, K) + θ²·var(K), L and K the linearised post and pre values.
    `cross` holds Σ num·pre_num, Σ num·pre_den, Σ den·pre_num, Σ den·pre_den.
    """

    post: RatioStatistic
    pre: RatioStatistic
    cross: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if self.post.n != self.pre.n:
            msg = f"post has {self.post.n} users but pre has {self.pre.n}"
            raise ValueError(msg)

    @property
    def n(self) -> int:
        return self.post.n

    @property
    def covariance(self) -> float:
        """Covariance of the linearised post and pre values (NaN when either has no units)."""
        if not (self.post.den.sum and self.pre.den.sum):
            return float("nan")
        n, y, d, x, e = self.n, self.post.num, self.post.den, self.pre.num, self.pre.den
        yx, ye, dx, de = (
            _covariance(n, s, a.sum, b.sum)
            for s, a, b in zip(self.cross, (y, y, d, d), (x, e, x, e), strict=True)
        )
        r, r_pre = self.post.mean, self.pre.mean
        return (yx - r_pre * ye - r * dx + r * r_pre * de) / (d.mean * e.mean)

    def moments(self, theta: float, pre_mean: float) -> Moments:
        """The CUPED-adjusted arm; θ = 0, or an arm without pre-period units, is left as is."""
        if theta == 0 or not self.pre.den.sum:
            return self.post.moments()
        mean = self.post.mean - theta * (self.pre.mean - pre_mean)
        variance = self.post.variance + theta**2 * self.pre.variance - 2 * theta * self.covariance
        return Moments(self.n, mean, max(variance, 0.0))

    def __add__(self, other: RatioCupedStatistic) -> RatioCupedStatistic:
        if not isinstance(other, RatioCupedStatistic):
            return NotImplemented
        cross = tuple(a + b for a, b in zip(self.cross, other.cross, strict=True))
        return RatioCupedStatistic(self.post + other.post, self.pre + other.pre, cross)  # type: ignore[arg-type]


def _covariance(n: int, sum_products: float, sum_a: float, sum_b: float) -> float:
    return (sum_products - sum_a * sum_b / n) / (n - 1) if n > 1 else 0.0


ArmStatistic = SampleMean | Proportion | CupedStatistic | RatioStatistic | RatioCupedStatistic

"""Frequentist comparison of a treatment arm with control.

- Mean metrics: Welch's t-test (unequal variances, Welch–Satterthwaite degrees of freedom).
- Proportion metrics: two-proportion z-test, pooled variance under the null for the p-value,
  unpooled (Wald) variance for the interval — the textbook pairing that statsmodels'
  `proportions_ztest` and `confint_proportions_2indep(method="wald")` also use.
- Sequential: always-valid confidence sequence and p-value (see `sequential`).
Relative-lift intervals use the delta method (see `lift`). All tests are two-sided.
"""

from __future__ import annotations

import math

from scipy import stats

from careops.experiments.stats import sequential as seq
from careops.experiments.stats.lift import Lift, lift
from careops.experiments.stats.results import (
    FrequentistResult,
    check_moments,
    failed_frequentist,
)
from careops.experiments.stats.settings import FrequentistSettings
from careops.experiments.stats.statistics import Moments, Proportion


def welch_degrees_of_freedom(control: Moments, treatment: Moments) -> float:
    """Welch–Satterthwaite degrees of freedom of the difference of two means."""
    a = control.variance / control.n
    b = treatment.variance / treatment.n
    denominator = a**2 / (control.n - 1) + b**2 / (treatment.n - 1)
    return (a + b) ** 2 / denominator


def _intervals(d: Lift, critical: float) -> tuple[tuple[float, float], tuple[float, float] | None]:
    absolute = (d.absolute - critical * d.absolute_se, d.absolute + critical * d.absolute_se)
    if d.relative is None or d.relative_se is None:
        return absolute, None
    return absolute, (d.relative - critical * d.relative_se, d.relative + critical * d.relative_se)


def welch_t_test(control: Moments, treatment: Moments, alpha: float = 0.05) -> FrequentistResult:
    """Welch's unequal-variance t-test of treatment − control, with absolute and relative CIs."""
    problem = check_moments(control, treatment)
    if problem:
        return failed_frequentist(problem)
    d = lift(control, treatment)
    if d.absolute_se == 0:
        return failed_frequentist("zero_variance")
    df = welch_degrees_of_freedom(control, treatment)
    t_stat = d.absolute / d.absolute_se
    p_value = float(2.0 * stats.t.sf(abs(t_stat), df))
    absolute_ci, relative_ci = _intervals(d, float(stats.t.ppf(1.0 - alpha / 2.0, df)))
    return FrequentistResult(d.absolute, absolute_ci, d.relative, relative_ci, p_value, t_stat)


def two_proportion_z_test(
    control: Proportion, treatment: Proportion, alpha: float = 0.05
) -> FrequentistResult:
    """Two-proportion z-test (pooled null variance) with Wald absolute and delta relative CIs."""
    problem = check_moments(control, treatment)
    if problem:
        return failed_frequentist(problem)
    pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
    null_se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / control.n + 1.0 / treatment.n))
    if null_se == 0:
        return failed_frequentist("zero_variance")
    d = lift(control.moments(), treatment.moments())
    z = d.absolute / null_se
    p_value = float(2.0 * stats.norm.sf(abs(z)))
    absolute_ci, relative_ci = _intervals(d, float(stats.norm.ppf(1.0 - alpha / 2.0)))
    return FrequentistResult(d.absolute, absolute_ci, d.relative, relative_ci, p_value, z)


def sequential_test(
    control: Moments, treatment: Moments, alpha: float = 0.05, tuning: float = 5000.0
) -> FrequentistResult:
    """Always-valid confidence sequence and p-value for the absolute and relative lift."""
    problem = check_moments(control, treatment)
    if problem:
        return failed_frequentist(problem, sequential=True)
    d = lift(control, treatment)
    if d.absolute_se == 0:
        return failed_frequentist("zero_variance", sequential=True)
    n = control.n + treatment.n
    width = float(seq.halfwidth(d.absolute_se, n, alpha, tuning))
    p_value = float(seq.always_valid_p_value(d.absolute, d.absolute_se, n, alpha, tuning))
    absolute_ci = (d.absolute - width, d.absolute + width)
    relative_ci = None
    if d.relative is not None and d.relative_se is not None:
        rel_width = float(seq.halfwidth(d.relative_se, n, alpha, tuning))
        relative_ci = (d.relative - rel_width, d.relative + rel_width)
    return FrequentistResult(
        d.absolute,
        absolute_ci,
        d.relative,
        relative_ci,
        p_value,
        d.absolute / d.absolute_se,
        sequential=True,
    )


def frequentist_test(
    control: Moments | Proportion,
    treatment: Moments | Proportion,
    settings: FrequentistSettings | None = None,
) -> FrequentistResult:
    """The test that fits the inputs: sequential if asked, z-test for two raw proportions,
    Welch's t-test otherwise (means, or CUPED-adjusted moments)."""
    s = settings or FrequentistSettings()
    if s.sequential:
        return sequential_test(control.moments(), treatment.moments(), s.alpha, s.sequential_tuning)
    if isinstance(control, Proportion) and isinstance(treatment, Proportion):
        return two_proportion_z_test(control, treatment, s.alpha)
    return welch_t_test(control.moments(), treatment.moments(), s.alpha)

"""Bayesian comparison: chance to beat control, expected loss and credible intervals.

- Proportions: each arm's rate has a Beta(a + successes, b + failures) posterior (conjugate to
  the binomial). The comparison uses seeded Monte Carlo draws from both posteriors, so results
  are reproducible; with the default 200 000 draws the chance to win is within ±0.003.
- Means (and CUPED-adjusted means): flat prior, so each arm's mean is a posterior
  N(mean, variance / n) and the difference N(Δ, SE²). Everything is closed form:
  chance to win Φ(Δ/SE), expected loss SE·φ(Δ/SE) − Δ·Φ(−Δ/SE); the relative lift uses the
  delta-method normal approximation.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from careops.experiments.stats.lift import lift
from careops.experiments.stats.results import BayesianResult, check_moments, failed_bayesian
from careops.experiments.stats.settings import BayesianSettings
from careops.experiments.stats.statistics import Moments, Proportion


def beta_binomial(
    control: Proportion, treatment: Proportion, settings: BayesianSettings | None = None
) -> BayesianResult:
    """Beta-Binomial comparison of two conversion rates by seeded Monte Carlo."""
    s = settings or BayesianSettings()
    if control.n == 0 or treatment.n == 0:
        return failed_bayesian("empty_arm")
    rng = np.random.default_rng(s.seed)
    p_c = rng.beta(
        s.prior_successes + control.sum, s.prior_failures + control.n - control.sum, s.draws
    )
    p_t = rng.beta(
        s.prior_successes + treatment.sum, s.prior_failures + treatment.n - treatment.sum, s.draws
    )
    diff = p_t - p_c
    tail = (1.0 - s.credible) / 2.0
    quantiles = [tail, 1.0 - tail]
    abs_lo, abs_hi = np.quantile(diff, quantiles)
    rel_lo, rel_hi = np.quantile(p_t / p_c - 1.0, quantiles)
    return BayesianResult(
        chance_to_win=float((diff > 0).mean()),
        expected_loss=float(np.maximum(-diff, 0.0).mean()),
        absolute_ci=(float(abs_lo), float(abs_hi)),
        relative_ci=(float(rel_lo), float(rel_hi)),
    )


def gaussian(
    control: Moments, treatment: Moments, settings: BayesianSettings | None = None
) -> BayesianResult:
    """Normal-posterior comparison of two means (flat prior), all in closed form."""
    s = settings or BayesianSettings()
    problem = check_moments(control, treatment)
    if problem:
        return failed_bayesian(problem)
    d = lift(control, treatment)
    if d.absolute_se == 0:
        return failed_bayesian("zero_variance")
    z = d.absolute / d.absolute_se
    critical = float(stats.norm.ppf(0.5 + s.credible / 2.0))
    loss = d.absolute_se * stats.norm.pdf(z) - d.absolute * stats.norm.cdf(-z)
    relative_ci = None
    if d.relative is not None and d.relative_se is not None:
        relative_ci = (
            d.relative - critical * d.relative_se,
            d.relative + critical * d.relative_se,
        )
    return BayesianResult(
        chance_to_win=float(stats.norm.cdf(z)),
        expected_loss=float(max(loss, 0.0)),
        absolute_ci=(
            d.absolute - critical * d.absolute_se,
            d.absolute + critical * d.absolute_se,
        ),
        relative_ci=relative_ci,
    )


def bayesian_test(
    control: Moments | Proportion,
    treatment: Moments | Proportion,
    settings: BayesianSettings | None = None,
) -> BayesianResult:
    """Beta-Binomial for two raw proportions, Gaussian otherwise."""
    if isinstance(control, Proportion) and isinstance(treatment, Proportion):
        return beta_binomial(control, treatment, settings)
    return gaussian(control.moments(), treatment.moments(), settings)

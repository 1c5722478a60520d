"""Bayesian results against exact integrals (SciPy quadrature) and Evan Miller's closed form."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from careops.experiments.stats.bayesian import bayesian_test, beta_binomial, gaussian
from careops.experiments.stats.settings import BayesianSettings
from careops.experiments.stats.statistics import Moments, Proportion


def chance_b_beats_a_exact(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Evan Miller, "Formulas for Bayesian A/B Testing" (2015): exact P(p_B > p_A) for Beta
    posteriors with integer α_B: Σ_{i<α_B} B(α_A+i, β_A+β_B) / ((β_B+i) B(1+i, β_B) B(α_A, β_A))."""
    i = np.arange(a_b)
    log_terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    return float(np.exp(log_terms).sum())


def beta_loss_exact(a_c, b_c, a_t, b_t) -> float:
    """E[max(p_c − p_t, 0)] by quadrature over p_t of the closed-form partial expectation."""

    def partial(b):  # E[(p_c − b)+] for p_c ~ Beta(a_c, b_c)
        mean = a_c / (a_c + b_c)
        return mean * stats.beta.sf(b, a_c + 1, b_c) - b * stats.beta.sf(b, a_c, b_c)

    value, _ = integrate.quad(
        lambda b: stats.beta.pdf(b, a_t, b_t) * partial(b),
        0,
        1,
        points=[a_t / (a_t + b_t)],
        limit=200,
    )
    return value


def diff_quantile_exact(a_c, b_c, a_t, b_t, q) -> float:
    """Quantile of p_t − p_c by quadrature of its CDF and root finding."""

    def cdf(d):
        value, _ = integrate.quad(
            lambda c: stats.beta.pdf(c, a_c, b_c) * stats.beta.cdf(c + d, a_t, b_t),
            0,
            1,
            points=[a_c / (a_c + b_c)],
            limit=200,
        )
        return value - q

    return optimize.brentq(cdf, -0.5, 0.5, xtol=1e-9)


def test_beta_binomial_against_exact_references():
    control, treatment = Proportion(1000, 100), Proportion(1000, 125)
    r = beta_binomial(control, treatment)  # uniform prior → Beta(101, 901) and Beta(126, 876)
    assert r.chance_to_win == pytest.approx(chance_b_beats_a_exact(101, 901, 126, 876), abs=3e-3)
    assert r.expected_loss == pytest.approx(beta_loss_exact(101, 901, 126, 876), rel=0.03)
    lo = diff_quantile_exact(101, 901, 126, 876, 0.025)
    hi = diff_quantile_exact(101, 901, 126, 876, 0.975)
    assert r.absolute_ci == pytest.approx((lo, hi), abs=5e-4)


def test_beta_binomial_is_reproducible_and_seeded():
    c, t = Proportion(500, 40), Proportion(500, 52)
    assert beta_binomial(c, t) == beta_binomial(c, t)
    other = beta_binomial(c, t, BayesianSettings(seed=1))
    assert other.chance_to_win != beta_binomial(c, t).chance_to_win


def test_gaussian_matches_quadrature():
    c, t = Moments(900, 52.0, 400.0), Moments(880, 53.5, 441.0)
    r = gaussian(c, t)
    se = math.sqrt(400 / 900 + 441 / 880)
    diff = 1.5
    assert r.chance_to_win == pytest.approx(stats.norm.cdf(diff / se), rel=1e-12)
    loss, _ = integrate.quad(
        lambda d: max(-d, 0.0) * stats.norm.pdf(d, diff, se), -50, 50, points=[0.0], limit=200
    )
    assert r.expected_loss == pytest.approx(loss, rel=1e-7)
    assert r.absolute_ci == pytest.approx(stats.norm.interval(0.95, diff, se), rel=1e-12)


def test_gaussian_ties_give_even_odds():
    r = gaussian(Moments(100, 5.0, 4.0), Moments(100, 5.0, 4.0))
    assert r.chance_to_win == pytest.approx(0.5)
    assert r.expected_loss == pytest.approx(math.sqrt(0.08) * stats.norm.pdf(0))


def test_dispatch_and_data_problems():
    assert bayesian_test(Proportion(0, 0), Proportion(10, 3)).error == "empty_arm"
    assert bayesian_test(Moments(10, 1.0, 0.0), Moments(10, 1.0, 0.0)).error == "zero_variance"
    assert bayesian_test(Moments(1, 1.0, 0.0), Moments(10, 1.0, 1.0)).error == "too_few_users"

"""Repeated seeded experiments: intervals cover the truth at their nominal rate and A/A tests
reject at rate α (within sampling error: with R runs the rate's SD is sqrt(p(1 − p)/R)).

Arms are drawn as sufficient statistics where the distribution allows (binomial counts), or as
per-user values summed per run, so thousands of experiments take about a second.
"""

import numpy as np
import pytest

from careops.experiments.stats.bayesian import beta_binomial, gaussian
from careops.experiments.stats.frequentist import two_proportion_z_test, welch_t_test
from careops.experiments.stats.settings import BayesianSettings
from careops.experiments.stats.statistics import Moments, Proportion

RUNS = 4000
TOL = 4 * np.sqrt(0.05 * 0.95 / RUNS)  # four standard errors of a 5 % rate ≈ 0.014


def mean_arms(rng, runs, n, mean, sd):
    """Per-run Moments of n skewed (gamma) users with the given mean and SD."""
    shape = (mean / sd) ** 2
    y = rng.gamma(shape, mean / shape, size=(runs, n))
    return y.mean(axis=1), y.var(axis=1, ddof=1)


@pytest.mark.slow
def test_welch_intervals_cover_and_aa_false_positive_rate():
    rng = np.random.default_rng(11)
    n, true_c, true_t = 300, 50.0, 53.0
    mc, vc = mean_arms(rng, RUNS, n, true_c, 30.0)
    mt, vt = mean_arms(rng, RUNS, n, true_t, 30.0)
    ma, va = mean_arms(rng, RUNS, n, true_c, 30.0)  # an A/A twin of control
    cover_abs = cover_rel = rejections = 0
    for i in range(RUNS):
        c = Moments(n, mc[i], vc[i])
        r = welch_t_test(c, Moments(n, mt[i], vt[i]))
        cover_abs += r.absolute_ci[0] <= true_t - true_c <= r.absolute_ci[1]
        cover_rel += r.relative_ci[0] <= true_t / true_c - 1 <= r.relative_ci[1]
        rejections += welch_t_test(c, Moments(n, ma[i], va[i])).p_value < 0.05
    assert abs(cover_abs / RUNS - 0.95) < TOL
    assert abs(cover_rel / RUNS - 0.95) < TOL
    assert abs(rejections / RUNS - 0.05) < TOL


@pytest.mark.slow
def test_proportion_intervals_cover_and_aa_false_positive_rate():
    rng = np.random.default_rng(12)
    n, p_c, p_t = 3000, 0.10, 0.115
    xc, xt, xa = (rng.binomial(n, p, RUNS) for p in (p_c, p_t, p_c))
    cover_abs = cover_rel = rejections = 0
    for i in range(RUNS):
        c = Proportion(n, xc[i])
        r = two_proportion_z_test(c, Proportion(n, xt[i]))
        cover_abs += r.absolute_ci[0] <= p_t - p_c <= r.absolute_ci[1]
        cover_rel += r.relative_ci[0] <= p_t / p_c - 1 <= r.relative_ci[1]
        rejections += two_proportion_z_test(c, Proportion(n, xa[i])).p_value < 0.05
    assert abs(cover_abs / RUNS - 0.95) < TOL
    assert abs(cover_rel / RUNS - 0.95) < TOL
    assert abs(rejections / RUNS - 0.05) < TOL


@pytest.mark.slow
def test_bayesian_credible_intervals_cover_and_chance_to_win_is_calibrated_in_aa():
    """With a flat/uniform prior and large n the 95 % credible interval covers at ≈ 95 %, and in
    A/A tests chance-to-win is uniform, so it exceeds 0.975 in ≈ 2.5 % of runs."""
    rng = np.random.default_rng(13)
    runs, n, p_c, p_t = 1500, 4000, 0.2, 0.21
    xc, xt = rng.binomial(n, p_c, runs), rng.binomial(n, p_t, runs)
    s = BayesianSettings(draws=4000)
    covered = sum(
        lo <= p_t - p_c <= hi
        for lo, hi in (
            beta_binomial(Proportion(n, xc[i]), Proportion(n, xt[i]), s).absolute_ci
            for i in range(runs)
        )
    )
    assert abs(covered / runs - 0.95) < 4 * np.sqrt(0.05 * 0.95 / runs)
    mc, vc = mean_arms(rng, RUNS, 200, 10.0, 4.0)
    ma, va = mean_arms(rng, RUNS, 200, 10.0, 4.0)
    wins = np.array(
        [
            gaussian(Moments(200, mc[i], vc[i]), Moments(200, ma[i], va[i])).chance_to_win
            for i in range(RUNS)
        ]
    )
    assert abs((wins > 0.975).mean() - 0.025) < 4 * np.sqrt(0.025 * 0.975 / RUNS)
    assert abs(np.median(wins) - 0.5) < 0.03


@pytest.mark.parametrize("n", [2, 3])
def test_tiny_arms_still_return_a_result(n):
    r = welch_t_test(Moments(n, 1.0, 1.0), Moments(n, 2.0, 1.0))
    assert r.error is None and 0 < r.p_value < 1

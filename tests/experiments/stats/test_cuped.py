"""CUPED: the adjusted estimator's variance shrinks by (1 − ρ²), and stays unbiased."""

import numpy as np
import pytest

from careops.experiments.stats.cuped import adjust, pooled_theta
from careops.experiments.stats.frequentist import welch_t_test
from careops.experiments.stats.statistics import CupedStatistic


def simulate(rng, n, rho, effect):
    """Pre-period x ~ N(0, 1); y = 10 + effect + ρ x + sqrt(1 − ρ²) e, so corr(x, y) = ρ."""
    x = rng.normal(size=n)
    y = 10 + effect + rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return CupedStatistic.from_values(y, x)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_variance_shrinks_by_one_minus_rho_squared(rho):
    rng = np.random.default_rng(21)
    runs, n, effect = 1500, 400, 0.1
    raw, adjusted, covered = [], [], 0
    per_user_ratio = []
    for _ in range(runs):
        arms = {"c": simulate(rng, n, rho, 0.0), "t": simulate(rng, n, rho, effect)}
        m = adjust(arms)
        raw.append(arms["t"].post.mean - arms["c"].post.mean)
        adjusted.append(m["t"].mean - m["c"].mean)
        per_user_ratio.append(m["c"].variance / arms["c"].post.variance)
        r = welch_t_test(m["c"], m["t"])
        covered += r.absolute_ci[0] <= effect <= r.absolute_ci[1]
    expected = 1 - rho**2
    # sampling variance of the estimators over runs: their ratio ≈ 1 − ρ² (SD of a variance
    # ratio from 1500 runs ≈ sqrt(4/1500) ≈ 5 %)
    assert np.var(adjusted) / np.var(raw) == pytest.approx(expected, rel=0.12)
    assert np.mean(per_user_ratio) == pytest.approx(expected, rel=0.02)
    assert np.mean(adjusted) == pytest.approx(effect, abs=4 * np.std(adjusted) / np.sqrt(runs))
    assert abs(covered / runs - 0.95) < 4 * np.sqrt(0.05 * 0.95 / runs)


def test_theta_is_the_pooled_regression_slope():
    rng = np.random.default_rng(22)
    x = rng.normal(5, 2, 2000)
    y = 1 + 0.7 * x + rng.normal(0, 1, 2000)
    arms = {
        "c": CupedStatistic.from_values(y[:1000], x[:1000]),
        "t": CupedStatistic.from_values(y[1000:], x[1000:]),
    }
    slope = np.polyfit(x, y, 1)[0]  # least-squares slope on all users = cov/var
    assert pooled_theta(arms) == pytest.approx(slope, rel=1e-9)


def test_constant_covariate_means_no_adjustment():
    arms = {
        "c": CupedStatistic.from_values([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]),
        "t": CupedStatistic.from_values([2.0, 3.0, 4.0], [5.0, 5.0, 5.0]),
    }
    assert pooled_theta(arms) == 0.0
    assert adjust(arms)["t"].mean == pytest.approx(3.0)

"""Frequentist tests against SciPy, statsmodels, R and worked textbook examples."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from careops.experiments.stats.frequentist import (
    frequentist_test,
    two_proportion_z_test,
    welch_t_test,
)
from careops.experiments.stats.settings import FrequentistSettings
from careops.experiments.stats.statistics import Moments, Proportion, SampleMean


def moments(values) -> Moments:
    return SampleMean.from_values(values).moments()


# R 4.x `t.test(ts1, ts2)` (Welch is R's default), output quoted on Cross Validated:
# t = -1.8325, df = 17.9, p-value = 0.08356, 95 % CI -2.1469104 0.1469104.
TS1 = [11, 9, 10, 11, 10, 12, 9, 11, 12, 9]
TS2 = [11, 13, 10, 13, 12, 9, 11, 12, 12, 11]


def test_welch_reproduces_r_t_test_output():
    # our lift is treatment − control, so control = ts2 and treatment = ts1 gives R's x − y
    r = welch_t_test(moments(TS2), moments(TS1))
    assert r.statistic == pytest.approx(-1.8325, abs=5e-5)
    assert r.p_value == pytest.approx(0.08356, abs=5e-6)
    assert r.absolute_ci[0] == pytest.approx(-2.1469104, abs=5e-7)
    assert r.absolute_ci[1] == pytest.approx(0.1469104, abs=5e-7)


def test_welch_matches_scipy_and_statsmodels():
    rng = np.random.default_rng(7)
    control, treatment = rng.lognormal(3, 1, 800), rng.lognormal(3.05, 1.2, 650)
    r = welch_t_test(moments(control), moments(treatment), alpha=0.1)
    ref = stats.ttest_ind(treatment, control, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    lo, hi = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(
        alpha=0.1, usevar="unequal"
    )
    assert r.absolute_ci == pytest.approx((lo, hi), rel=1e-10)


def test_relative_lift_ci_is_the_delta_method():
    """Independent delta method: numerical gradient of m_t/m_c − 1 times the covariance."""
    c, t = Moments(400, 20.0, 36.0), Moments(380, 21.5, 49.0)
    r = welch_t_test(c, t)

    def f(mc, mt):
        return mt / mc - 1

    h = 1e-6
    grad = np.array(
        [
            (f(20 + h, 21.5) - f(20 - h, 21.5)) / (2 * h),
            (f(20, 21.5 + h) - f(20, 21.5 - h)) / (2 * h),
        ]
    )
    se = math.sqrt(grad @ np.diag([36 / 400, 49 / 380]) @ grad)
    crit = stats.t.ppf(0.975, _welch_df(c, t))
    assert r.relative_lift == pytest.approx(0.075)
    assert r.relative_ci == pytest.approx((0.075 - crit * se, 0.075 + crit * se), rel=1e-7)
    assert r.absolute_ci[0] < 1.5 < r.absolute_ci[1]


def _welch_df(c: Moments, t: Moments) -> float:
    a, b = c.variance / c.n, t.variance / t.n
    return (a + b) ** 2 / (a**2 / (c.n - 1) + b**2 / (t.n - 1))


def test_two_proportion_worked_example():
    # Worked example (pooled two-proportion z): 140/200 versus 255/340 → pooled p 0.7314815,
    # SE 0.03949401, z = −1.266015 (homeworksource.com solution 1008622; its p-value uses a t
    # distribution with 538 df, so only z is compared). Normal two-sided p = 2·Φ(−1.266015).
    r = two_proportion_z_test(Proportion(340, 255), Proportion(200, 140))
    assert r.statistic == pytest.approx(-1.266015, abs=1e-6)
    assert r.p_value == pytest.approx(0.2055077, abs=1e-6)


def test_two_proportion_matches_statsmodels():
    c, t = Proportion(5000, 512), Proportion(4900, 580)
    r = two_proportion_z_test(c, t, alpha=0.05)
    z, p = proportions_ztest([580, 512], [4900, 5000])
    assert r.statistic == pytest.approx(z, rel=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-10)
    lo, hi = confint_proportions_2indep(580, 4900, 512, 5000, method="wald", compare="diff")
    assert r.absolute_ci == pytest.approx((lo, hi), rel=1e-10)


def test_dispatch_picks_the_test_by_input_kind():
    c, t = Proportion(1000, 100), Proportion(1000, 130)
    assert frequentist_test(c, t) == two_proportion_z_test(c, t)
    assert frequentist_test(c.moments(), t.moments()) == welch_t_test(c.moments(), t.moments())
    assert frequentist_test(c, t, FrequentistSettings(sequential=True)).sequential


@pytest.mark.parametrize(
    ("control", "treatment", "code"),
    [
        (Moments(0, 0.0, 0.0), Moments(10, 1.0, 1.0), "empty_arm"),
        (Moments(1, 3.0, 0.0), Moments(10, 1.0, 1.0), "too_few_users"),
        (Moments(50, 3.0, 0.0), Moments(40, 3.0, 0.0), "zero_variance"),
    ],
)
def test_data_problems_are_results_not_exceptions(control, treatment, code):
    r = welch_t_test(control, treatment)
    assert r.error == code
    assert math.isnan(r.p_value)


def test_all_converted_is_zero_variance():
    assert two_proportion_z_test(Proportion(30, 30), Proportion(20, 20)).error == "zero_variance"


def test_zero_control_mean_gives_no_relative_lift():
    r = two_proportion_z_test(Proportion(100, 0), Proportion(100, 5))
    assert r.relative_lift is None and r.relative_ci is None
    assert r.error is None and r.p_value < 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 0.0}, "alpha"), ({"alpha": 1.2}, "alpha"), ({"sequential_tuning": 0}, "tuning")],
)
def test_bad_settings_are_config_errors(kwargs, message):
    from careops.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        FrequentistSettings(**kwargs)

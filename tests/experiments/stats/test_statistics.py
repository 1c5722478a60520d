"""Sufficient statistics: derived mean/variance match numpy, and adding pools users exactly."""

import numpy as np
import pytest

from careops.experiments.stats.statistics import CupedStatistic, Proportion, SampleMean


def test_sample_mean_matches_numpy_and_adds():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(2.0, 30.0, 500), rng.gamma(2.0, 30.0, 300)
    joint = SampleMean.from_values(a) + SampleMean.from_values(b)
    both = np.concatenate([a, b])
    assert joint.n == 800
    assert joint.mean == pytest.approx(both.mean(), rel=1e-12)
    assert joint.variance == pytest.approx(both.var(ddof=1), rel=1e-10)


def test_proportion_variance_is_p_times_one_minus_p():
    p = Proportion(n=200, sum=50) + Proportion(n=200, sum=30)
    assert (p.n, p.sum, p.mean) == (400, 80, 0.2)
    assert p.variance == pytest.approx(0.16)
    assert p.moments().standard_error == pytest.approx(np.sqrt(0.16 / 400))


def test_cuped_covariance_matches_numpy_and_adds():
    rng = np.random.default_rng(2)
    x = rng.normal(10, 2, 1000)
    y = 3 + 0.8 * x + rng.normal(0, 1, 1000)
    joint = CupedStatistic.from_values(y[:400], x[:400]) + CupedStatistic.from_values(
        y[400:], x[400:]
    )
    assert joint.covariance == pytest.approx(np.cov(y, x, ddof=1)[0, 1], rel=1e-10)
    theta = joint.covariance / joint.pre.variance
    adjusted = joint.moments(theta, joint.pre.mean)
    assert adjusted.mean == pytest.approx(y.mean(), rel=1e-12)  # centred on the pooled pre mean
    assert adjusted.variance == pytest.approx(np.var(y - theta * x, ddof=1), rel=1e-9)


def test_empty_and_single_user_arms_do_not_raise():
    assert SampleMean(0, 0.0, 0.0).mean == 0.0
    assert SampleMean(1, 5.0, 25.0).variance == 0.0
    assert Proportion(0, 0).moments().standard_error == 0.0


def test_adding_different_kinds_is_refused():
    with pytest.raises(TypeError):
        SampleMean(1, 1.0, 1.0) + Proportion(1, 1)

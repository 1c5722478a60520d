"""Ratio metrics (Σnum / Σden over users) by the delta method, and CUPED on them.

References: a hand computation, the user-level bootstrap, simulated coverage, and an
independent numpy implementation of the linearisation (Deng, Knoblich & Lu, KDD 2018).
"""

import numpy as np
import pytest

from careops.experiments.analyze import analyze_statistics
from careops.experiments.stats.cuped import adjust
from careops.experiments.stats.frequentist import welch_t_test
from careops.experiments.stats.statistics import (
    RatioCupedStatistic,
    RatioStatistic,
    SampleMean,
)


def test_hand_computed_example():
    # num (2, 0, 1), den (2, 1, 1): R = 3/4, d̄ = 4/3; linearised (num − R·den)/d̄ =
    # (0.375, −0.5625, 0.1875), sample variance 0.4921875 / 2 = 0.24609375
    s = RatioStatistic.from_values([2, 0, 1], [2, 1, 1])
    assert s.mean == 0.75
    assert s.variance == pytest.approx(0.24609375, rel=1e-12)
    assert s.moments().standard_error == pytest.approx(np.sqrt(0.24609375 / 3), rel=1e-12)


def test_denominator_one_per_user_is_the_plain_mean():
    y = np.random.default_rng(1).gamma(2.0, 3.0, 500)
    ratio = RatioStatistic.from_values(y, np.ones_like(y)).moments()
    mean = SampleMean.from_values(y).moments()
    assert ratio.mean == pytest.approx(mean.mean, rel=1e-12)
    assert ratio.variance == pytest.approx(mean.variance, rel=1e-9)


def clustered(rng, n, rate=0.3, shift=0.0):
    """Users answer Poisson(4) surveys; each user's chance of a 'yes' varies (Beta), so a user's
    answers are correlated. True ratio = E[p] = rate + shift (clipping aside)."""
    den = rng.poisson(4.0, n)
    p = np.clip(rng.beta(0.6, 0.6 * (1 - rate) / rate, n) + shift, 0, 1)
    return rng.binomial(den, p), den


def test_delta_method_matches_the_bootstrap_and_not_the_naive_binomial():
    rng = np.random.default_rng(7)
    num, den = clustered(rng, 3000)
    s = RatioStatistic.from_values(num, den)
    boot = []
    for _ in range(2000):
        i = rng.integers(0, len(num), len(num))
        boot.append(num[i].sum() / den[i].sum())
    se = s.moments().standard_error
    assert se == pytest.approx(np.std(boot, ddof=1), rel=0.07)
    naive = np.sqrt(s.mean * (1 - s.mean) / den.sum())  # answers treated as independent
    assert se > 1.25 * naive


def test_relative_and_absolute_intervals_cover_at_the_nominal_rate():
    rng = np.random.default_rng(11)
    runs, n, shift = 1000, 600, 0.05
    abs_hit = rel_hit = 0
    for _ in range(runs):
        c = RatioStatistic.from_values(*clustered(rng, n))
        t = RatioStatistic.from_values(*clustered(rng, n, shift=shift))
        r = welch_t_test(c.moments(), t.moments())
        abs_hit += r.absolute_ci[0] <= shift <= r.absolute_ci[1]
        rel_hit += r.relative_ci[0] <= shift / 0.3 <= r.relative_ci[1]
    band = 4 * np.sqrt(0.05 * 0.95 / runs)
    assert abs(abs_hit / runs - 0.95) < band
    assert abs(rel_hit / runs - 0.95) < band


def _pair(rng, n, effect=0.0):
    """Pre- and post-period ratios of the same users (a user's rate persists)."""
    p = rng.beta(0.6, 1.4, n)
    d_pre, d_post = rng.poisson(8.0, n), rng.poisson(8.0, n)
    x = rng.binomial(d_pre, p)
    y = rng.binomial(d_post, np.clip(p + effect, 0, 1))
    return y, d_post, x, d_pre


def _cuped(y, d, x, e) -> RatioCupedStatistic:
    return RatioCupedStatistic(
        RatioStatistic.from_values(y, d),
        RatioStatistic.from_values(x, e),
        (float((y * x).sum()), float((y * e).sum()), float((d * x).sum()), float((d * e).sum())),
    )


def test_ratio_cuped_matches_an_explicit_linearisation():
    rng = np.random.default_rng(3)
    y, d, x, e = _pair(rng, 2000)
    s = _cuped(y, d, x, e)
    r, rx = y.sum() / d.sum(), x.sum() / e.sum()
    lin_y = (y - r * d) / d.mean()
    lin_x = (x - rx * e) / e.mean()
    assert s.covariance == pytest.approx(np.cov(lin_y, lin_x, ddof=1)[0, 1], rel=1e-9)
    theta = np.cov(lin_y, lin_x)[0, 1] / np.var(lin_x, ddof=1)
    m = s.moments(theta, pre_mean=0.3)
    assert m.mean == pytest.approx(r - theta * (rx - 0.3), rel=1e-12)
    assert m.variance == pytest.approx(np.var(lin_y - theta * lin_x, ddof=1), rel=1e-9)


def test_ratio_cuped_shrinks_the_variance_and_keeps_coverage():
    rng = np.random.default_rng(5)
    runs, n, effect = 800, 800, 0.02
    raw, adjusted, predicted, covered = [], [], [], 0
    for _ in range(runs):
        arms = {"c": _cuped(*_pair(rng, n)), "t": _cuped(*_pair(rng, n, effect))}
        m = adjust(arms)
        raw.append(arms["t"].post.mean - arms["c"].post.mean)
        adjusted.append(m["t"].mean - m["c"].mean)
        predicted.append(m["c"].variance / arms["c"].post.variance)
        r = welch_t_test(m["c"], m["t"])
        covered += r.absolute_ci[0] <= effect <= r.absolute_ci[1]
    # the per-user variance ratio predicts the ratio of the estimators' sampling variances
    assert np.var(adjusted) / np.var(raw) == pytest.approx(np.mean(predicted), rel=0.15)
    assert np.mean(predicted) < 0.6
    assert abs(covered / runs - 0.95) < 4 * np.sqrt(0.05 * 0.95 / runs)


def test_an_arm_without_units_is_reported_not_raised():
    rng = np.random.default_rng(2)
    c = RatioStatistic.from_values(*clustered(rng, 50))
    t = RatioStatistic.from_values(np.zeros(40), np.zeros(40))
    a = analyze_statistics({"control": c, "t": t}, "control", "nps", kind="ratio")
    row = a.variants[1]
    assert row.n == 40 and np.isnan(row.mean)
    assert row.frequentist.error == "no_units" and row.bayesian.error == "no_units"
    assert a.to_dict()["variants"][1]["error_message"]

"""Confidence sequences: safe under continuous peeking, where a fixed-horizon test is not."""

import numpy as np
import pytest
from scipy import stats

from careops.experiments.stats import sequential as seq
from careops.experiments.stats.frequentist import sequential_test
from careops.experiments.stats.statistics import Moments

ALPHA = 0.05


def peeking_simulation(rng, runs, n_max, step, effect=0.0):
    """Running estimates of (mean_t − mean_c) and its SE at every `step` users per arm."""
    looks = np.arange(step, n_max + 1, step)
    c = rng.normal(0.0, 1.0, size=(runs, n_max)).astype(np.float64)
    t = rng.normal(effect, 2.0, size=(runs, n_max))
    csum_c, csum_t = np.cumsum(c, 1)[:, looks - 1], np.cumsum(t, 1)[:, looks - 1]
    csq_c, csq_t = np.cumsum(c**2, 1)[:, looks - 1], np.cumsum(t**2, 1)[:, looks - 1]
    mean_c, mean_t = csum_c / looks, csum_t / looks
    var_c = (csq_c - csum_c * mean_c) / (looks - 1)
    var_t = (csq_t - csum_t * mean_t) / (looks - 1)
    return looks, mean_t - mean_c, np.sqrt(var_c / looks + var_t / looks)


def test_false_positive_rate_under_continuous_peeking():
    rng = np.random.default_rng(31)
    runs = 1000
    looks, diff, se = peeking_simulation(rng, runs, n_max=4000, step=40)  # 100 looks per run
    n_total = 2 * looks
    width = seq.halfwidth(se, n_total, ALPHA, tuning=5000)
    sequential_fp = (np.abs(diff) > width).any(axis=1).mean()
    naive_every = (np.abs(diff / se) > stats.norm.ppf(1 - ALPHA / 2)).any(axis=1).mean()
    ten = np.linspace(9, len(looks) - 1, 10).astype(int)  # 10 evenly spaced looks
    naive_ten = (np.abs(diff[:, ten] / se[:, ten]) > stats.norm.ppf(1 - ALPHA / 2)).any(1).mean()
    # sequential stays at or below α (allowing 3 SE of sampling noise of a 5 % rate)
    assert sequential_fp <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / runs)
    # the naive test peeked 10 times inflates well beyond α (theory ≈ 0.19 for 10 looks)
    assert naive_ten > 0.12
    assert naive_every > naive_ten
    # always-valid p-value agrees with the interval at every look
    p = seq.always_valid_p_value(diff, se, n_total, ALPHA, 5000)
    np.testing.assert_array_equal(p < ALPHA, np.abs(diff) > width)


def test_sequence_covers_a_real_effect_at_all_looks():
    rng = np.random.default_rng(32)
    runs = 1000
    looks, diff, se = peeking_simulation(rng, runs, n_max=3000, step=50, effect=0.3)
    width = seq.halfwidth(se, 2 * looks, ALPHA, tuning=5000)
    ever_missed = (np.abs(diff - 0.3) > width).any(axis=1).mean()
    assert ever_missed <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / runs)
    # and it has power: by the last look the effect is detected in nearly every run
    assert (np.abs(diff[:, -1]) > width[:, -1]).mean() > 0.9


def test_scalar_test_matches_vectorised_boundary_and_is_wider_than_fixed():
    c, t = Moments(2500, 10.0, 4.0), Moments(2500, 10.2, 4.0)
    r = sequential_test(c, t, ALPHA, tuning=5000)
    se = np.sqrt(4 / 2500 * 2)
    w = float(seq.halfwidth(se, 5000, ALPHA, 5000))
    assert r.absolute_ci == pytest.approx((0.2 - w, 0.2 + w), rel=1e-12)
    assert w > stats.norm.ppf(0.975) * se  # the price of peeking safely
    assert r.sequential and r.relative_ci is not None


def test_width_is_smallest_relative_to_fixed_near_the_tuning_size():
    """halfwidth / (z·SE) is minimised at n = tuning (for a fixed per-unit SD)."""
    n = np.array([500.0, 2000.0, 5000.0, 12000.0, 50000.0])
    se = 1.0 / np.sqrt(n)
    ratio = seq.halfwidth(se, n, ALPHA, 5000) / se
    assert np.argmin(ratio) == 2


def test_rho_formula():
    # ρ² = (−2 log α + log(−2 log α + 1)) / t*  (Waudby-Smith et al. 2023)
    a = -2 * np.log(0.05)
    assert seq.mixture_rho(0.05, 5000) == pytest.approx(np.sqrt((a + np.log(a + 1)) / 5000))

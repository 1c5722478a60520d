"""Sample-ratio mismatch against scipy.stats.chisquare."""

import pytest
from scipy import stats

from careops.experiments.stats.srm import srm_check


def test_matches_scipy_chisquare_with_uneven_weights():
    counts = {"control": 4_890, "a": 2_550, "b": 2_560}
    weights = {"control": 0.5, "a": 0.25, "b": 0.25}
    r = srm_check(counts, weights)
    ref = stats.chisquare([4_890, 2_550, 2_560], f_exp=[5_000, 2_500, 2_500])
    assert r.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)


def test_flag_boundary_at_threshold():
    # 50/50 split: 50 000 vs 51 000 → χ² = 2·500²/50 500 = 9.90, p = 0.00165: not flagged;
    # 50 000 vs 51 200 → χ² = 2·600²/50 600 = 14.2, p = 0.00016: flagged.
    ok = srm_check({"c": 50_000, "t": 51_000}, {"c": 0.5, "t": 0.5})
    bad = srm_check({"c": 50_000, "t": 51_200}, {"c": 0.5, "t": 0.5})
    assert ok.chi2 == pytest.approx(2 * 500**2 / 50_500)
    assert not ok.flagged and 0.001 < ok.p_value < 0.002
    assert bad.flagged and bad.p_value < 0.001


def test_missing_arm_counts_as_zero_and_no_users_is_not_flagged():
    assert srm_check({"c": 100}, {"c": 0.5, "t": 0.5}).flagged
    empty = srm_check({}, {"c": 0.5, "t": 0.5})
    assert empty.p_value == 1.0 and not empty.flagged

"""Holm and Benjamini–Hochberg against statsmodels.stats.multitest.multipletests."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from careops.experiments.stats.multiple import adjust_p_values, benjamini_hochberg, holm

P = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9])


@pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_matches_statsmodels(ours, method):
    expected = multipletests(P, method=method)[1]
    np.testing.assert_allclose(ours(P), expected, rtol=1e-12)


def test_textbook_holm_example():
    # Holm (1979) step-down by hand: sorted 0.005, 0.01, 0.03 with m = 3 → 0.015, 0.02, 0.03.
    np.testing.assert_allclose(holm([0.01, 0.03, 0.005]), [0.02, 0.03, 0.015])


def test_nan_is_kept_and_not_counted():
    adjusted = adjust_p_values([0.01, np.nan, 0.04], "bh")
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.04])
    np.testing.assert_allclose(adjust_p_values([0.2, 0.3], "none"), [0.2, 0.3])

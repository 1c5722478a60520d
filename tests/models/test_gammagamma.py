"""Gamma-Gamma against the published CDNOW figures (Fader, Hardie & Lee 2005, "RFM and CLV:
Using Iso-Value Curves for Customer Base Analysis", JMR 42(4): p = 6.25, q = 3.74, γ = 15.44 on
the 946 customers with repeat purchases in the 39-week calibration period)."""

from __future__ import annotations

import numpy as np
import pytest

from careops.errors import InvalidInput
from careops.models.clv.gammagamma import (
    GammaGamma,
    GammaGammaParams,
    expected_spend,
    frequency_spend_correlation,
)
from careops.models.clv.summary import summarise
from careops.models.clv.transactions import day_number
from tests.models import cdnow


def test_fit_reproduces_the_published_cdnow_spend_parameters():
    """From the raw transactions; the published summary's 2-decimal zbar gives γ = 15.45."""
    log = cdnow.log()
    s = summarise(
        log.customer, log.day, log.amount, end_day=day_number(cdnow.CALIBRATION_END), unit_days=7
    )
    repeat = s.spend_n > 0
    model = GammaGamma().fit(s.spend_n[repeat], s.spend_mean[repeat])
    p = model.params
    assert model.n_customers_ == 946
    assert (round(p.p, 2), round(p.q, 2), round(p.v, 2)) == (6.25, 3.74, 15.44)
    # the paper's population mean spend per transaction: p·γ/(q − 1) ≈ $35.2
    assert p.mean_spend == pytest.approx(35.2, abs=0.05)
    # and the paper notes spend is nearly uncorrelated with frequency (r = 0.11)
    assert frequency_spend_correlation(s.spend_n[repeat], s.spend_mean[repeat]) == pytest.approx(
        0.11, abs=0.01
    )
    pub = cdnow.published_summary()
    rounded = GammaGamma().fit(pub["x"][pub["x"] > 0], pub["zbar"][pub["x"] > 0]).params
    assert (rounded.p, rounded.q, rounded.v) == pytest.approx((6.25, 3.74, 15.44), abs=0.011)


def test_expected_spend_is_the_credibility_weighted_mean():
    params = GammaGammaParams(p=6.25, q=3.74, v=15.44)
    population = 6.25 * 15.44 / 2.74
    # n = 2 purchases of mean 20: weight px/(px+q−1) = 12.5/15.24 on the customer's own mean
    w = 12.5 / (12.5 + 2.74)
    got = expected_spend(params, [0, 2], [0, 20.0])
    assert got[0] == pytest.approx(population)
    assert got[1] == pytest.approx(w * 20 + (1 - w) * population)


def test_infinite_population_mean_is_refused():
    with pytest.raises(InvalidInput, match=r"q = 0\.9"):
        expected_spend(GammaGammaParams(p=2, q=0.9, v=10), [1], [5])


@pytest.mark.parametrize(
    ("n", "m", "words"),
    [
        ([1], [10.0], "at least two"),
        ([1, 2], [10.0, 0.0], "> 0"),
        ([0, 2], [10.0, 5.0], "≥ 1"),
        ([1, 2], [10.0, np.inf], "finite"),
    ],
)
def test_bad_spend_input_is_refused(n, m, words):
    with pytest.raises(InvalidInput) as exc:
        GammaGamma().fit(n, m)
    assert words in str(exc.value)


def test_analytic_gradient_matches_finite_differences():
    from scipy.optimize import approx_fprime

    from careops.models.clv.gammagamma import gradient, log_likelihood

    pub = cdnow.published_summary()
    n, m = pub["x"][pub["x"] > 0], pub["zbar"][pub["x"] > 0]
    theta = np.array([5.0, 3.0, 12.0])

    def total(v):
        return log_likelihood(GammaGammaParams(*v), n, m).sum()

    got = gradient(GammaGammaParams(*theta), n, m).sum(axis=1)
    np.testing.assert_allclose(got, approx_fprime(theta, total, 1e-6), rtol=1e-4)

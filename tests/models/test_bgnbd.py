"""BG/NBD against the published CDNOW figures and the paper's closed forms.

References: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
the Pareto/NBD Model", Marketing Science 24(2) — 2,357 CDNOW customers, 39-week calibration:
r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4 (section 4); a customer with x = 2,
t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks (section 4, Figure 5 text).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import hyp2f1

from careops.errors import InvalidInput
from careops.models.clv.bgnbd import (
    BetaGeo,
    BetaGeoParams,
    expected_purchases,
    expected_purchases_new,
    log_likelihood,
    p_alive,
)
from careops.models.clv.summary import summarise
from careops.models.clv.transactions import day_number
from tests.models import cdnow

PUBLISHED = BetaGeoParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


@pytest.fixture(scope="module")
def summary():
    log = cdnow.log()
    return summarise(
        log.customer, log.day, log.amount, end_day=day_number(cdnow.CALIBRATION_END), unit_days=7
    )


def test_summary_of_the_transactions_equals_hardies(summary):
    """Our (x, t_x, T) from the raw transactions equal the published summary (2-decimal
    rounding), and so does the mean repeat spend."""
    pub = cdnow.published_summary()
    assert len(summary) == 2357 == len(pub["x"])
    np.testing.assert_array_equal(summary.x, pub["x"])
    np.testing.assert_allclose(summary.t_x, pub["t_x"], atol=0.005)
    np.testing.assert_allclose(summary.T, pub["T"], atol=0.005)
    np.testing.assert_allclose(summary.spend_mean, pub["zbar"], atol=0.0051)
    assert int(summary.x.sum()) == 1 * 0 + int(pub["x"].sum())


def test_fit_reproduces_the_published_cdnow_parameters(summary):
    model = BetaGeo().fit(summary.x, summary.t_x, summary.T)
    p = model.params
    assert (round(p.r, 3), round(p.alpha, 3), round(p.a, 3), round(p.b, 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    assert round(model.log_likelihood_, 1) == -9582.4
    assert model.n_customers_ == 2357


def test_published_parameters_give_the_published_log_likelihood(summary):
    ll = log_likelihood(PUBLISHED, summary.x, summary.t_x, summary.T).sum()
    assert ll == pytest.approx(-9582.4, abs=0.1)


def test_conditional_expectation_of_the_papers_example_customer():
    e = expected_purchases(PUBLISHED, 39, [2], [30.43], [38.86])
    assert e[0] == pytest.approx(1.226, abs=0.0005)


def _paper_eq10(params: BetaGeoParams, t, x, t_x, T):
    """Equation 10 as printed (no Euler transformation): fine for moderate inputs."""
    r, al, a, b = params.r, params.alpha, params.a, params.b
    num = (a + b + x - 1) / (a - 1)
    num *= 1 - ((al + T) / (al + T + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (al + T + t)
    )
    return num / (1 + (x > 0) * a / (b + x - 1) * ((al + T) / (al + t_x)) ** (r + x))


@pytest.mark.parametrize(
    ("t", "x", "t_x", "T"),
    [
        (39, 0, 0, 38.86),
        (39, 2, 30.43, 38.86),
        (52, 7, 35.14, 38.86),
        (5, 1, 1, 2),
        (100, 3, 20, 30),
    ],
)
def test_euler_transformed_expectation_equals_the_printed_formula(t, x, t_x, T):
    ours = expected_purchases(PUBLISHED, t, [x], [t_x], [T])[0]
    assert ours == pytest.approx(_paper_eq10(PUBLISHED, t, x, t_x, T), rel=1e-9)


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence():
    alive = p_alive(PUBLISHED, [0, 2, 2, 2], [0, 30.43, 20, 5], [38.86] * 4)
    assert alive[0] == 1.0
    assert alive[1] == pytest.approx(0.7266, abs=1e-4)  # = 1 / (1 + a/(b+1)·(43.27/34.84)^2.243)
    assert alive[1] > alive[2] > alive[3] > 0


def test_unconditional_expectation_is_eq10_for_a_customer_just_acquired():
    new = expected_purchases_new(PUBLISHED, [39.0])[0]
    assert new == pytest.approx(expected_purchases(PUBLISHED, 39, [0], [0], [0])[0], rel=1e-9)


def test_stable_for_heavy_buyers_and_long_histories():
    """Hundreds of purchases, T of 20 years in days, 10-year horizons: finite, no warnings."""
    params = BetaGeoParams(r=0.5, alpha=40.0, a=0.8, b=3.0)
    x = np.array([0, 1, 50, 500, 3000], dtype=float)
    t_x = np.array([0, 7000, 7000, 7200, 7299], dtype=float)
    T = np.full(5, 7300.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = expected_purchases(params, 3650, x, t_x, T)
        alive = p_alive(params, x, t_x, T)
        ll = log_likelihood(params, x, t_x, T)
    assert np.isfinite(e).all() and np.isfinite(alive).all() and np.isfinite(ll).all()
    assert (e >= 0).all() and ((alive >= 0) & (alive <= 1)).all()
    assert e[4] > e[3] > e[2]  # recent heavy buyers expect more


def test_weights_are_the_same_as_repeated_rows(summary):
    once = BetaGeo().fit(summary.x[:800], summary.t_x[:800], summary.T[:800])
    doubled = BetaGeo().fit(
        np.r_[summary.x[:800], summary.x[:800]],
        np.r_[summary.t_x[:800], summary.t_x[:800]],
        np.r_[summary.T[:800], summary.T[:800]],
    )
    assert doubled.params.r == pytest.approx(once.params.r, rel=1e-4)
    assert doubled.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-6)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "words"),
    [
        ([], [], [], "no customers"),
        ([0, 0], [0, 0], [5, 6], "repeat purchase"),
        ([1, -1], [1, 0], [2, 2], "whole numbers"),
        ([1.5], [1], [2], "whole numbers"),
        ([1], [3], [2], "[0, T]"),
        ([0], [1], [2], "t_x must be 0"),
        ([1], [np.nan], [2], "finite"),
        ([1, 2], [1], [2, 3], "differ in length"),
    ],
)
def test_bad_summaries_are_refused_with_the_reason(x, t_x, T, words):
    with pytest.raises(InvalidInput, match=None) as exc:
        BetaGeo().fit(x, t_x, T)
    assert words in str(exc.value)


def test_unfitted_model_says_so():
    with pytest.raises(InvalidInput, match="not fitted"):
        BetaGeo().p_alive([0], [0], [1])


def test_analytic_gradient_matches_finite_differences(summary):
    from scipy.optimize import approx_fprime

    from careops.models.clv.bgnbd import log_likelihood_and_gradient

    x, t_x, T = summary.x[:300], summary.t_x[:300], summary.T[:300]
    theta = np.array([0.3, 5.0, 0.9, 2.0])

    def total(v):
        return log_likelihood(BetaGeoParams(*v), x, t_x, T).sum()

    _, grad = log_likelihood_and_gradient(BetaGeoParams(*theta), x, t_x, T)
    np.testing.assert_allclose(grad.sum(axis=1), approx_fprime(theta, total, 1e-7), rtol=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    r=st.floats(0.01, 20),
    alpha=st.floats(0.01, 500),
    a=st.floats(0.05, 20),
    b=st.floats(0.05, 20),
    x=st.integers(0, 2000),
    frac=st.floats(0, 1),
    T=st.floats(0.5, 10_000),
    t=st.floats(0.1, 5_000),
)
def test_properties_hold_for_any_parameters(r, alpha, a, b, x, frac, T, t):
    """P(alive) in [0, 1]; expected purchases finite, ≥ 0 and growing with the horizon."""
    params = BetaGeoParams(r, alpha, a, b)
    t_x = T * frac if x > 0 else 0.0
    alive = p_alive(params, [x], [t_x], [T])[0]
    e1, e2 = expected_purchases(params, np.array([t, 2 * t]), [x, x], [t_x, t_x], [T, T])
    assert 0 <= alive <= 1
    assert np.isfinite(e1) and np.isfinite(e2)
    assert -1e-9 <= e1 <= e2 * (1 + 1e-9) + 1e-12
    assert np.isfinite(log_likelihood(params, [x], [t_x], [T])[0])


def test_hypergeometric_where_scipy_gives_up():
    """SciPy's hyp2f1 returns inf when C − A − B is an exact integer and z > 0.9 (r = 1, a = 2,
    x = 99, … found by the property test); the fallback series agrees with SciPy a hair away
    from the degenerate point, where SciPy is right."""
    from careops.models.clv.bgnbd import gauss_2f1

    z = np.array([0.5, 0.909, 0.99, 0.9999])
    got = gauss_2f1(1.0, 1.0, 101.0, z)
    near = hyp2f1(1.0 + 1e-10, 1.0, 101.0, z)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, near, rtol=1e-8)
    e = expected_purchases(BetaGeoParams(1.0, 1.0, 2.0, 1.0), 20.0, [99], [0.0], [1.0])
    assert np.isfinite(e).all() and e[0] >= 0

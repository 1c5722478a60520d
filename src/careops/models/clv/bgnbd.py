"""BG/NBD: repeat purchases of customers who may quietly stop (Fader, Hardie & Lee 2005).

While alive, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase
they drop out with probability p ~ Beta(a, b). A customer is summarised by `x` (repeat purchases
after the first), `t_x` (time of the last purchase after the first) and `T` (time from the first
purchase to the end of the calibration period), all in one unit of time (a week, a day).

Everything is computed in log space (`gammaln`, `betaln`, `logaddexp`) so that customers with
hundreds of purchases or a very long `T` stay finite. Parameters are fitted by maximum likelihood
over their logarithms (so they stay positive) with L-BFGS-B; identical (x, t_x, T) rows are
collapsed into weights first, so a million patients with integer days fit in seconds.

Equations: likelihood (paper eq. 6), P(alive) (eq. 13), conditional expectation (eq. 10) with the
Euler transformation 2F1(a,b;c;z) = (1−z)^(c−a−b) 2F1(c−a,c−b;c;z), which removes the
(1−z)^(r+x) factor that under- and overflows for long horizons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from careops.errors import InvalidInput

#: bounds of the log-parameters: e^±12 covers any sensible time unit and still keeps the
#: optimiser away from overflow
LOG_BOUND = 12.0


@dataclass(frozen=True, slots=True)
class BetaGeoParams:
    """Fitted BG/NBD parameters: purchase rate λ ~ Gamma(r, α), dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def as_arrays(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) as float arrays, checked: same length, finite, 0 ≤ t_x ≤ T, t_x = 0 when
    x = 0 and x a whole number."""
    x, t_x, T = (np.asarray(v, dtype=np.float64).ravel() for v in (x, t_x, T))
    if not (len(x) == len(t_x) == len(T)):
        raise InvalidInput(f"x, t_x and T differ in length: {len(x)}, {len(t_x)}, {len(T)}")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise InvalidInput("x, t_x and T must be finite numbers")
    if (x < 0).any() or (np.floor(x) != x).any():
        raise InvalidInput("x (repeat purchases) must be whole numbers ≥ 0")
    if (t_x < 0).any() or (t_x > T).any():
        raise InvalidInput("t_x (last purchase) must lie in [0, T]")
    if ((x == 0) & (t_x != 0)).any():
        raise InvalidInput("t_x must be 0 for customers without repeat purchases (x = 0)")
    return x, t_x, T


def log_likelihood(params: BetaGeoParams, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood (paper eq. 6), in log space."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    gone = np.full_like(x, -np.inf)
    xr = x[repeat]
    gone[repeat] = betaln(a + 1, b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(alive, gone)


def log_likelihood_and_gradient(
    params: BetaGeoParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log-likelihood and its gradient (4 × n: d/dr, d/dα, d/da, d/db).

    ℓ = C + logaddexp(A, G): C the common terms, A "still alive at T", G "dropped out after the
    last purchase" (x > 0 only); the gradient is ∂C + w_A ∂A + w_G ∂G with w the posterior
    weights of the two branches (digamma ψ for the Γ and B terms)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    xg = np.where(repeat, x, 1.0)  # keeps b + x − 1 > 0 where G is unused
    C = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    A = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    G = np.where(repeat, betaln(a + 1, b + xg - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
    mix = np.logaddexp(A, G)
    wA = np.exp(A - mix)
    wG = 1.0 - wA
    psi_abx = digamma(a + b + x)
    dr = digamma(r + x) - digamma(r) + np.log(alpha) - wA * np.log(alpha + T)
    dr -= wG * np.log(alpha + t_x)
    dalpha = r / alpha - wA * (r + x) / (alpha + T) - wG * (r + x) / (alpha + t_x)
    da = -(digamma(a) - digamma(a + b)) + wA * (digamma(a) - psi_abx)
    da += wG * (digamma(a + 1) - psi_abx)
    db = -(digamma(b) - digamma(a + b)) + wA * (digamma(b + x) - psi_abx)
    db += wG * (digamma(b + xg - 1) - psi_abx)
    return C + mix, np.stack([dr, dalpha, da, db])


def _log_odds_gone(params: BetaGeoParams, x, t_x, T) -> np.ndarray:
    """log of δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x): the odds that a customer has dropped out;
    −inf for customers without repeat purchases (they cannot have dropped out)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    out = np.full(x.shape, -np.inf)
    m = x > 0
    xm = x[m]
    out[m] = (
        np.log(a) - np.log(b + xm - 1) + (r + xm) * (np.log(alpha + T[m]) - np.log(alpha + t_x[m]))
    )
    return out


def p_alive(params: BetaGeoParams, x, t_x, T) -> np.ndarray:
    """P(still a customer at T | x, t_x, T) (paper eq. 13)."""
    x, t_x, T = as_arrays(x, t_x, T)
    return expit(-_log_odds_gone(params, x, t_x, T))


def gauss_2f1(A, B, C, z) -> np.ndarray:
    """₂F₁(A, B; C; z) for 0 ≤ z < 1: SciPy's `hyp2f1`, and where it gives up (SciPy 1.17 returns
    inf when C − A − B is exactly an integer and z > 0.9) the power series, summed until its terms
    are below 1e-16 of the sum (it converges for |z| < 1; used on those entries only)."""
    A, B, C, z = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(A, B, C, z))
    out = np.array(hyp2f1(A, B, C, z), dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        a_, b_, c_, z_ = A[bad], B[bad], C[bad], z[bad]
        term = np.ones_like(z_)
        total = np.ones_like(z_)
        active = np.ones(z_.shape, dtype=bool)
        k = 0
        while active.any() and k < 5_000_000:
            term = np.where(active, term * (a_ + k) * (b_ + k) / ((c_ + k) * (k + 1)) * z_, 0.0)
            total += term
            k += 1
            if k % 64 == 0:
                active &= np.abs(term) > 1e-16 * np.abs(total)
        out[bad] = total
    return out


def _off_one(a: float) -> float:
    """`a`, nudged off 1 where the closed form has a removable 0/0 (its limit is continuous)."""
    return a if abs(a - 1) > 1e-7 else 1 + 1e-7


def expected_purchases(params: BetaGeoParams, t, x, t_x, T) -> np.ndarray:
    """Expected purchases in (T, T + t] given (x, t_x, T) (paper eq. 10), for a scalar or
    per-customer horizon `t` ≥ 0."""
    x, t_x, T = as_arrays(x, t_x, T)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    if (t < 0).any() or not np.isfinite(t).all():
        raise InvalidInput("the horizon t must be a finite number ≥ 0")
    r, alpha, a, b = params.r, params.alpha, _off_one(params.a), params.b
    z = t / (alpha + T + t)
    c = a + b + x - 1
    # ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; c; z) = (1−z)^(a−1) · 2F1(c−r−x, a−1; c; z)
    tail = np.exp((a - 1) * np.log1p(-z)) * gauss_2f1(c - r - x, a - 1, c, z)
    numerator = (c / (a - 1)) * (1 - tail)
    return numerator * expit(-_log_odds_gone(params, x, t_x, T))


def expected_purchases_new(params: BetaGeoParams, t) -> np.ndarray:
    """Expected purchases in (0, t] of a customer just acquired (paper eq. 7)."""
    r, alpha, a, b = params.r, params.alpha, _off_one(params.a), params.b
    t = np.asarray(t, dtype=np.float64)
    z = t / (alpha + t)
    c = a + b - 1
    tail = np.exp((a - 1) * np.log1p(-z)) * gauss_2f1(c - r, a - 1, c, z)
    return (c / (a - 1)) * (1 - tail)


def minimize_log(objective, start: np.ndarray):
    """Minimise `objective(θ) -> (value, gradient)` over bounded log-parameters: L-BFGS-B with
    the analytic gradient; Nelder-Mead from its end point only when it did not converge."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    best = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-10},
    )
    at_bound = np.abs(best.x) >= LOG_BOUND - 1e-3
    if not best.success and not at_bound.any():  # at a bound the likelihood is flat that way
        polish = minimize(
            lambda theta: objective(theta)[0],
            best.x,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 2000, "xatol": 1e-8, "fatol": 1e-13},
        )
        if polish.fun <= best.fun:
            best = polish
    return best


def _collapse(x, t_x, T, weights=None):
    """Identical (x, t_x, T) rows as one row with a weight (integer days repeat a lot); a
    lexsort and a diff, much faster than `np.unique(axis=0)` on a million rows."""
    order = np.lexsort((T, t_x, x))
    xs, ts, Ts = x[order], t_x[order], T[order]
    new = np.ones(len(xs), dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (ts[1:] != ts[:-1]) | (Ts[1:] != Ts[:-1])
    group = np.cumsum(new) - 1
    w = np.bincount(group, weights=None if weights is None else weights[order])
    return xs[new], ts[new], Ts[new], w


@dataclass
class BetaGeo:
    """The BG/NBD model, shaped like a scikit-learn estimator: `fit()` returns self, fitted
    values end in `_`.

    penalizer: L2 penalty on the parameters (0 = plain maximum likelihood, the published fit).
    """

    penalizer: float = 0.0
    params_: BetaGeoParams | None = None
    log_likelihood_: float | None = None
    n_customers_: int = 0
    converged_: bool = False
    #: a parameter ran into its bound (e^±12): the data do not pin it down
    at_bound_: bool = False

    def fit(self, x, t_x, T, weights=None) -> BetaGeo:
        """Maximum-likelihood fit on per-customer (x, t_x, T) (optionally weighted)."""
        x, t_x, T = as_arrays(x, t_x, T)
        if len(x) == 0:
            raise InvalidInput("no customers to fit / 没有可拟合的客户")
        if not (x > 0).any():
            raise InvalidInput(
                "没有任何客户复购, 无法估计购买率和流失率 / no customer made a repeat "
                "purchase: BG/NBD needs some customers with two or more purchases"
            )
        if not (T > 0).any():
            raise InvalidInput("every customer was acquired at the end of calibration (T = 0)")
        w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        ux, ut, uT, uw = _collapse(x, t_x, T, w)
        total = uw.sum()
        scale = max(float(np.mean(T[T > 0])), 1e-9)  # α lives on the scale of T

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            values = np.exp(theta)
            ll, grad = log_likelihood_and_gradient(BetaGeoParams(*values), ux, ut, uT)
            f = float(np.dot(uw, ll)) / total
            if not np.isfinite(f):
                return 1e30, np.zeros(4)
            g = (grad @ uw) / total * values  # d/dlog(θ) = θ · d/dθ
            penalty = self.penalizer * values**2
            return -f + float(penalty.sum()), -g + 2 * penalty

        best = minimize_log(objective, np.log([1.0, scale, 1.0, 1.0]))
        params = BetaGeoParams(*map(float, np.exp(best.x)))
        self.params_ = params
        self.log_likelihood_ = float(np.dot(uw, log_likelihood(params, ux, ut, uT)))
        self.n_customers_ = round(float(total))
        self.converged_ = bool(np.isfinite(self.log_likelihood_))
        self.at_bound_ = bool(np.any(np.abs(best.x) >= LOG_BOUND - 1e-3))
        return self

    @property
    def params(self) -> BetaGeoParams:
        if self.params_ is None:
            raise InvalidInput("the BG/NBD model is not fitted yet (call fit first)")
        return self.params_

    def p_alive(self, x, t_x, T) -> np.ndarray:
        return p_alive(self.params, x, t_x, T)

    def expected_purchases(self, t, x, t_x, T) -> np.ndarray:
        """Expected purchases in the next `t` units of each customer."""
        return expected_purchases(self.params, t, x, t_x, T)

    def expected_purchases_new(self, t) -> np.ndarray:
        return expected_purchases_new(self.params, t)

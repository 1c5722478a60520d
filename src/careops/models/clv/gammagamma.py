"""Gamma-Gamma: the value of a customer's purchases (Fader, Hardie & Lee 2005, "RFM and CLV";
Fader & Hardie, "The Gamma-Gamma Model of Monetary Value", 2013).

Each purchase of a customer is worth z ~ Gamma(p, ν), with ν ~ Gamma(q, γ) across customers
(γ is the paper's `v`). A customer is summarised by `n` purchases and their mean value `m`; the
model assumes the spend is independent of how often the customer buys (checked by
`frequency_spend_correlation`). Fitted by maximum likelihood over log-parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from careops.errors import InvalidInput
from careops.models.clv.bgnbd import LOG_BOUND, minimize_log


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters: shape p per purchase, ν ~ Gamma(q, v) per customer."""

    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def mean_spend(self) -> float | None:
        """E[Z] of a customer about whom nothing is known: p·v / (q − 1) (None if q ≤ 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else None


def as_arrays(n, m) -> tuple[np.ndarray, np.ndarray]:
    """(n, m) for customers with n ≥ 1 purchases of positive mean value m, checked."""
    n, m = (np.asarray(v, dtype=np.float64).ravel() for v in (n, m))
    if len(n) != len(m):
        raise InvalidInput(f"n and m differ in length: {len(n)}, {len(m)}")
    if not (np.isfinite(n).all() and np.isfinite(m).all()):
        raise InvalidInput("purchase counts and mean spend must be finite numbers")
    if (n < 1).any() or (np.floor(n) != n).any():
        raise InvalidInput("the number of purchases behind a mean spend must be a whole number ≥ 1")
    if (m <= 0).any():
        raise InvalidInput("mean spend per purchase must be > 0 for the Gamma-Gamma model")
    return n, m


def log_likelihood(params: GammaGammaParams, n, m) -> np.ndarray:
    """Per-customer log density of the mean spend m of n purchases."""
    p, q, v = params.p, params.q, params.v
    px = p * n
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(n)
        - (px + q) * np.log(n * m + v)
    )


def gradient(params: GammaGammaParams, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer gradient of `log_likelihood` (3 × n: d/dp, d/dq, d/dv)."""
    p, q, v = params.p, params.q, params.v
    px = p * n
    log_total = np.log(n * m + v)
    shared = digamma(px + q)
    dp = n * (shared - digamma(px) + np.log(m) + np.log(n) - log_total)
    dq = shared - digamma(q) + np.log(v) - log_total
    dv = q / v - (px + q) / (n * m + v)
    return np.stack([dp, dq, dv])


def expected_spend(params: GammaGammaParams, n, m) -> np.ndarray:
    """E[value of a purchase | n purchases of mean m]: a weighted mean of the population mean
    and the customer's own mean; customers without purchases (n = 0) get the population mean."""
    n = np.asarray(n, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    p, q, v = params.p, params.q, params.v
    if q <= 1:
        raise InvalidInput(
            f"Gamma-Gamma q = {q:.3g} ≤ 1: the population mean spend is infinite; spend per "
            "purchase is too heavy-tailed for this model"
        )
    px = p * n
    own = np.where(n > 0, m, 0.0)
    return (q - 1) / (px + q - 1) * (p * v / (q - 1)) + px / (px + q - 1) * own


def frequency_spend_correlation(n, m) -> float:
    """Pearson correlation of purchase count with mean spend (the model assumes ≈ 0)."""
    n, m = as_arrays(n, m)
    if len(n) < 3 or n.std() == 0 or m.std() == 0:
        return 0.0
    return float(np.corrcoef(n, m)[0, 1])


@dataclass
class GammaGamma:
    """The Gamma-Gamma spend model; `fit(n, m)` returns self, fitted values end in `_`."""

    penalizer: float = 0.0
    params_: GammaGammaParams | None = None
    log_likelihood_: float | None = None
    n_customers_: int = 0
    #: a parameter ran into its bound (e^±12): the likelihood is flat that way, e.g. spend per
    #: purchase barely varies within a customer (p → ∞: each customer's own mean is trusted)
    at_bound_: bool = False

    def fit(self, n, m) -> GammaGamma:
        """Maximum-likelihood fit on customers' purchase counts and mean spend."""
        n, m = as_arrays(n, m)
        if len(n) < 2:
            raise InvalidInput(
                "Gamma-Gamma 需要至少 2 位有消费金额的客户 / the spend model needs at least two "
                "customers with repeat purchases and amounts"
            )
        scale = float(np.log(np.mean(m)))

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            values = np.exp(theta)
            params = GammaGammaParams(*values)
            ll = float(np.mean(log_likelihood(params, n, m)))
            if not np.isfinite(ll):
                return 1e30, np.zeros(3)
            g = gradient(params, n, m).mean(axis=1) * values  # d/dlog(θ) = θ · d/dθ
            penalty = self.penalizer * values**2
            return -ll + float(penalty.sum()), -g + 2 * penalty

        best = minimize_log(objective, np.array([0.0, 0.7, scale]))
        self.params_ = GammaGammaParams(*map(float, np.exp(best.x)))
        self.at_bound_ = bool(np.any(np.abs(best.x) >= LOG_BOUND - 1e-3))
        self.log_likelihood_ = float(np.sum(log_likelihood(self.params_, n, m)))
        self.n_customers_ = len(n)
        return self

    @property
    def params(self) -> GammaGammaParams:
        if self.params_ is None:
            raise InvalidInput("the Gamma-Gamma model is not fitted yet (call fit first)")
        return self.params_

    def expected_spend(self, n, m) -> np.ndarray:
        return expected_spend(self.params, n, m)

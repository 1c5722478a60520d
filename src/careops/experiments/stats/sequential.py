"""Always-valid confidence sequences, so that looking at an experiment every day is safe.

A fixed-horizon test checked repeatedly ("peeking") rejects a true null far more often than
alpha. A confidence sequence instead covers the true effect at *every* sample size at once with
probability ≥ 1 − alpha, so it may be read as often as wanted and the experiment stopped whenever.

We use the asymptotic normal-mixture confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy & Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences"
(2023, arXiv:2103.06476, Thm 2.2), the boundary of Robbins' normal-mixture martingale (Howard
et al. 2021) with a plug-in variance. For an estimate with per-unit variance σ² after t units:

    half-width(t) = σ · sqrt( 2 (t ρ² + 1) / (t² ρ²) · log( sqrt(t ρ² + 1) / α ) )

Tuning parameter ρ: the mixture's spread. It is set from `tuning` = the total sample size t*
at which the half-width is smallest, ρ² = (−2 log α + log(−2 log α + 1)) / t*
(Waudby-Smith et al. eq. for the optimal ρ; GrowthBook's default t* = 5000). Any t* gives valid
intervals; a t* near the final sample size gives the narrowest one there.
For two arms, t = n_c + n_t and σ² = SE² · t, where SE is the usual standard error of the lift.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def mixture_rho(alpha: float, tuning: float) -> float:
    """The mixture spread ρ that makes the sequence tightest at `tuning` total units."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / tuning)


def halfwidth(
    standard_error: npt.ArrayLike, n: npt.ArrayLike, alpha: float, tuning: float
) -> np.ndarray:
    """Half-width of the always-valid interval for an estimate with this standard error.

    Vectorised over `standard_error` and `n` (total units so far).
    """
    se = np.asarray(standard_error, dtype=float)
    t = np.asarray(n, dtype=float)
    rho2 = mixture_rho(alpha, tuning) ** 2
    sigma = se * np.sqrt(t)
    factor = 2.0 * (t * rho2 + 1.0) / (t**2 * rho2) * np.log(np.sqrt(t * rho2 + 1.0) / alpha)
    return sigma * np.sqrt(factor)


def always_valid_p_value(
    estimate: npt.ArrayLike,
    standard_error: npt.ArrayLike,
    n: npt.ArrayLike,
    alpha: float,
    tuning: float,
) -> np.ndarray:
    """Always-valid p-value: the smallest alpha whose sequence excludes 0 (capped at 1).

    It is 1 / E, E the mixture martingale's value (Waudby-Smith et al. 2023, eq. 155), so
    p < alpha exactly when the interval from `halfwidth` excludes zero. Note that ρ depends on
    the design alpha through `tuning`, so the p-value is tied to the same alpha.
    """
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(standard_error, dtype=float)
    t = np.asarray(n, dtype=float)
    rho2 = mixture_rho(alpha, tuning) ** 2
    z2 = (est / se) ** 2
    tr = t * rho2 + 1.0
    log_e = rho2 * t * z2 / (2.0 * tr) - 0.5 * np.log(tr)
    return np.minimum(1.0, np.exp(-log_e))

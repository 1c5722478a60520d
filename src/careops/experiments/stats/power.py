"""Sample size and power of a two-arm experiment (two-sided normal-approximation tests).

Means: Var(Δ̂) = σ²(1/n_c + 1/n_t). Proportions: pooled variance under the null and unpooled under
the alternative (Fleiss, *Statistical Methods for Rates and Proportions*, 1981 §3.2, without
continuity correction) — the same convention as statsmodels' `power_proportions_2indep`.
Power counts both rejection tails. `ratio` = n_t / n_c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, stats

from careops.errors import ConfigError
from careops.experiments.stats.settings import PowerSettings


@dataclass(frozen=True, slots=True)
class SampleSize:
    """Users needed per arm (rounded up) and the power actually reached with them."""

    control: int
    treatment: int
    power: float

    @property
    def total(self) -> int:
        return self.control + self.treatment


def _power(delta: float, n_control: float, sd_null: float, sd_alt: float, alpha: float) -> float:
    """Two-sided power; sd_* are per-control-user standard deviations of Δ̂ (× sqrt(n_c))."""
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    shift = abs(delta) * math.sqrt(n_control)
    return float(
        stats.norm.cdf((shift - z * sd_null) / sd_alt)
        + stats.norm.cdf((-shift - z * sd_null) / sd_alt)
    )


def _solve(delta: float, sd_null: float, sd_alt: float, s: PowerSettings) -> SampleSize:
    z_a = stats.norm.ppf(1.0 - s.alpha / 2.0)
    z_b = stats.norm.ppf(s.power)
    guess = ((z_a * sd_null + z_b * sd_alt) / delta) ** 2
    exact = optimize.brentq(
        lambda n: _power(delta, n, sd_null, sd_alt, s.alpha) - s.power,
        max(guess * 0.5, 1e-9),
        guess * 1.5 + 1.0,
        xtol=1e-10,
    )
    n_c = math.ceil(exact - 1e-9)
    n_t = math.ceil(n_c * s.ratio - 1e-9)
    return SampleSize(n_c, n_t, _power(delta, n_c, sd_null, sd_alt, s.alpha))


def _proportion_sds(p_c: float, p_t: float, ratio: float) -> tuple[float, float]:
    pooled = (p_c + ratio * p_t) / (1.0 + ratio)
    sd_null = math.sqrt(pooled * (1.0 - pooled) * (1.0 + 1.0 / ratio))
    sd_alt = math.sqrt(p_c * (1.0 - p_c) + p_t * (1.0 - p_t) / ratio)
    return sd_null, sd_alt


def treatment_rate(baseline: float, mde: float, relative: bool) -> float:
    """The treatment rate implied by a baseline and a minimum detectable effect."""
    if not 0.0 < baseline < 1.0:
        msg = f"baseline rate must lie strictly between 0 and 1, got {baseline}"
        raise ConfigError(msg)
    if mde == 0:
        msg = "minimum detectable effect (mde) must not be 0"
        raise ConfigError(msg)
    p_t = baseline * (1.0 + mde) if relative else baseline + mde
    if not 0.0 < p_t < 1.0:
        msg = f"baseline {baseline} with mde {mde} gives a treatment rate {p_t:.4g} outside (0, 1)"
        raise ConfigError(msg)
    return p_t


def sample_size_proportions(
    baseline: float, mde: float, relative: bool = False, settings: PowerSettings | None = None
) -> SampleSize:
    """Users per arm to detect a change of a conversion rate from `baseline`.

    mde: absolute change (0.02 = two percentage points) or, with `relative`, a fraction of the
    baseline (0.10 = +10 %).
    """
    s = settings or PowerSettings()
    p_t = treatment_rate(baseline, mde, relative)
    sd_null, sd_alt = _proportion_sds(baseline, p_t, s.ratio)
    return _solve(p_t - baseline, sd_null, sd_alt, s)


def sample_size_means(
    mde: float,
    sd: float,
    baseline: float | None = None,
    relative: bool = False,
    settings: PowerSettings | None = None,
) -> SampleSize:
    """Users per arm to detect an absolute change `mde` of a mean with per-user SD `sd`
    (or, with `relative`, a change of mde × baseline)."""
    s = settings or PowerSettings()
    if sd <= 0:
        msg = f"standard deviation (sd) must be positive, got {sd}"
        raise ConfigError(msg)
    if relative:
        if not baseline:
            msg = "a relative mde needs a non-zero baseline mean"
            raise ConfigError(msg)
        mde = mde * baseline
    if mde == 0:
        msg = "minimum detectable effect (mde) must not be 0"
        raise ConfigError(msg)
    sd_diff = sd * math.sqrt(1.0 + 1.0 / s.ratio)
    return _solve(mde, sd_diff, sd_diff, s)


def power_proportions(
    baseline: float,
    mde: float,
    n_control: int,
    relative: bool = False,
    settings: PowerSettings | None = None,
) -> float:
    """Power of the two-proportion z-test with `n_control` users in control."""
    s = settings or PowerSettings()
    p_t = treatment_rate(baseline, mde, relative)
    sd_null, sd_alt = _proportion_sds(baseline, p_t, s.ratio)
    return _power(p_t - baseline, n_control, sd_null, sd_alt, s.alpha)


def power_means(
    mde: float, sd: float, n_control: int, settings: PowerSettings | None = None
) -> float:
    """Power of the two-sample z-test of means with `n_control` users in control."""
    s = settings or PowerSettings()
    if sd <= 0:
        msg = f"standard deviation (sd) must be positive, got {sd}"
        raise ConfigError(msg)
    sd_diff = sd * math.sqrt(1.0 + 1.0 / s.ratio)
    return _power(mde, n_control, sd_diff, sd_diff, s.alpha)

"""Options of each family of tests: `Literal` choices and one frozen settings dataclass each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from careops.errors import ConfigError

MetricKind = Literal["proportion", "mean", "ratio"]
"""`proportion`: a 0/1 value per user (converted or not); `mean`: any number per user;
`ratio`: Σ numerator / Σ denominator over users whose denominator is not 1 (delta method)."""

Correction = Literal["none", "holm", "bh"]
"""Adjustment of p-values across variants and metrics: Holm (family-wise error) or
Benjamini–Hochberg (false discovery rate)."""

DEFAULT_SEQUENTIAL_TUNING = 5000.0


def _check_level(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        msg = f"{name} must lie strictly between 0 and 1, got {value}"
        raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class FrequentistSettings:
    """Fixed-horizon or sequential frequentist comparison.

    alpha: two-sided significance level (intervals have coverage 1 − alpha).
    sequential: use always-valid confidence sequences, safe under continuous peeking.
    sequential_tuning: total sample size (both arms) at which the confidence sequence is
        tightest; see `careops.experiments.stats.sequential`. Pick roughly the sample size you
        expect at the end; intervals are valid for any value, only their width changes.
    """

    alpha: float = 0.05
    sequential: bool = False
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING

    def __post_init__(self) -> None:
        _check_level("alpha", self.alpha)
        if self.sequential_tuning <= 0:
            msg = f"sequential_tuning must be positive, got {self.sequential_tuning}"
            raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class BayesianSettings:
    """Bayesian comparison.

    credible: mass of the central credible interval.
    prior_successes / prior_failures: Beta prior of each arm's rate (1, 1 is uniform).
    draws, seed: Monte Carlo draws from the Beta posteriors (results are reproducible).
    Mean metrics use a flat prior on each arm's mean, which gives closed forms.
    """

    credible: float = 0.95
    prior_successes: float = 1.0
    prior_failures: float = 1.0
    draws: int = 200_000
    seed: int = 20_240_601

    def __post_init__(self) -> None:
        _check_level("credible", self.credible)
        if self.prior_successes <= 0 or self.prior_failures <= 0:
            msg = "Beta prior parameters must be positive"
            raise ConfigError(msg)
        if self.draws < 1_000:
            msg = f"draws must be at least 1000, got {self.draws}"
            raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class PowerSettings:
    """Sample-size calculation for a two-sided test.

    ratio: treatment users per control user (1 is an even split).
    """

    alpha: float = 0.05
    power: float = 0.8
    ratio: float = 1.0

    def __post_init__(self) -> None:
        _check_level("alpha", self.alpha)
        _check_level("power", self.power)
        if self.ratio <= 0:
            msg = f"ratio must be positive, got {self.ratio}"
            raise ConfigError(msg)

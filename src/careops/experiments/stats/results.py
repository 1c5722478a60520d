"""Result shapes of the tests, and the error codes a data problem produces instead of raising."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from careops.experiments.stats.statistics import Moments, Proportion

ErrorCode = Literal["empty_arm", "too_few_users", "zero_variance", "no_units"]
"""Why a comparison could not be made: an arm without users, an arm with a single user (no
variance can be estimated), both arms constant (every user has the same value), or a ratio
metric whose denominator is 0 in an arm (no answers, no consultations…)."""


def error_message(code: ErrorCode, lang: str = "zh") -> str:
    """The human sentence for an error code, in Chinese (default) or English (the label
    catalogue's `experiment.error.<code>`)."""
    from careops.labels import label

    return label(f"experiment.error.{code}", lang)


Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class FrequentistResult:
    """Treatment versus control.

    absolute_lift = mean_t − mean_c; relative_lift = absolute_lift / mean_c (None when the
    control mean is 0). Intervals have coverage 1 − alpha (always-valid ones when sequential).
    """

    absolute_lift: float
    absolute_ci: Interval
    relative_lift: float | None
    relative_ci: Interval | None
    p_value: float
    statistic: float
    sequential: bool = False
    error: ErrorCode | None = None


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Posterior comparison of treatment with control.

    chance_to_win: P(treatment mean > control mean).
    expected_loss: E[max(control − treatment, 0)], what choosing treatment costs when wrong,
        in the metric's units.
    """

    chance_to_win: float
    expected_loss: float
    absolute_ci: Interval
    relative_ci: Interval | None
    error: ErrorCode | None = None


def check_arms(n_control: int, n_treatment: int) -> ErrorCode | None:
    """The sample-size problem of a pair of arms, if any."""
    if n_control == 0 or n_treatment == 0:
        return "empty_arm"
    if n_control < 2 or n_treatment < 2:
        return "too_few_users"
    return None


def check_moments(
    control: Moments | Proportion, treatment: Moments | Proportion
) -> ErrorCode | None:
    """`check_arms`, then a mean that is undefined (a ratio arm without units)."""
    problem = check_arms(control.n, treatment.n)
    if problem is None and not (math.isfinite(control.mean) and math.isfinite(treatment.mean)):
        return "no_units"
    return problem


NAN_INTERVAL: Interval = (float("nan"), float("nan"))


def failed_frequentist(code: ErrorCode, sequential: bool = False) -> FrequentistResult:
    """The uninformative result returned for a data problem."""
    nan = float("nan")
    return FrequentistResult(nan, NAN_INTERVAL, None, None, nan, nan, sequential, code)


def failed_bayesian(code: ErrorCode) -> BayesianResult:
    """The uninformative result returned for a data problem."""
    nan = float("nan")
    return BayesianResult(nan, nan, NAN_INTERVAL, None, code)

"""Result shapes of the tests, and the error codes a data problem produces instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorCode = Literal["empty_arm", "too_few_users", "zero_variance"]
"""Why a comparison could not be made: an arm without users, an arm with a single user (no
variance can be estimated), or both arms constant (every user has the same value)."""

ERROR_MESSAGES: dict[ErrorCode, dict[str, str]] = {
    "empty_arm": {
        "zh": "该组没有用户，无法比较",
        "en": "an arm has no users; nothing to compare",
    },
    "too_few_users": {
        "zh": "该组用户少于 2 人，无法估计方差",
        "en": "an arm has fewer than 2 users; its variance cannot be estimated",
    },
    "zero_variance": {
        "zh": "两组指标值全部相同（方差为零），无法检验",
        "en": "every user has the same metric value (zero variance); no test is possible",
    },
}


def error_message(code: ErrorCode, lang: str = "zh") -> str:
    """The human sentence for an error code, in Chinese (default) or English."""
    return ERROR_MESSAGES[code]["en" if lang == "en" else "zh"]


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


NAN_INTERVAL: Interval = (float("nan"), float("nan"))


def failed_frequentist(code: ErrorCode, sequential: bool = False) -> FrequentistResult:
    """The uninformative result returned for a data problem."""
    nan = float("nan")
    return FrequentistResult(nan, NAN_INTERVAL, None, None, nan, nan, sequential, code)


def failed_bayesian(code: ErrorCode) -> BayesianResult:
    """The uninformative result returned for a data problem."""
    nan = float("nan")
    return BayesianResult(nan, nan, NAN_INTERVAL, None, code)

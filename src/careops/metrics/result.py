"""Small typed results: a metric value with its numerator and denominator, per group.

Results carry codes only (the metric's `name`, a funnel step's `step`, `note` = "no_data"); the
shell — CLI, report, page — names them in its language from `careops.labels`
(`metrics.format.labelled` gives the JSON the CLI prints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

NO_DATA = "no_data"
"""`MetricResult.note` when the warehouse holds no data of the kind the metric needs."""

Unit = Literal["ratio", "count", "cny", "days", "seconds", "score", "per_user"]


@dataclass(frozen=True)
class GroupValue:
    """One group's value (or the whole population's, with `group` None)."""

    group: str | None
    value: float | None
    numerator: float
    denominator: float | None


@dataclass(frozen=True)
class MetricResult:
    """The value of one metric as of a date, overall and (with `by`) per group."""

    name: str
    unit: Unit
    as_of: date
    value: float | None
    numerator: float
    denominator: float | None
    by: str | None = None
    groups: tuple[GroupValue, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    """Why there is no value, as a code: "no_data" (no data of the kind the metric needs)."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["kind"] = "metric"
        return out


@dataclass(frozen=True)
class FunnelStep:
    """Users who reached a step, and the conversion / drop-off from the step before."""

    step: str
    users: int
    rate_from_previous: float | None
    rate_from_first: float | None
    dropped: int


@dataclass(frozen=True)
class FunnelResult:
    """An ordered funnel, overall and (with `by`) per group."""

    name: str
    as_of: date
    steps: tuple[FunnelStep, ...]
    by: str | None = None
    groups: dict[str, tuple[FunnelStep, ...]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["kind"] = "funnel"
        return out


@dataclass(frozen=True)
class CohortRow:
    """One registration cohort: its size and D-n retention (None until day n is complete)."""

    cohort: date
    group: str | None
    size: int
    retention: dict[int, float | None]
    retained: dict[int, int]


@dataclass(frozen=True)
class CohortResult:
    """Retention by registration cohort (week or month)."""

    name: str
    as_of: date
    grain: str
    days: tuple[int, ...]
    rows: tuple[CohortRow, ...]
    by: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["kind"] = "cohort"
        out["rows"] = [
            {
                **asdict(r),
                "cohort": r.cohort.isoformat(),
                "retention": {str(k): v for k, v in r.retention.items()},
                "retained": {str(k): v for k, v in r.retained.items()},
            }
            for r in self.rows
        ]
        return out


Result = MetricResult | FunnelResult | CohortResult

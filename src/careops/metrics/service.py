"""Metric capabilities as services: `f(ops, typed args) -> typed result`, warehouse read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from careops.asof import today
from careops.metrics.result import Result
from careops.service import Ops


@dataclass(frozen=True)
class MetricAnswer:
    """A metric's result; `data_end` (the last day with data) when the as-of was defaulted to
    today, so a shell can say that recent windows may be empty."""

    result: Result
    data_end: date | None = None


def metric(
    ops: Ops,
    name: str,
    as_of: date | None = None,
    *,
    by: str | None = None,
    lang: str | None = None,
    **params: Any,
) -> MetricAnswer:
    """The metric `name` as of `as_of` (default: today, hospital time)."""
    from careops.metrics.compute import compute
    from careops.metrics.context import data_end
    from careops.metrics.registry import get_metric

    get_metric(name)  # an unknown name fails before the warehouse is opened
    day = as_of or today(ops.settings)
    with ops.warehouse(read_only=True) as con:
        end = data_end(con, ops.settings) if as_of is None else None
        result = compute(con, name, day, by=by, lang=lang, **params)
    return MetricAnswer(result, end)

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


def metrics_at(
    ops: Ops, names: list[str] | tuple[str, ...], as_of: date, *, lang: str | None = None
) -> dict[str, Result]:
    """Several metrics as of one date through one warehouse connection and one as-of frame
    (its activity built once and cached in the engine, as the report does): the same results
    as `metric` for each name, for a shell that shows many at once (the cockpit's overview).
    A metric that cannot be computed as of that date (before any data) is left out."""
    from careops.metrics.compute import compute
    from careops.metrics.context import MetricContext
    from careops.metrics.errors import MetricError
    from careops.metrics.registry import get_metric

    for name in names:
        get_metric(name)  # an unknown name fails before the warehouse is opened
    out: dict[str, Result] = {}
    with ops.warehouse(read_only=True) as con:
        ctx = MetricContext(con, as_of, cache=True)
        try:
            ctx.validate()
        except MetricError:
            return out
        try:
            for name in names:
                out[name] = compute(con, name, as_of, lang=lang, ctx=ctx)
        finally:
            ctx.release()
    return out

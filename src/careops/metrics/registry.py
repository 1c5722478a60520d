"""The metric registry: each metric defined once, with its labels, formula and unit.

A *unit metric* returns, per user, a numerator and a denominator as an Ibis table
`(user_id, num, den)`; the registry sums them overall and per group of any breakdown, so a
metric is written once and works for every tag, layer or segment. An *analysis* (funnel,
cohort table) builds its own result.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import ibis.expr.types as ir

from careops.metrics.errors import UnknownMetricError
from careops.metrics.result import Result, Unit

Category = Literal[
    "acquisition", "conversion", "retention", "referral", "value", "experience", "medical"
]
Kind = Literal["ratio", "sum", "analysis"]

#: the categories in the order they are listed (their words: `category.<name>` of the labels)
CATEGORIES: tuple[str, ...] = get_args(Category)

UnitsFn = Callable[..., ir.Table]
AnalysisFn = Callable[..., Result]


@dataclass(frozen=True)
class Metric:
    """One metric: names, what it means, how it is computed."""

    name: str
    category: Category
    label_zh: str
    label_en: str
    description: str
    formula: str
    unit: Unit
    kind: Kind
    units: UnitsFn | None = None
    run: AnalysisFn | None = None
    scale: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    per_user: bool = True
    """Unit metrics: True when the denominator counts each user of the population once
    (den = 1 per user: rates and means over users); False when it counts something else
    (answers, consultations, enrollments, yuan) — a ratio metric, which experiments analyse
    with the delta method."""
    empty: tuple[str, str] | None = None
    """Why the metric can be empty (zh, en), shown when its denominator is 0."""
    window_setting: str = "window_days"
    """The `metrics.` setting a `window_days=None` falls back to."""

    def label(self, lang: str = "zh") -> str:
        from careops.labels import label_or  # the catalogue's name wins (glossary)

        return label_or(
            f"metric.{self.name}", self.label_zh if lang == "zh" else self.label_en, lang
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "description": self.description,
            "formula": self.formula,
            "unit": self.unit,
            "kind": self.kind,
            "params": self.params,
            "per_user": self.per_user,
        }


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric; names are unique."""
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name!r} is defined twice")
    REGISTRY[metric.name] = metric
    return metric


def unit_metric(
    name: str,
    category: Category,
    label_zh: str,
    label_en: str,
    *,
    description: str,
    formula: str,
    unit: Unit = "ratio",
    kind: Literal["ratio", "sum"] = "ratio",
    scale: float = 1.0,
    per_user: bool = True,
    empty: tuple[str, str] | None = None,
    window_setting: str = "window_days",
    **params: Any,
) -> Callable[[UnitsFn], UnitsFn]:
    """Decorator registering `fn(ctx, **params) -> (user_id, num, den)` as a metric;
    `per_user=False` when the denominator is not one per user (see `Metric.per_user`);
    `empty` says (zh, en) why it may have no data."""

    def deco(fn: UnitsFn) -> UnitsFn:
        register(
            Metric(
                name,
                category,
                label_zh,
                label_en,
                description,
                formula,
                unit,
                kind,
                units=fn,
                scale=scale,
                params=params,
                per_user=per_user,
                empty=empty,
                window_setting=window_setting,
            )
        )
        return fn

    return deco


def analysis(
    name: str,
    category: Category,
    label_zh: str,
    label_en: str,
    *,
    description: str,
    formula: str,
    unit: Unit = "ratio",
    **params: Any,
) -> Callable[[AnalysisFn], AnalysisFn]:
    """Decorator registering `fn(ctx, metric, groups, by, **params) -> Result`."""

    def deco(fn: AnalysisFn) -> AnalysisFn:
        register(
            Metric(
                name,
                category,
                label_zh,
                label_en,
                description,
                formula,
                unit,
                "analysis",
                run=fn,
                params=params,
            )
        )
        return fn

    return deco


def get_metric(name: str) -> Metric:
    """The metric called `name`, or an error naming the closest one."""
    _load()
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(name.lower(), list(REGISTRY), n=1, cutoff=0.4)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownMetricError(
        f"未知指标 {name!r} / unknown metric {name!r}{hint} (`careops metrics list` shows all "
        f"{len(REGISTRY)})"
    )


def all_metrics() -> list[Metric]:
    """Every metric, by category then name order of definition."""
    _load()
    order = list(CATEGORIES)
    return sorted(REGISTRY.values(), key=lambda m: order.index(m.category))


def _load() -> None:
    # importing the domain modules registers their metrics
    from careops.metrics import (  # noqa: F401
        acquisition,
        conversion,
        experience,
        medical,
        referral,
        retention,
        value,
    )

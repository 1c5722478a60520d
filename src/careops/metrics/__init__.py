"""The metric library (SPEC §9): every metric defined once, as Ibis expressions, as of a date.

`compute(con, "d7_retention", as_of, by="channel")` returns a typed result;
`all_metrics()` lists the registry. See docs/metrics.md for the definitions.
"""

from careops.metrics.breakdown import register_dimension
from careops.metrics.compute import compute
from careops.metrics.context import MetricContext
from careops.metrics.errors import AsOfError, BreakdownError, MetricError, UnknownMetricError
from careops.metrics.registry import REGISTRY, Metric, all_metrics, get_metric
from careops.metrics.result import CohortResult, FunnelResult, MetricResult

__all__ = [
    "REGISTRY",
    "AsOfError",
    "BreakdownError",
    "CohortResult",
    "FunnelResult",
    "Metric",
    "MetricContext",
    "MetricError",
    "MetricResult",
    "UnknownMetricError",
    "all_metrics",
    "compute",
    "get_metric",
    "register_dimension",
]

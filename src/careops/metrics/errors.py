"""Errors of the metric library: each names the input and the reason."""

from careops.asof import AsOfError as FrameAsOfError
from careops.errors import ConfigError


class MetricError(ConfigError):
    """A metric request cannot be answered as asked."""


class UnknownMetricError(MetricError):
    """No metric has this name."""


class AsOfError(MetricError, FrameAsOfError):
    """The as-of date is in the future or before any data."""


class BreakdownError(MetricError):
    """The `by` column does not exist or cannot be used for this metric."""

"""What every metric sees: the as-of frame (`careops.asof.AsOf`) plus the metric helpers.

`as_of` is a hospital-timezone date; a metric sees only facts strictly before 00:00 of that day
(hospital time). Day boundaries ("active day", "day n after registration") are hospital calendar
days, found per fact by the frame's integer day arithmetic (no per-row time-zone cast).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date
from typing import ClassVar

import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.asof import ACTIVITY_SOURCES, AsOf
from careops.config import Settings, get_settings
from careops.metrics.errors import AsOfError
from careops.warehouse import time as wtime

__all__ = ["ACTIVITY_SOURCES", "MetricContext", "data_end"]


@dataclass
class MetricContext(AsOf):
    """The as-of frame a metric is computed in, with per-context memoised activity."""

    cache: bool = False
    _memo: dict[str, ir.Table] = field(default_factory=dict, repr=False)

    error: ClassVar[type[AsOfError]] = AsOfError

    def days_from(self, column: ir.DateColumn, origin: date) -> ir.IntegerColumn:
        """Whole days from `origin` to a date column (negative before it)."""
        return column.delta(self.date_literal(origin), unit="day").cast("int64")

    def days_after(self, ts: ir.TimestampValue, origin: date) -> ir.IntegerValue:
        """Local days from `origin` to the local day of a timestamp (integer per row)."""
        return self.day_number(ts) - wtime.day_number_of(origin)

    # -- facts --------------------------------------------------------------------------------
    def patients(self) -> ir.Table:
        """Patients registered before the cut-off, with their local registration date."""
        p = self.facts("patients", "registered_at")
        return p.mutate(reg_day=self.local_date(p.registered_at))

    def active_days(self, since: date | None = None) -> ir.Table:
        """`AsOf.active_days`, built once per context (and cached in the engine when `cache`)."""
        key = f"active_days:{since}"
        if key not in self._memo:
            out = super().active_days(since)
            self._memo[key] = out.cache() if self.cache else out
        return self._memo[key]

    def release(self) -> None:
        """Drop the engine's cached activity tables (with `cache`), before the connection
        closes; otherwise they are released at garbage collection, on a closed connection."""
        for table in self._memo.values():
            if self.cache:
                table.release()
        self._memo.clear()

    def activity(self, since: date | None = None) -> ir.Table:
        """Distinct `(user_id, dn, day)` active days before the cut-off (from `since` if given):
        `dn` the local day number, `day` its date (found after the distinct step)."""
        days = self.active_days(since)
        return days.mutate(day=wtime.date_of(days.dn))

    def active_users(self, since: date) -> ir.Table:
        """Users with at least one active day in [since, as_of)."""
        return self.active_days(since).select("user_id").distinct()


def data_end(con: BaseBackend, settings: Settings | None = None) -> date | None:
    """The hospital date of the latest registration or activity (None: no data)."""
    settings = settings or get_settings()
    last = None
    for name, ts in (("patients", "registered_at"), *ACTIVITY_SOURCES):
        if name not in con.list_tables():
            continue
        value = con.table(name)[ts].max().to_pyarrow().as_py()
        if value is not None:
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            last = value if last is None else max(last, value)
    return None if last is None else last.astimezone(settings.tz).date()

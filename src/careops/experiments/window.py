"""The experiment's view of the warehouse: each exposed user's facts from their own start instant
to the experiment's cut-off, so that every registered unit metric runs unchanged over it.

`ExposureContext` is a `MetricContext` with two differences: its cut-off is an instant (the
experiment's end, when that comes before 00:00 of `as_of`), and `facts()` of a table with a user
column keeps only the rows of the users in `starts`, at or after that user's `since` instant
(their exposure; for the CUPED pre-period the start of the pre-period). Patients are not
filtered: a registration is an attribute of the user, not something the treatment causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cached_property

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from careops.metrics.context import MetricContext
from careops.schema import TABLES


@dataclass
class ExposureContext(MetricContext):
    """A metric context restricted to users' windows `[since, cutoff)`.

    starts: Arrow table (user_id, since) with `since` a UTC timestamp; None = no restriction.
    until: an instant cut-off earlier than 00:00 of `as_of` (the experiment's end), or None.
    window_start: where the metrics' own look-back should begin (the experiment's start).
    """

    starts: pa.Table | None = None
    until: datetime | None = None
    window_start: datetime | None = None
    _starts: dict[str | None, ir.Table] = field(default_factory=dict, repr=False)

    @cached_property
    def cutoff(self) -> datetime:
        day = self.utc(self.as_of)
        return min(day, self.until) if self.until is not None else day

    def facts(self, name: str, ts: str, since: date | None = None) -> ir.Table:
        t = super().facts(name, ts, since)
        spec = TABLES.get(name)
        if self.starts is None or name == "patients" or spec is None or not spec.user_column:
            return t
        s = self._starts_like(t[ts])
        return t.semi_join(s, [t[spec.user_column] == s.exp_user, t[ts] >= s.exp_since])

    def _starts_like(self, column: ir.TimestampColumn) -> ir.Table:
        """The starts as an in-memory table whose timestamp type matches `column`'s."""
        tz = column.type().timezone
        if tz not in self._starts:
            assert self.starts is not None
            since = self.starts.column("since").cast(pa.timestamp("us", tz="UTC"))
            if tz is None:
                since = since.cast(pa.timestamp("us"))
            data = pa.table({"exp_user": self.starts.column("user_id"), "exp_since": since})
            self._starts[tz] = ibis.memtable(data)
        return self._starts[tz]

    def window_days(self) -> int:
        """Whole hospital days from `window_start` to `as_of` (at least 1)."""
        if self.window_start is None:
            return 1
        first = self.window_start.astimezone(self.settings.tz).date()
        return max((self.as_of - first).days, 1)


def ceil_day(tz: tzinfo, instant: datetime) -> date:
    """The first date (in `tz`) whose 00:00 is at or after `instant`."""
    local = instant.astimezone(tz)
    day = local.date()
    return day if local.time() == datetime.min.time() else day + timedelta(days=1)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

"""The as-of frame every tag is computed in: which facts count and how days are counted.

An `as_of` date means 00:00 of that day in the hospital timezone; only facts with a timestamp
strictly before that instant count. A fact's *day* is its calendar day in the hospital timezone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.tags.errors import TagError

_EPOCH = date(1970, 1, 1)


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's microseconds since 1970 of a TIMESTAMPTZ: integer arithmetic, no time zone
    lookup (Ibis's `epoch_seconds` casts to TIMESTAMP first, a time-zone conversion per row
    that costs ~25x more than the rest of a scan)."""


@dataclass
class TagContext:
    """A warehouse, an as-of date and the settings, with helpers shared by every tag."""

    con: BaseBackend
    as_of: date
    settings: Settings = field(default_factory=get_settings)
    _tables: dict[str, ir.Table] = field(default_factory=dict, repr=False)

    def table(self, name: str) -> ir.Table:
        """A warehouse table, looked up once per context."""
        if name not in self._tables:
            self._tables[name] = self.con.table(name)
        return self._tables[name]

    @property
    def cutoff(self) -> datetime:
        """`as_of` 00:00 in the hospital timezone, as a naive UTC datetime."""
        local = datetime.combine(self.as_of, time(0), tzinfo=self.settings.tz)
        return local.astimezone(UTC).replace(tzinfo=None)

    @property
    def offset(self) -> timedelta:
        """The hospital timezone's UTC offset at the cutoff (used to find a fact's local day)."""
        local = datetime.combine(self.as_of, time(0), tzinfo=self.settings.tz)
        return local.utcoffset() or timedelta(0)

    def instant(self, column: ir.TimestampValue, moment: datetime) -> ir.TimestampScalar:
        """A naive-UTC `moment` as a literal of the column's own type (time zone or not), so
        the comparison runs on the raw column and engines can push it into the scan."""
        typ = column.type()
        value = moment.replace(tzinfo=UTC) if getattr(typ, "timezone", None) else moment
        return ibis.literal(value, type=typ)

    def before(self, column: ir.TimestampValue, moment: datetime | None = None
               ) -> ir.BooleanValue:
        """`column` is before `moment` (default: the cutoff)."""
        return column < self.instant(column, moment or self.cutoff)

    def facts(self, table: str, ts: str) -> ir.Table:
        """Rows of `table` whose `ts` column is before the cutoff."""
        t = self.table(table)
        return t.filter(self.before(t[ts]))

    def local_ts(self, ts: ir.TimestampValue) -> ir.TimestampValue:
        """A UTC timestamp shifted to hospital-local wall time."""
        seconds = int(self.offset.total_seconds())
        return ts.cast("timestamp") + ibis.interval(seconds=seconds)

    def local_day(self, ts: ir.TimestampValue) -> ir.DateValue:
        """The hospital-local calendar day of `ts`. A time-zone conversion per row: use it on
        aggregated values (the day of a user's latest fact); per fact use `day_number`,
        `local_hour` and `since`."""
        return self.local_ts(ts).date()

    def _local_seconds(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """Whole seconds since 1970-01-01 00:00 hospital-local time (integer arithmetic)."""
        off = int(self.offset.total_seconds())
        if getattr(self.con, "name", None) == "duckdb":
            return _duckdb_epoch_us(ts) // 1_000_000 + off
        return ts.epoch_seconds().floor().cast("int64") + off  # PostgreSQL's is fractional

    def day_number(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """The hospital-local day of `ts` as days since 1970-01-01 (cheap per row)."""
        return self._local_seconds(ts) // 86_400

    def day_number_lit(self, days_before: int = 0) -> int:
        """`day_number` of the day `days_before` days before as_of."""
        return (self.as_of - timedelta(days=days_before) - _EPOCH).days

    def local_hour(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """The hospital-local hour (0–23) of `ts` (cheap per row)."""
        return (self._local_seconds(ts) // 3_600) % 24

    def day_lit(self, days_before: int = 0) -> ir.DateScalar:
        """The date `days_before` days before as_of (0 = as_of itself)."""
        return ibis.literal(self.as_of - timedelta(days=days_before), type="date")

    def days_since(self, day: ir.DateValue) -> ir.IntegerValue:
        """Calendar days from `day` to as_of (yesterday = 1)."""
        return self.day_lit().delta(day, unit="day")

    def days_without(self, day: ir.DateValue) -> ir.IntegerValue:
        """Whole days strictly between `day` and as_of: yesterday = 0, 31 days ago = 30."""
        return self.days_since(day) - 1

    def since(self, ts: ir.TimestampValue, days: int) -> ir.BooleanValue:
        """The fact at `ts` (before the cutoff) falls in the `days` days before as_of.

        Same as `local_day(ts) >= as_of − days` (local days start at cutoff − k days), but
        compares the raw column with a literal: no per-row cast, and engines can skip
        storage blocks by their min/max."""
        return ts >= self.instant(ts, self.cutoff - timedelta(days=days))


def check_as_of(as_of: date, *, today: date | None = None) -> date:
    """Refuse an as-of date in the future (facts of that day are not complete yet)."""
    today = today or datetime.now(UTC).date()
    if not isinstance(as_of, date):
        raise TagError(f"as_of must be a date (YYYY-MM-DD), got {as_of!r}")
    if as_of > today + timedelta(days=1):
        raise TagError(
            f"as_of {as_of.isoformat()} is in the future; the latest is "
            f"{(today + timedelta(days=1)).isoformat()} (facts up to the end of today)"
        )
    return as_of


def parse_as_of(text: str) -> date:
    """Parse a YYYY-MM-DD as-of date with a clear error."""
    try:
        return check_as_of(date.fromisoformat(text))
    except ValueError:
        raise TagError(f"--as-of {text!r} is not a date; use YYYY-MM-DD") from None

"""What every metric sees: the warehouse, the as-of cut-off and the hospital's calendar.

`as_of` is a hospital-timezone date; a metric sees only facts strictly before 00:00 of that day
(hospital time). Day boundaries ("active day", "day n after registration") are hospital calendar
days. The timezone's UTC offset at the cut-off is applied as a fixed shift to local dates
(China has had no daylight saving since 1991; a DST zone would be off by an hour near a change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.metrics.errors import AsOfError

#: Activity sources: (table, timestamp column). An active day is a local day with any of them.
ACTIVITY_SOURCES: tuple[tuple[str, str], ...] = (
    ("events", "ts"), ("consultations", "started_at"), ("orders", "ts"),
)


@dataclass
class MetricContext:
    """The warehouse, the as-of date and the settings a metric is computed with."""

    con: BaseBackend
    as_of: date
    settings: Settings = field(default_factory=get_settings)
    cache: bool = False
    _memo: dict[str, ir.Table] = field(default_factory=dict, repr=False)

    # -- time ---------------------------------------------------------------------------------
    @cached_property
    def offset(self) -> timedelta:
        """UTC offset of the hospital timezone at the cut-off."""
        local = datetime.combine(self.as_of, datetime.min.time(), tzinfo=self.settings.tz)
        return local.utcoffset() or timedelta(0)

    def utc(self, day: date) -> datetime:
        """00:00 hospital time of `day`, as a UTC instant."""
        local = datetime.combine(day, datetime.min.time(), tzinfo=self.settings.tz)
        return local.astimezone(UTC)

    @cached_property
    def cutoff(self) -> datetime:
        """The instant facts must be strictly before (00:00 hospital time of `as_of`)."""
        return self.utc(self.as_of)

    def days_before(self, n: int) -> date:
        """The hospital date `n` days before `as_of`."""
        return self.as_of - timedelta(days=n)

    def ts_literal(self, column: ir.TimestampColumn, instant: datetime) -> ir.TimestampScalar:
        """`instant` as a literal of `column`'s type (naive UTC where the backend is naive)."""
        tz = column.type().timezone
        value = instant.astimezone(UTC)
        if tz is None:
            value = value.replace(tzinfo=None)
        return ibis.literal(value, type=dt.Timestamp(timezone=tz, scale=column.type().scale))

    def local_date(self, column: ir.TimestampColumn) -> ir.DateColumn:
        """The hospital calendar date of a UTC timestamp column."""
        seconds = int(self.offset.total_seconds())
        return (column + ibis.interval(seconds=seconds)).date()

    @staticmethod
    def date_literal(day: date) -> ir.DateScalar:
        return ibis.literal(day, type=dt.date)

    def day_number(self, column: ir.DateColumn, origin: date) -> ir.IntegerColumn:
        """Whole days from `origin` to a date column (negative before it)."""
        return column.delta(self.date_literal(origin), unit="day").cast("int64")

    # -- facts --------------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        return self.con.table(name)

    def facts(self, name: str, ts: str, since: date | None = None) -> ir.Table:
        """Rows of `name` with `ts` before the cut-off (and at/after `since` 00:00 if given)."""
        t = self.table(name)
        col = t[ts]
        pred = col < self.ts_literal(col, self.cutoff)
        if since is not None:
            pred &= col >= self.ts_literal(col, self.utc(since))
        return t.filter(pred)

    def patients(self) -> ir.Table:
        """Patients registered before the cut-off, with their local registration date."""
        p = self.facts("patients", "registered_at")
        return p.mutate(reg_day=self.local_date(p.registered_at))

    def activity(self, since: date | None = None) -> ir.Table:
        """Distinct (user_id, day) active days before the cut-off (from `since` if given)."""
        key = f"activity:{since}"
        if key in self._memo:
            return self._memo[key]
        parts = []
        for name, ts in ACTIVITY_SOURCES:
            t = self.facts(name, ts, since)
            parts.append(t.select(user_id=t.user_id, day=self.local_date(t[ts])))
        out = ibis.union(*parts, distinct=True)
        if self.cache:
            out = out.cache()
        self._memo[key] = out
        return out

    def active_users(self, since: date) -> ir.Table:
        """Users with at least one active day in [since, as_of)."""
        return self.activity(since).select("user_id").distinct()

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Refuse an as-of date in the future or on/before the first registration."""
        today = datetime.now(self.settings.tz).date()
        if self.as_of > today + timedelta(days=1):
            raise AsOfError(
                f"as_of {self.as_of} is in the future (today is {today} in "
                f"{self.settings.timezone}); metrics see facts before 00:00 of as_of"
            )
        p = self.table("patients")
        first = p.registered_at.min().to_pyarrow().as_py()
        if first is None:
            raise AsOfError("as_of: the warehouse has no patients yet; load data first")
        if first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
        first_day = first.astimezone(self.settings.tz).date()
        if self.as_of <= first_day:
            raise AsOfError(
                f"as_of {self.as_of} is before any data: the first registration is on "
                f"{first_day}; use a later date"
            )


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


def stale_note(end: date | None, as_of: date, lang: str = "zh") -> str | None:
    """A hint when the data ends (`end`) days before `as_of` (recent windows would be empty)."""
    if end is None or end >= as_of - timedelta(days=1):
        return None
    nxt = end + timedelta(days=1)
    if lang == "zh":
        return (f"提示: 数据截止 {end}，早于统计日 {as_of}，近期窗口内可能没有数据；"
                f"用 --as-of {nxt} 统计到数据末尾")
    return (f"note: the data ends on {end}, before as-of {as_of}, so recent windows may be "
            f"empty; use --as-of {nxt} to count up to the end of the data")


def json_field(column: ir.StringColumn, key: str) -> ir.StringColumn:
    """A top-level scalar of a JSON text column (string or number), null when absent.

    Regex extraction keeps it identical on DuckDB, PostgreSQL and Spark.
    """
    pattern = r'"' + key + r'"\s*:\s*"?([^",}]*)"?'
    value = column.re_extract(pattern, 1)
    return ibis.ifelse((value == "") | value.isnull(), ibis.null(dt.string), value.strip())

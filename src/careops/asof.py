"""The as-of frame: which facts a computation sees and how it counts days. One for all of CareOps.

Tags, layers, segments, metrics, experiments (through `ExposureContext`), journeys and model
features are computed in an `AsOf`: a warehouse, an as-of date and the settings.

- **Cut-off.** `as_of` means 00:00 of that day in the hospital timezone; only facts with a
  timestamp strictly before that instant count (`cutoff`, `facts`). Comparisons are on the raw
  column against a literal of its own type, so engines skip old row groups by their min/max.
- **Days.** A fact's day is its calendar day in the hospital timezone. Per fact, the local day
  and hour are integer epoch arithmetic (`day_number`, `local_hour`, see `warehouse.time`); the
  date of an aggregated timestamp (a user's latest fact) is `local_day`. "In the last n days" is
  `since(ts, n)`: at or after the cut-off minus n days, again a raw comparison.
- **Active day.** A local day with an event, a consultation or an order (`ACTIVITY_SOURCES`);
  `active_days()` gives the distinct (user, day) pairs.
- **Which as-of dates are allowed.** One rule everywhere: not later than tomorrow in the
  hospital timezone (as-of tomorrow = every fact up to the end of today), and after the first
  registration (`validate`). `parse_as_of` reads `YYYY-MM-DD`, default today in hospital time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import ClassVar

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.errors import InvalidInput
from careops.warehouse import time as wtime
from careops.warehouse.jsonpath import json_field, json_value

#: Activity sources: (table, timestamp column). An active day is a local day with any of them.
ACTIVITY_SOURCES: tuple[tuple[str, str], ...] = (
    ("events", "ts"),
    ("consultations", "started_at"),
    ("orders", "ts"),
)


class AsOfError(InvalidInput):
    """The as-of date is not a date, is in the future, or is before any data."""


def today(settings: Settings | None = None) -> date:
    """Today in the hospital timezone."""
    return datetime.now((settings or get_settings()).tz).date()


def latest_as_of(settings: Settings | None = None, *, now_day: date | None = None) -> date:
    """The latest allowed as-of date: tomorrow in the hospital timezone (facts up to the end of
    today; a later day's facts cannot be complete)."""
    return (now_day or today(settings)) + timedelta(days=1)


def check_day(
    as_of: object,
    settings: Settings | None = None,
    *,
    error: type[AsOfError] = AsOfError,
    now_day: date | None = None,
) -> date:
    """`as_of` if it is a date no later than `latest_as_of`, else `error`."""
    settings = settings or get_settings()
    if isinstance(as_of, datetime) or not isinstance(as_of, date):
        raise error(
            f"统计日应为日期 (YYYY-MM-DD), 实际 {as_of!r} / as_of must be a date (YYYY-MM-DD), "
            f"got {as_of!r}",
            field="as_of",
        )
    now_day = now_day or today(settings)
    latest = latest_as_of(settings, now_day=now_day)
    if as_of > latest:
        raise error(
            f"统计日 {as_of.isoformat()} 在未来 (医院今天是 {now_day}), 最晚可用 {latest} / "
            f"as_of {as_of.isoformat()} is in the future (today is {now_day} in "
            f"{settings.timezone}); the latest is {latest} (facts up to the end of "
            "today)",
            field="as_of",
        )
    return as_of


def parse_as_of(
    text: str | None, settings: Settings | None = None, *, now_day: date | None = None
) -> date:
    """An as-of date from `YYYY-MM-DD`; None means today in the hospital timezone. Checked
    against `latest_as_of`."""
    settings = settings or get_settings()
    if text is None:
        return now_day or today(settings)
    try:
        day = date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise AsOfError(
            f"统计日 {text!r} 不是日期, 应为 2026-03-01 这样的日期 (YYYY-MM-DD) / as-of "
            f"{text!r} is not a date: expected a date like 2026-03-01 (YYYY-MM-DD)",
            field="as_of",
        ) from None
    return check_day(day, settings, now_day=now_day)


@dataclass
class AsOf:
    """A warehouse, an as-of date and the settings, with the time helpers every domain shares."""

    con: BaseBackend
    as_of: date
    settings: Settings = field(default_factory=get_settings)
    _tables: dict[str, ir.Table] = field(default_factory=dict, repr=False)

    #: the error class validation raises (a domain may use its own subclass of AsOfError)
    error: ClassVar[type[AsOfError]] = AsOfError

    # -- the cut-off ------------------------------------------------------------------------
    def utc(self, day: date) -> datetime:
        """00:00 hospital time of `day`, as an aware UTC instant."""
        return datetime.combine(day, time(0), tzinfo=self.settings.tz).astimezone(UTC)

    @cached_property
    def cutoff(self) -> datetime:
        """The instant facts must be strictly before: 00:00 hospital time of `as_of` (UTC)."""
        return self.utc(self.as_of)

    @cached_property
    def offset(self) -> timedelta:
        """The hospital timezone's UTC offset at 00:00 of `as_of` (fixed for the frame)."""
        local = datetime.combine(self.as_of, time(0), tzinfo=self.settings.tz)
        return local.utcoffset() or timedelta(0)

    def days_before(self, n: int) -> date:
        """The hospital date `n` days before `as_of`."""
        return self.as_of - timedelta(days=n)

    # -- literals ---------------------------------------------------------------------------
    def instant(self, column: ir.TimestampValue, moment: datetime) -> ir.TimestampScalar:
        """`moment` (aware, or naive UTC) as a literal of the column's own type (time zone or
        not), so a comparison runs on the raw column and engines can push it into the scan."""
        typ = column.type()
        aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        value = aware if typ.timezone else aware.replace(tzinfo=None)
        return ibis.literal(value, type=dt.Timestamp(timezone=typ.timezone, scale=typ.scale))

    ts_literal = instant

    @staticmethod
    def date_literal(day: date) -> ir.DateScalar:
        return ibis.literal(day, type=dt.date)

    def day_lit(self, days_before: int = 0) -> ir.DateScalar:
        """The date `days_before` days before as_of (0 = as_of itself)."""
        return self.date_literal(self.days_before(days_before))

    def day_number_lit(self, days_before: int = 0) -> int:
        """`day_number` of the day `days_before` days before as_of."""
        return wtime.day_number_of(self.days_before(days_before))

    # -- facts ------------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table:
        """A warehouse table, looked up once per frame."""
        if name not in self._tables:
            self._tables[name] = self.con.table(name)
        return self._tables[name]

    def before(self, column: ir.TimestampValue, moment: datetime | None = None) -> ir.BooleanValue:
        """`column` is before `moment` (default: the cut-off)."""
        return column < self.instant(column, moment or self.cutoff)

    def since(self, ts: ir.TimestampValue, days: int) -> ir.BooleanValue:
        """The fact at `ts` (before the cut-off) falls in the `days` local days before as_of:
        the same as `local_day(ts) >= as_of − days`, as a raw comparison."""
        return ts >= self.instant(ts, self.utc(self.days_before(days)))

    def facts(self, table: str, ts: str, since: date | None = None) -> ir.Table:
        """Rows of `table` whose `ts` is before the cut-off (and at/after 00:00 of `since`)."""
        t = self.table(table)
        pred = self.before(t[ts])
        if since is not None:
            pred &= t[ts] >= self.instant(t[ts], self.utc(since))
        return t.filter(pred)

    def prop(self, column: ir.StringValue, key: str) -> ir.StringValue:
        """The value of `key` in a JSON text column such as `events.properties` (null when
        absent), read by the engine's JSON functions, never by matching the document's text."""
        return json_value(self.con, column, key)

    def prop_field(self, column: ir.StringValue, key: str) -> ir.StringValue:
        """`prop`, trimmed, an empty value as null (an identifier or a flag)."""
        return json_field(self.con, column, key)

    # -- local days and hours ---------------------------------------------------------------
    def day_number(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """The hospital-local day of `ts` as days since 1970-01-01 (integer, cheap per row)."""
        return wtime.day_number(self.con, ts, self.offset)

    def local_hour(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """The hospital-local hour (0–23) of `ts` (integer, cheap per row)."""
        return wtime.local_hour(self.con, ts, self.offset)

    def local_day(self, ts: ir.TimestampValue) -> ir.DateValue:
        """The hospital-local calendar date of `ts`. Use it on aggregated values (a user's
        latest fact, a registration); per fact use `day_number`."""
        seconds = int(self.offset.total_seconds())
        return (ts.cast("timestamp") + ibis.interval(seconds=seconds)).date()

    local_date = local_day

    def days_since(self, day: ir.DateValue) -> ir.IntegerValue:
        """Calendar days from `day` to as_of (yesterday = 1)."""
        return self.day_lit().delta(day, unit="day")

    def days_without(self, day: ir.DateValue) -> ir.IntegerValue:
        """Whole days strictly between `day` and as_of: yesterday = 0, 31 days ago = 30."""
        return self.days_since(day) - 1

    def active_days(self, since: date | None = None) -> ir.Table:
        """Distinct `(user_id, dn)` active days before the cut-off (from `since` if given), `dn`
        being the local day number: integer arithmetic per fact, no time-zone cast."""
        parts = []
        for name, ts in ACTIVITY_SOURCES:
            t = self.facts(name, ts, since)
            parts.append(t.select(user_id=t.user_id, dn=self.day_number(t[ts])))
        return ibis.union(*parts, distinct=True)

    # -- validation -------------------------------------------------------------------------
    def check(self) -> date:
        """The as-of date, refused when it is not a date or later than `latest_as_of`."""
        return check_day(self.as_of, self.settings, error=self.error)

    def first_registration_day(self) -> date | None:
        """The hospital date of the earliest registration (None: no patients)."""
        first = self.table("patients").registered_at.min().to_pyarrow().as_py()
        if first is None:
            return None
        first = first if first.tzinfo else first.replace(tzinfo=UTC)
        return first.astimezone(self.settings.tz).date()

    def validate(self) -> None:
        """Refuse an as-of date that is not allowed (`check`) or on/before the first
        registration (nobody would be in the frame)."""
        self.check()
        first_day = self.first_registration_day()
        if first_day is None:
            raise self.error(
                "仓库中还没有患者, 请先导入数据 / as_of: the warehouse has no patients yet; load "
                "data first"
            )
        if self.as_of <= first_day:
            raise self.error(
                f"统计日 {self.as_of} 早于所有数据 (最早注册日 {first_day}), 请用更晚的日期 / "
                f"as_of {self.as_of} is before any data: the first registration is on "
                f"{first_day} (no patient was registered before as_of; earliest registration is "
                f"{first_day}); use a later date",
                field="as_of",
            )

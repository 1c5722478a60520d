"""Per-row hospital-local day and hour as integer arithmetic: a backend capability.

A fact's local day is `(seconds since 1970 UTC + the zone's offset) // 86 400`; its local hour
is `(… // 3 600) % 24`. Computed from the epoch, not by casting every TIMESTAMPTZ to local time:
a cast is a time-zone lookup per row (on DuckDB ~25–30× the cost of the rest of a scan) and, in a
filter, it stops the engine from skipping row groups by their min/max.

- DuckDB: `epoch_us(ts)` is integer microseconds (Ibis's `epoch_seconds` casts to TIMESTAMP
  first, which is the per-row conversion this avoids).
- PostgreSQL and Spark (through Ibis): `epoch_seconds()`, floored — PostgreSQL's `EXTRACT(EPOCH)`
  is fractional, and a fact at 23:59:59.5 must stay on its own day (truncation toward zero would
  also be wrong before 1970).

The offset is fixed for one as-of (China has had no daylight saving since 1991; a DST zone would
be off by an hour for facts on the far side of a change).
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends import BaseBackend

EPOCH = date(1970, 1, 1)
DAY_S = 86_400


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(ts: dt.Timestamp(timezone="UTC")) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's microseconds since 1970 of a TIMESTAMPTZ (integer, no time-zone lookup)."""


@ibis.udf.scalar.builtin(name="divide")
def _duckdb_div(a: dt.int64, b: dt.int64) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's integer division (Ibis's `//` compiles to FLOOR of a float division, ~1.7×
    slower per row). It truncates toward zero: the same as floor for instants after 1970, the
    only ones facts have."""


def _is_duckdb(con: BaseBackend | None) -> bool:
    return getattr(con, "name", None) == "duckdb"


def local_seconds(
    con: BaseBackend | None, ts: ir.TimestampValue, offset: timedelta
) -> ir.IntegerValue:
    """Whole seconds since 1970-01-01 00:00 local time (UTC + `offset`) of `ts`."""
    off = int(offset.total_seconds())
    if _is_duckdb(con):
        return _duckdb_div(_duckdb_epoch_us(ts), 1_000_000) + off
    return ts.epoch_seconds().floor().cast("int64") + off


def _div(con: BaseBackend | None, a: ir.IntegerValue, b: int) -> ir.IntegerValue:
    return _duckdb_div(a, b) if _is_duckdb(con) else a // b


def day_number(
    con: BaseBackend | None, ts: ir.TimestampValue, offset: timedelta
) -> ir.IntegerValue:
    """The local day of `ts` as days since 1970-01-01."""
    return _div(con, local_seconds(con, ts, offset), DAY_S)


def local_hour(
    con: BaseBackend | None, ts: ir.TimestampValue, offset: timedelta
) -> ir.IntegerValue:
    """The local hour of day (0–23) of `ts`."""
    return _div(con, local_seconds(con, ts, offset), 3_600) % 24


def day_number_of(day: date) -> int:
    """`day_number` of a Python date."""
    return (day - EPOCH).days


def date_of(number: ir.IntegerValue) -> ir.DateValue:
    """The date of a day number (use it after aggregating, on few rows)."""
    return (ibis.literal(EPOCH, type="date") + number.cast("int32").as_interval("D")).cast("date")

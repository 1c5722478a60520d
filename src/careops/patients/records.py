"""A patient's clinical records of one kind, newest first, one page at a time (Ibis only)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args

from ibis.backends import BaseBackend

from careops.config import Settings
from careops.errors import InvalidInput
from careops.schema import TABLES

RecordKind = Literal["consultations", "observations", "conditions", "prescriptions", "encounters"]
KINDS: tuple[RecordKind, ...] = get_args(RecordKind)

#: kind -> (its time column, its id column)
TIME_AND_ID: dict[RecordKind, tuple[str, str]] = {
    "consultations": ("started_at", "consultation_id"),
    "observations": ("ts", "observation_id"),
    "conditions": ("onset_at", "condition_id"),
    "prescriptions": ("ts", "prescription_id"),
    "encounters": ("start_at", "encounter_id"),
}


EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)  # a UTC instant exists for both


def record_columns(kind: RecordKind) -> list[str]:
    """The columns a record of `kind` shows: the canonical ones but the patient's id."""
    return [c.name for c in TABLES[kind].columns if c.name != "user_id"]


def _instant(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, time(0), tzinfo=settings.tz).astimezone(UTC)


def patient_records(
    con: BaseBackend,
    user_id: str,
    kind: str,
    settings: Settings,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Records of `kind` of one patient from `since` through `until` (hospital days, both
    included), newest first (undated last), and how many there are in all."""
    if kind not in KINDS:
        raise InvalidInput(
            f"未知记录类型 / unknown record kind {kind[:40]!r}; use {', '.join(KINDS)}"
        )
    for name, day in (("since", since), ("until", until)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise InvalidInput(
                f"{name} {day.isoformat()} 超出范围 / is out of range: give a day between "
                f"{EARLIEST} and {LATEST}"
            )
    if since is not None and until is not None and until < since:
        raise InvalidInput(f"until {until} 早于 since {since} / until is before since")
    ts, key = TIME_AND_ID[kind]  # type: ignore[index]
    t = con.table(kind)
    t = t.filter(t.user_id == user_id)
    if since is not None:
        t = t.filter(t[ts] >= _instant(since, settings))
    if until is not None:
        t = t.filter(t[ts] < _instant(until + timedelta(days=1), settings))
    total = int(t.count().to_pyarrow().as_py())
    page = (
        t.select(record_columns(kind))  # type: ignore[arg-type]
        .order_by([t[ts].desc(nulls_first=False), t[key].desc()])
        .limit(limit, offset=offset)
    )
    rows = page.to_pyarrow().to_pylist()
    return [{k: clean(v) for k, v in r.items()} for r in rows], total


def clean(value: object) -> object:
    """NaN and infinities read as missing (JSON has no such numbers); times in UTC."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value

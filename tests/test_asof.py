"""The one as-of frame: parsing, the latest allowed date, local days and hours on every backend."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from careops.asof import AsOf, AsOfError, check_day, latest_as_of, parse_as_of, today
from careops.config import Settings
from careops.metrics.context import MetricContext
from careops.metrics.errors import MetricError
from careops.tags.context import TagContext
from careops.tags.errors import TagError
from tests.conftest import fill

NOW = date(2026, 6, 10)


def test_parse_as_of_has_one_default_and_one_latest_day():
    assert parse_as_of(None, now_day=NOW) == NOW
    assert parse_as_of("2026-06-11", now_day=NOW) == NOW + timedelta(days=1)  # facts of today
    with pytest.raises(AsOfError, match=r"2026-06-12 is in the future .* the latest is 2026-06-11"):
        parse_as_of("2026-06-12", now_day=NOW)
    for bad in ("01/06/2026", "2026-13-01", ""):
        with pytest.raises(AsOfError, match="is not a date: expected a date like"):
            parse_as_of(bad, now_day=NOW)
    with pytest.raises(AsOfError, match="must be a date"):
        check_day(datetime(2026, 6, 1), now_day=NOW)


def test_tags_metrics_and_the_frame_share_the_latest_allowed_day():
    """Before: tags allowed tomorrow in UTC, metrics tomorrow in hospital time."""
    settings = Settings()
    latest = latest_as_of(settings)
    assert latest == today(settings) + timedelta(days=1)
    for cls, domain in ((AsOf, AsOfError), (TagContext, TagError), (MetricContext, MetricError)):
        assert cls(None, latest, settings).check() == latest  # type: ignore[arg-type]
        with pytest.raises(domain, match="is in the future"):
            cls(None, latest + timedelta(days=1), settings).check()  # type: ignore[arg-type]
        assert issubclass(cls.error, AsOfError)


def test_cutoff_is_midnight_hospital_time():
    frame = AsOf(None, date(2026, 6, 1), Settings())  # type: ignore[arg-type]
    assert frame.cutoff == datetime(2026, 5, 31, 16, tzinfo=UTC)
    assert frame.offset == timedelta(hours=8)
    assert frame.day_number_lit(1) == (date(2026, 5, 31) - date(1970, 1, 1)).days


def _events(instants: list[datetime], props: list[str | None]) -> pa.Table:
    n = len(instants)
    return pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "user_id": ["u"] * n,
            "ts": pa.array(instants, pa.timestamp("us", tz="UTC")),
            "name": ["search"] * n,
            "properties": props,
        }
    )


def test_local_days_hours_and_json_values_on_every_backend(warehouse):
    """Integer epoch arithmetic gives the hospital-local day and hour on each engine (floored:
    23:59:59.5 local stays on its day), and JSON values are read, not the text."""
    instants = [
        datetime(2026, 5, 31, 15, 59, 59, 500_000, tzinfo=UTC),  # 23:59:59.5 local
        datetime(2026, 5, 31, 16, 0, tzinfo=UTC),  # 00:00 next day
        datetime(2026, 5, 1, 3, 30, tzinfo=UTC),
    ]  # 11:30 local
    props = [
        json.dumps({"query": "头痛", "n": 3}),
        json.dumps(
            {"query": "x"},
        ),
        json.dumps([{"query": "in an array"}]),
    ]
    fill(warehouse, {"events": _events(instants, props)})
    frame = AsOf(warehouse, date(2026, 6, 2), Settings())
    e = frame.facts("events", "ts")
    rows = (
        e.select(
            "event_id",
            dn=frame.day_number(e.ts),
            h=frame.local_hour(e.ts),
            q=frame.prop(e.properties, "query"),
            n=frame.prop(e.properties, "n"),
            none=frame.prop(e.properties, "missing"),
        )
        .order_by("event_id")
        .to_pyarrow()
        .to_pylist()
    )
    epoch = date(1970, 1, 1)
    assert [r["dn"] for r in rows] == [
        (date(2026, 5, 31) - epoch).days,
        (date(2026, 6, 1) - epoch).days,
        (date(2026, 5, 1) - epoch).days,
    ]
    assert [r["h"] for r in rows] == [23, 0, 11]
    assert [r["q"] for r in rows] == ["头痛", "x", None]
    assert [r["n"] for r in rows] == ["3", None, None]
    assert {r["none"] for r in rows} == {None}
    active = frame.active_days().to_pyarrow().to_pylist()
    assert sorted(r["dn"] for r in active) == sorted(r["dn"] for r in rows)

"""Fact tables are stored in time order; rows already in order are not sorted again."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from careops.warehouse.load import in_time_order


def _ts(*hours: int | None) -> pa.Table:
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "ts": pa.array(
                [None if h is None else base + dt.timedelta(hours=h) for h in hours],
                pa.timestamp("us", tz="UTC"),
            )
        }
    )


def test_in_time_order_checks_without_sorting():
    assert in_time_order(_ts(1, 2, 2, 5), "ts")
    assert not in_time_order(_ts(1, 3, 2), "ts")
    assert in_time_order(_ts(), "ts") and in_time_order(_ts(4), "ts")
    chunked = pa.concat_tables([_ts(1, 2), _ts(3), _ts(0)])  # the break is between chunks
    assert not in_time_order(chunked, "ts")
    assert in_time_order(pa.concat_tables([_ts(1, 2), _ts(3, 4)]), "ts")


def test_unsorted_events_are_stored_in_time_order(make_warehouse, tmp_path):
    from careops.config import get_settings
    from careops.ingest.pipeline import ingest_paths
    from tests.ingest.conftest import write

    con = make_warehouse("duckdb")
    write(
        tmp_path / "events.csv",
        "event_id,user_id,ts,name\n"
        + "".join(f"e{i},u1,2025-01-{28 - i:02d} 08:00:00,app_open\n" for i in range(20)),
    )
    assert ingest_paths(con, [tmp_path / "events.csv"], settings=get_settings()).exit_code == 0
    stored = con.con.execute("SELECT ts FROM events").fetch_arrow_table()  # as stored
    assert in_time_order(stored, "ts")

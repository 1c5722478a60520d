"""Receiving events: durable and idempotent before the answer; the journal flushed into the
warehouse without losing or doubling a row; PostgreSQL written straight, by many at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest

from careops.errors import Forbidden, InvalidInput, WarehouseBusy
from careops.intake.journal import journal, journal_path
from careops.intake.service import flush_journal, receive_events
from careops.service import Actor, Ops
from careops.state.store import read_audit
from careops.warehouse import create_tables, warehouse
from tests.intake.test_check import event


@pytest.fixture
def ops():
    ops = Ops.open()
    with ops.warehouse() as con:
        create_tables(con)
    yield ops
    ops.close()


def stored(ops: Ops) -> list[tuple]:
    with ops.warehouse(read_only=True) as con:
        return con.raw_sql("SELECT event_id, name, properties FROM events ORDER BY 1").fetchall()


def test_accepted_events_are_committed_to_the_journal_before_the_answer(ops):
    r = receive_events(ops, [event(1), event(2), event(3, ts="never")])
    assert (r.accepted, r.duplicates, [x.index for x in r.rejected]) == (2, 0, [2])
    path = journal_path(ops.warehouse_url, ops.settings)
    other = sqlite3.connect(path)  # another connection: committed, not only in our memory
    assert other.execute("SELECT event_id FROM events ORDER BY 1").fetchall() == [("e1",), ("e2",)]
    other.close()
    assert stored(ops) == []  # not yet in the warehouse: the writer's job


def test_sent_again_is_a_duplicate_and_a_changed_event_a_conflict(ops):
    receive_events(ops, [event(1), event(2)])
    r = receive_events(ops, [event(1), event(2, name="share"), event(3)])
    assert (r.accepted, r.duplicates) == (1, 1)
    assert [(x.index, x.event_id, x.field) for x in r.rejected] == [(1, "e2", "event_id")]
    assert "different content" in r.rejected[0].reason
    flush_journal(ops)
    assert [row[:2] for row in stored(ops)] == [
        ("e1", "search"),
        ("e2", "search"),
        ("e3", "search"),
    ]


def test_flush_moves_the_journal_into_the_warehouse_once(ops):
    receive_events(ops, [event(i) for i in range(50)])
    f = flush_journal(ops)
    assert (f.rows, f.loaded, f.backlog) == (50, 50, 0)
    assert flush_journal(ops).rows == 0
    # a crash after the warehouse committed but before the mark moved: sent again, not doubled
    j = journal(journal_path(ops.warehouse_url, ops.settings))
    j._db.execute("UPDATE meta SET value = '0' WHERE key = 'flushed'")
    f = flush_journal(ops)
    assert (f.rows, f.loaded, f.duplicates) == (50, 0, 50)
    assert len(stored(ops)) == 50
    j._db.execute("UPDATE meta SET value = '0' WHERE key = 'flushed'")
    receive_events(ops, [event(i) for i in range(50, 60)])  # and more arrived meanwhile
    f = flush_journal(ops)
    assert (f.rows, f.loaded, f.duplicates) == (60, 10, 50)
    assert len(stored(ops)) == 60
    with ops.warehouse(read_only=True) as con:
        ledger = con.raw_sql("SELECT source, status FROM _loads").fetchall()
    assert set(ledger) == {("api:/api/v1/events", "loaded")}


def test_markup_is_stored_as_given(ops):
    props = {"q": "<img src=x onerror=alert(1)>", "s": "'); DROP TABLE events; --"}
    receive_events(ops, [event(1, properties=props, name="view_content")])
    flush_journal(ops)
    import json

    assert json.loads(stored(ops)[0][2]) == props


def test_every_batch_is_audited_without_its_content(ops):
    receive_events(ops, [event(1, properties={"q": "抑郁"}), event(2, ts="x")])
    entry = read_audit(ops.state, 1)[0]
    assert entry["action"] == "events.intake"
    assert entry["detail"] == {"received": 2, "accepted": 1, "duplicates": 0, "rejected": 1}
    assert "抑郁" not in str(entry)


def test_limits_and_permission(ops):
    with pytest.raises(InvalidInput, match="at most 1000 events"):
        receive_events(ops, [event(i) for i in range(1001)])
    analyst = Ops.open(actor=Actor("ann", kind="user", roles=("analyst",)))
    with pytest.raises(Forbidden):
        receive_events(analyst, [event(1)])
    app = Ops.open(actor=Actor("his", kind="app", scopes=("events.write",)))
    assert receive_events(app, [event(1)]).accepted == 1


def test_a_warehouse_held_elsewhere_keeps_the_events_in_the_journal(ops):
    receive_events(ops, [event(1), event(2)])
    path = ops.warehouse_url.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy):
            flush_journal(ops)
    finally:
        holder.kill()
        holder.wait()
    assert flush_journal(ops).loaded == 2
    assert len(stored(ops)) == 2


@pytest.mark.postgres
def test_postgres_takes_events_straight_in(pg_database):
    url = pg_database()
    with warehouse(url) as con:
        create_tables(con)
    ops = Ops.open(warehouse=url)
    assert journal_path(url, ops.settings) is None
    r = receive_events(ops, [event(1), event(2, properties=None), event(3, ts="x")])
    assert (r.accepted, r.duplicates, len(r.rejected)) == (2, 0, 1)
    r = receive_events(ops, [event(1), event(2, properties=None), event(4), event(2, name="b")])
    assert (r.accepted, r.duplicates) == (1, 2)  # e4 new; e1, e2 again (e2 twice: same batch)
    r = receive_events(ops, [event(1, user_id="someone else")])
    assert [(x.index, x.field) for x in r.rejected] == [(0, "event_id")]
    with warehouse(url, read_only=True) as con:
        rows = con.raw_sql("SELECT event_id, _load_id FROM events ORDER BY 1").fetchall()
    assert [e for e, _ in rows] == ["e1", "e2", "e4"]
    assert all(load.startswith("api-") for _, load in rows)
    assert flush_journal(ops).rows == 0
    ops.close()


@pytest.mark.postgres
def test_postgres_writers_at_once_store_each_event_once(pg_database):
    from careops.config import Settings
    from careops.intake.check import check_events
    from careops.intake.postgres import store

    url = pg_database()
    with warehouse(url) as con:
        create_tables(con)
    same, _ = check_events([event(i) for i in range(200)], Settings())
    changed, _ = check_events([event(i, name="share") for i in range(100, 300)], Settings())
    results = {}
    barrier = threading.Barrier(3)

    def send(name, rows):
        with warehouse(url) as con:
            barrier.wait()
            results[name] = store(con, rows, f"api-{name}")

    threads = [
        threading.Thread(target=send, args=(n, rows))
        for n, rows in (("a", same), ("b", same), ("c", changed))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with warehouse(url, read_only=True) as con:
        n = con.raw_sql("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
    assert n == (300, 300)
    a, b, c = results["a"], results["b"], results["c"]
    assert a.inserted + b.inserted + c.inserted == 300
    for r in (a, b, c):  # every row sent is stored by this writer, or the same, or a conflict
        assert r.inserted + len(r.same) + len(r.different) == 200
    assert c.inserted >= 100 and len(a.same) + len(b.same) >= 100  # e200–299; e0–99 twice
    # e100–e199 were sent in two shapes: whoever came later sees a conflict, never a 2nd row
    assert len(a.different) + len(b.different) + len(c.different) >= 100


def test_the_journal_forgets_old_flushed_events_and_the_warehouse_still_stores_once(ops):
    receive_events(ops, [event(1), event(2)])
    j = journal(journal_path(ops.warehouse_url, ops.settings))
    j._db.execute("UPDATE events SET received_at = 0")  # received in 1970
    receive_events(ops, [event(3)])
    f = flush_journal(ops)
    assert (f.loaded, f.pruned) == (3, 2)  # e3 is recent, and e1, e2 only once flushed
    r = receive_events(ops, [event(1)])  # past the journal's memory: taken again …
    assert r.accepted == 1
    assert flush_journal(ops).loaded == 0  # … and the warehouse's key check skips it
    assert len(stored(ops)) == 3


def test_an_erased_patient_is_forgotten_by_the_journal_and_never_flushed_back(ops):
    from careops.intake.service import forget_user

    receive_events(ops, [event(1), event(2, user_id="gone"), event(3, user_id="gone")])
    flush_journal(ops)
    receive_events(ops, [event(4, user_id="gone")])  # accepted, not yet in the warehouse
    assert forget_user(ops, "gone") == 3
    assert flush_journal(ops).rows == 0
    with ops.warehouse(read_only=True) as con:
        users = con.raw_sql("SELECT DISTINCT user_id FROM events ORDER BY 1").fetchall()
    assert users == [("gone",), ("u1",)]  # the warehouse's own erasure removes the flushed two
    path = journal_path(ops.warehouse_url, ops.settings)
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(*) FROM events WHERE user_id = 'gone'").fetchone() == (0,)
    other.close()


def test_erasing_a_patient_clears_their_unflushed_events_too(ops):
    from careops.privacy.erase import erase_patient

    receive_events(ops, [event(1), event(2, user_id="gone")])
    flush_journal(ops)
    receive_events(ops, [event(3, user_id="gone")])  # in the journal only
    report = erase_patient(ops, "gone")
    assert report.warehouse["events"] == 1 and report.warehouse["intake_journal"] == 2
    assert flush_journal(ops).rows == 0
    with ops.warehouse(read_only=True) as con:
        users = con.raw_sql("SELECT DISTINCT user_id FROM events").fetchall()
    assert users == [("u1",)]

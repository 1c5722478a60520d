"""The journey engine on SQLite and PostgreSQL state stores, story by story under simulated
time: entry from an event, a message, an event wait with its timeout, a task, an exit on
conversion, quiet hours, a split with a holdout — each side effect exactly once, also when the
same hours are run again."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import sqlalchemy as sa

from careops.journeys import store
from careops.journeys.clock import SimPeer, run
from careops.journeys.definition import load_file
from careops.journeys.engine import split_unit, tick
from careops.service import Ops
from careops.tasks.store import tasks
from tests.journeys.engine_fixtures import BULK, STORY, at, build, write


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def story(request, tmp_path):
    events = [
        ("u1", "signup_done", at(1, 2)),  # 10:00 in Shanghai
        ("u2", "signup_done", at(1, 2)),
        ("u3", "signup_done", at(1, 2)),
        ("u4", "signup_done", at(1, 14, 30)),  # 22:30: quiet hours
        ("u2", "app_open", at(2, 3)),  # answers the wait
        ("u3", "order_paid", at(1, 5)),  # converts
        ("u5", "app_open", at(1, 3)),  # never triggered
    ]
    url = build(tmp_path / "wh.duckdb", ["u1", "u2", "u3", "u4", "u5"], events)
    if request.param == "sqlite":
        state = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        state = request.getfixturevalue("pg_database")()
    ops = Ops.open(warehouse=url, state=state)
    journey = load_file(write(tmp_path / "story.yaml", STORY))
    yield ops, journey
    ops.close()


def _outbox(ops: Ops) -> list:
    with ops.state.connect() as conn:
        return conn.execute(sa.select(store.outbox).order_by(store.outbox.c.id)).all()


def _enrolments(ops: Ops) -> dict:
    with ops.state.connect() as conn:
        rows = conn.execute(sa.select(store.enrolments)).all()
    return {r.user_id: r for r in rows}


def test_a_journey_story_over_three_simulated_days(story):
    ops, journey = story
    peer = SimPeer()
    report = run(ops, [journey], at(1, 0), at(4, 0), sender=peer)
    assert report.ticks == 73
    assert report.totals.entered == 4  # u5 had no trigger event

    got = Counter((r.user_id, r.step, r.status) for r in _outbox(ops))
    assert got == Counter(
        {
            ("u1", "hello", "sent"): 1,
            ("u2", "hello", "sent"): 1,
            ("u3", "hello", "sent"): 1,
            ("u4", "hello", "sent"): 1,
            ("u2", "thanks", "sent"): 1,  # the app_open ended the wait
            ("u1", "nudge", "sent"): 1,  # the wait timed out: a task
            ("u4", "nudge", "sent"): 1,
        }
    )
    # u3 converted before the timeout: exited, no task
    e = _enrolments(ops)
    assert (e["u3"].status, e["u3"].exit_reason) == ("exited", "converted")
    assert {u: e[u].status for u in ("u1", "u2", "u4")} == dict.fromkeys(
        ("u1", "u2", "u4"), "completed"
    )
    # the task is in the tasks table under the outbox key, due a day after the timeout
    with ops.state.connect() as conn:
        raised = {r.user_id: r for r in conn.execute(sa.select(tasks))}
    assert set(raised) == {"u1", "u4"}
    nudge = {r.user_id: r for r in _outbox(ops) if r.step == "nudge"}
    assert raised["u1"].key == nudge["u1"].key
    assert store.utc(raised["u1"].due_at) == at(3, 2) + dt.timedelta(days=1)

    # u4 entered at 22:30 local: deferred by the quiet hours to 08:00 (00:00 UTC)
    hello = {r.user_id: r for r in _outbox(ops) if r.step == "hello"}
    assert store.utc(hello["u4"].sent_at) == at(2, 0)
    assert store.utc(hello["u1"].sent_at) == at(1, 2)
    with ops.state.connect() as conn:
        deferred = conn.execute(
            sa.select(store.decisions).where(store.decisions.c.action == "defer")
        ).all()
    assert [(d.user_id, d.reason, store.utc(d.until)) for d in deferred] == [
        ("u4", "quiet_hours", at(2, 0))
    ]
    # the peer got each key once, the same keys as the outbox
    assert sorted(m.idempotency_key for m in peer.received) == sorted(
        r.key for r in _outbox(ops) if r.kind == "message"
    )


def test_running_the_same_hours_again_repeats_nothing(story):
    ops, journey = story
    peer = SimPeer()
    run(ops, [journey], at(1, 0), at(4, 0), sender=peer)
    before = [(r.key, r.status) for r in _outbox(ops)]
    again = run(ops, [journey], at(1, 0), at(4, 0), sender=peer)
    assert again.totals.entered == 0 and again.totals.sent == 0
    assert [(r.key, r.status) for r in _outbox(ops)] == before
    assert len(peer.received) == sum(1 for k, _ in before if ":hello" in k or ":thanks" in k)


def test_a_split_sends_each_arm_its_step_and_the_holdout_nothing(tmp_path):
    users = [f"p{i:03d}" for i in range(200)]
    url = build(tmp_path / "wh.duckdb", users, [(u, "signup_done", at(1, 2)) for u in users])
    ops = Ops.open(warehouse=url, state=f"sqlite:///{tmp_path / 'state.db'}")
    journey = load_file(write(tmp_path / "bulk.yaml", BULK))
    run(ops, [journey], at(1, 1), at(1, 6), sender=SimPeer(), batch=37)  # several batches

    def arm(u: str) -> str:
        x = split_unit("t_bulk", "ab", u)
        return "a" if x < 0.45 else "b" if x < 0.9 else "holdout"

    expected = Counter()
    for u in users:
        expected[(u, "hello")] = 1
        expected[(u, "call")] = 1
        if arm(u) != "holdout":
            expected[(u, "tip" if arm(u) == "a" else "bye")] = 1
    got = Counter((r.user_id, r.step) for r in _outbox(ops))
    assert got == expected
    holdouts = [u for u in users if arm(u) == "holdout"]
    assert 5 <= len(holdouts) <= 40  # ~10 % of 200
    e = _enrolments(ops)
    assert {e[u].exit_reason for u in holdouts} == {"holdout"}
    # the wait of 2 h: calls were raised at 12:00 local, two hours after the hellos
    first = {(r.user_id, r.step): store.utc(r.decided_at) for r in _outbox(ops)}
    assert all(first[(u, "call")] - first[(u, "hello")] == dt.timedelta(hours=2) for u in users)


def test_a_tick_needs_an_aware_time(story):
    from careops.errors import InvalidInput

    ops, journey = story
    with pytest.raises(InvalidInput, match="time zone"):
        tick(ops, [journey], dt.datetime(2025, 3, 1, 2))

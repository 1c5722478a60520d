"""The batch writes of the journey store on SQLite and PostgreSQL: rows kept as columns
(`store.Rows`, shared values once) inserted in one driver call — PostgreSQL `COPY`, through a
temporary table when duplicates are skipped —, `in_list` as one parameter, and the progress
update grouped by values on SQLite. What is stored equals what was given, row by row."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from careops.journeys import store
from careops.journeys.engine import DECISION_COLUMNS, OUTBOX_COLUMNS
from careops.service import Ops

NOW = dt.datetime(2025, 6, 2, 2, 0, 0, 123456, tzinfo=dt.UTC)
N = store.COPY_FROM + 250  # over the COPY threshold on PostgreSQL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops(request, tmp_path):
    if request.param == "sqlite":
        state = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        state = request.getfixturevalue("pg_database")()
    ops = Ops.open(warehouse=f"duckdb:///{tmp_path / 'wh.duckdb'}", state=state)
    yield ops
    ops.close()


def _outbox_rows(n: int, first: int = 0) -> store.Rows:
    payload = {"template": {"zh": "复诊提醒。", "en": "Visit"}, "medical_safety": False}
    rows = store.Rows(OUTBOX_COLUMNS)
    rows.append({"key": "single", "enrolment_id": 9, "journey": "j", "step": "s",
                 "user_id": "u_single", "kind": "task", "channel": None, "purpose": "service",
                 "payload": {"title": "回访"}, "decided_at": NOW, "status": "sent",
                 "attempts": 0, "next_try": None, "sent_at": NOW})  # fmt: skip
    ids = range(first, first + n)
    rows.extend(
        n, key=[f"k{i}" for i in ids], enrolment_id=list(ids), journey=store.Same("j"),
        step=store.Same("s"), user_id=[f"u{i}" for i in ids], kind=store.Same("message"),
        channel=["sms" if i % 2 else "wechat" for i in ids], purpose=store.Same("marketing"),
        payload=store.Same(payload), decided_at=store.Same(NOW), status=store.Same("pending"),
        attempts=store.Same(0), next_try=[NOW + dt.timedelta(seconds=i) for i in ids],
        sent_at=store.Same(None),
    )  # fmt: skip
    return rows


def test_rows_insert_as_given_and_skip_duplicate_keys(ops):
    rows = _outbox_rows(N)
    assert len(rows) == N + 1
    with ops.state.begin() as conn:
        store.bulk_insert(conn, store.outbox, rows, conflict="key")
    again = _outbox_rows(N + 10, first=N - 5)  # 5 overlapping keys and "single": skipped
    with ops.state.begin() as conn:
        store.bulk_insert(conn, store.outbox, again, conflict="key")
    o = store.outbox.c
    with ops.state.connect() as conn:
        got = {r.key: r for r in conn.execute(sa.select(store.outbox))}
    assert len(got) == (N - 5) + (N + 10) + 1
    r = got[f"k{N - 1}"]
    assert (r.enrolment_id, r.user_id, r.channel, r.kind, r.status, r.attempts) == (
        N - 1, f"u{N - 1}", "wechat" if (N - 1) % 2 == 0 else "sms", "message", "pending", 0
    )  # fmt: skip
    assert store.utc(r.decided_at) == NOW and r.sent_at is None
    assert store.utc(r.next_try) == NOW + dt.timedelta(seconds=N - 1)
    assert r.payload == {"template": {"zh": "复诊提醒。", "en": "Visit"}, "medical_safety": False}
    assert got["single"].kind == "task" and got["single"].payload == {"title": "回访"}
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(o.journey == "j")).scalar() == len(got)


def test_dict_rows_and_small_batches_take_the_same_path_result(ops):
    rows = [
        {"at": NOW, "enrolment_id": i, "journey": "j", "step": "s", "user_id": f"u{i}",
         "action": "send", "reason": "ok", "channel": "sms", "purpose": "service",
         "until": None, "key": f"k{i}"}
        for i in range(3)
    ]  # fmt: skip
    with ops.state.begin() as conn:
        store.bulk_insert(conn, store.decisions, rows)
        big = store.Rows(DECISION_COLUMNS)
        big.extend(N, at=store.Same(NOW), enrolment_id=list(range(N)), journey=store.Same("b"),
                   step=store.Same("s"), user_id=[f"u{i}" for i in range(N)],
                   action=store.Same("defer"), reason=store.Same("quiet_hours"),
                   until=store.Same(NOW + dt.timedelta(hours=8)))  # fmt: skip
        store.bulk_insert(conn, store.decisions, big)
    d = store.decisions.c
    with ops.state.connect() as conn:
        small = conn.execute(sa.select(store.decisions).where(d.journey == "j")).all()
        deferred = conn.execute(sa.select(store.decisions).where(d.journey == "b")).all()
    assert [(r.user_id, r.key, store.utc(r.at)) for r in small] == [
        (f"u{i}", f"k{i}", NOW) for i in range(3)
    ]
    assert len(deferred) == N and {store.utc(r.until) for r in deferred} == {
        NOW + dt.timedelta(hours=8)
    }
    assert {r.channel for r in deferred} == {None}


def test_rows_refuse_a_column_of_the_wrong_length():
    rows = store.Rows(("a", "b"))
    with pytest.raises(ValueError, match="column b"):
        rows.extend(3, a=store.Same(1), b=[1, 2])


@pytest.mark.parametrize("how_many", [0, 1, 2_500])
def test_in_list_is_one_parameter_for_any_number_of_values(ops, how_many):
    with ops.state.begin() as conn:
        store.bulk_insert(conn, store.outbox, _outbox_rows(3_000))
    wanted = [f"u{i}" for i in range(0, 2 * how_many, 2)]
    o = store.outbox.c
    with ops.state.connect() as conn:
        q = sa.select(o.user_id).where(store.in_list(conn, o.user_id, wanted))
        got = sorted(conn.execute(q).scalars())
        ids = conn.execute(
            sa.select(o.id).where(store.in_list(conn, o.enrolment_id, [5, 7], "int"))
        ).all()
    assert got == sorted(u for u in wanted if int(u[1:]) < 3_000)
    assert len(ids) == 2


@pytest.mark.parametrize("alike", [True, False])
def test_progress_update_grouped_or_row_by_row(ops, alike):
    n = 400
    with ops.state.begin() as conn:
        conn.execute(
            sa.insert(store.enrolments),
            [
                {"journey": "j", "version": 1, "user_id": f"u{i}", "entry_no": 1,
                 "entered_at": NOW, "status": "active", "step": "a", "seq": 0, "step_at": NOW,
                 "waiting": False, "next_due": NOW}
                for i in range(n)
            ],
        )  # fmt: skip
        ids = [r.id for r in conn.execute(sa.select(store.enrolments.c.id))]
    later = NOW + dt.timedelta(hours=1)
    rows = [
        {"id": i, "status": "active", "step": "b", "seq": 1 if alike else k, "step_at": later,
         "waiting": True, "next_due": later + dt.timedelta(days=1), "arm": None,
         "exit_reason": None, "ended_at": None}
        for k, i in enumerate(ids[: n - 1])  # the last one is not touched
    ]  # fmt: skip
    with ops.state.begin() as conn:
        store.update_enrolments(conn, rows)
    with ops.state.connect() as conn:
        got = {r.id: r for r in conn.execute(sa.select(store.enrolments))}
    for k, i in enumerate(ids[: n - 1]):
        r = got[i]
        assert (r.step, r.seq, bool(r.waiting)) == ("b", 1 if alike else k, True)
        assert store.utc(r.next_due) == later + dt.timedelta(days=1)
    last = got[ids[-1]]
    assert (last.step, last.seq, bool(last.waiting)) == ("a", 0, False)

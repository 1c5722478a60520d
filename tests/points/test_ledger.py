"""Points ledger: idempotent earning, FIFO expiry, levels, redemption that never overspends —
also under concurrent redemptions on SQLite and PostgreSQL (threads and processes)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.errors import Conflict, Forbidden, InvalidInput, NotFound
from careops.points import service
from careops.points.store import coupons, points_accounts, points_allocations, points_ledger
from careops.service import Actor, Ops

T0 = dt.datetime(2026, 1, 10, 9, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture
def ops():
    context = Ops.open()
    yield context
    context.close()


def checkups(ops: Ops, user: str, n: int, start: int = 0) -> None:
    for i in range(n):
        service.earn(
            ops, "patient", user, "checkup", f"order:{user}-{start + i}", at=day(i), verify=False
        )


def table_sums(ops: Ops) -> dict:
    """Independent check of the ledger's invariants, straight from the tables."""
    with ops.state.connect() as conn:
        led = {
            (k, h): int(s)
            for k, h, s in conn.execute(
                sa.select(
                    points_ledger.c.holder_kind,
                    points_ledger.c.holder_id,
                    sa.func.sum(points_ledger.c.points),
                ).group_by(points_ledger.c.holder_kind, points_ledger.c.holder_id)
            )
        }
        acc = {
            (k, h): b
            for k, h, b in conn.execute(
                sa.select(
                    points_accounts.c.holder_kind,
                    points_accounts.c.holder_id,
                    points_accounts.c.balance,
                )
            )
        }
        over = conn.execute(
            sa.select(points_allocations.c.lot_id)
            .join(points_ledger, points_ledger.c.id == points_allocations.c.lot_id)
            .group_by(points_allocations.c.lot_id, points_ledger.c.points)
            .having(sa.func.sum(points_allocations.c.points) > points_ledger.c.points)
        ).all()
        debits = conn.execute(
            sa.select(points_ledger.c.id, points_ledger.c.points).where(
                points_ledger.c.entry != "earn"
            )
        ).all()
        paid = dict(
            conn.execute(
                sa.select(
                    points_allocations.c.debit_id, sa.func.sum(points_allocations.c.points)
                ).group_by(points_allocations.c.debit_id)
            ).all()
        )
    assert not over, "a lot was spent beyond its points"
    for i, p in debits:
        assert paid[i] == -p, "a debit not paid exactly by its lots"
    return {"ledger": led, "accounts": acc}


def test_checkup_is_100_points_and_a_replayed_event_credits_nothing(ops):
    first = service.earn(ops, "patient", "p1", "checkup", "order:o1", at=T0, verify=False)
    again = service.earn(ops, "patient", "p1", "checkup", "order:o1", at=T0, verify=False)
    assert first.entry.points == 100 and not first.replayed
    assert again.replayed and again.entry.id == first.entry.id
    b = service.balance(ops, "patient", "p1", at=day(1))
    assert b.available == 100
    assert table_sums(ops)["accounts"][("patient", "p1")] == 100


def test_a_replay_claiming_other_points_or_holder_is_refused(ops):
    service.earn(ops, "patient", "p1", "manual", "gift:g1", at=T0, points=30, verify=False)
    with pytest.raises(Conflict, match="already credited"):
        service.earn(ops, "patient", "p1", "manual", "gift:g1", at=T0, points=3000, verify=False)
    with pytest.raises(Conflict, match="already credited"):
        service.earn(ops, "patient", "p2", "manual", "gift:g1", at=T0, points=30, verify=False)
    assert table_sums(ops)["ledger"] == {("patient", "p1"): 30}


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("patient", "p1", "checkup", "order:x", {"points": -100}), "points"),
        (("patient", "p1", "manual", "gift:x", {"points": 0}), "points"),
        (("patient", "p1", "manual", "gift:x", {}), "manual"),
        (("patient", "p1", "manual", "gift:x", {"points": 10**9}), "points"),
        (("patient", "p1", "checkup", "order:x", {"points": 5}), "worth 100"),
        (("patient", "p1", "chekup", "order:x", {}), "did you mean 'checkup'"),
        (("patient", "p 1; drop", "checkup", "order:x", {}), "user id"),
        (("patient", "", "checkup", "order:x", {}), "user id"),
        (("nurse", "p1", "checkup", "order:x", {}), "kind"),
        (("patient", "p1", "checkup", "order x\n", {}), "source"),
        (("patient", "p1", "checkup", "", {}), "source"),
        (("patient", "p1", "manual", "g:1", {"points": True}), "points"),
        (("patient", "p1", "manual", "g:1", {"points": 1.5}), "points"),
    ],
)
def test_bad_earnings_are_refused_and_nothing_is_written(ops, args, word):
    kind, user, rule, source, kw = args
    with pytest.raises(InvalidInput, match=word):
        service.earn(ops, kind, user, rule, source, at=T0, verify=False, **kw)
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(points_ledger)).scalar() == 0


def test_naive_time_is_refused(ops):
    with pytest.raises(InvalidInput, match="timezone"):
        service.earn(
            ops, "patient", "p1", "checkup", "o:1", at=dt.datetime(2026, 1, 1), verify=False
        )


def test_unknown_patient_is_refused_against_the_warehouse(ops):
    from careops.warehouse import connect, create_tables
    from tests.conftest import fill

    con = connect(ops.warehouse_url)
    create_tables(con)
    fill(con, {"patients": pa.table({"user_id": ["p1"]})})
    con.disconnect()
    service.earn(ops, "patient", "p1", "checkup", "order:o1", at=T0)
    with pytest.raises(NotFound, match="unknown patient 'ghost'"):
        service.earn(ops, "patient", "ghost", "checkup", "order:o2", at=T0)
    with pytest.raises(NotFound, match="no points"):
        service.balance(ops, "patient", "ghost")
    with pytest.raises(NotFound, match="no points"):
        service.redeem(ops, "ghost", "consult_10")


def test_redeeming_spends_the_oldest_lots_and_never_more_than_held(ops):
    checkups(ops, "p1", 6)  # 600 points, one lot a day
    c = service.redeem(ops, "p1", "consult_10", at=day(10))  # 500
    assert (c.points, c.value_cny, c.balance_after) == (500, 10.0, 100)
    assert len(c.code) == 12 and c.expires_at == day(10) + dt.timedelta(days=90)
    with pytest.raises(Conflict, match="not enough points: 100 available, consult_10 costs 500"):
        service.redeem(ops, "p1", "consult_10", at=day(10))
    with pytest.raises(InvalidInput, match="did you mean 'consult_10'"):
        service.redeem(ops, "p1", "consult10", at=day(10))
    # FIFO: the five oldest lots were spent, the sixth (day 5) is whole
    from careops.points.store import lots

    with ops.state.connect() as conn:
        left = lots(conn, "patient", "p1")
    assert [(lot.at, lot.remaining) for lot in left] == [(day(5), 100)]
    assert table_sums(ops)["accounts"][("patient", "p1")] == 100


def test_a_retried_redemption_returns_the_first_coupon(ops):
    checkups(ops, "p1", 12)
    a = service.redeem(ops, "p1", "consult_10", request_key="req-1", at=day(20))
    b = service.redeem(ops, "p1", "consult_10", request_key="req-1", at=day(20))
    assert b.replayed and b.code == a.code and b.balance_after == 700
    with pytest.raises(Conflict, match="request key"):
        service.redeem(ops, "p1", "consult_30", request_key="req-1", at=day(20))
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(coupons)).scalar() == 1


def test_points_expire_fifo_after_a_year(ops):
    ops.settings.points.expire_days = 30
    checkups(ops, "p1", 3)  # lots on day 0, 1, 2 expire on day 30, 31, 32
    assert service.balance(ops, "patient", "p1", at=day(29)).available == 300
    assert service.balance(ops, "patient", "p1", at=day(29)).expiring_30d == 300
    assert service.balance(ops, "patient", "p1", at=day(31)).available == 100
    assert service.expire_points(ops, at=day(31)) == 200
    assert service.expire_points(ops, at=day(31)) == 0  # once
    kinds = [e.entry for e in service.ledger(ops, "patient", "p1")]
    assert kinds.count("expire") == 2
    assert table_sums(ops)["accounts"][("patient", "p1")] == 100


def test_expired_points_cannot_be_redeemed(ops):
    ops.settings.points.expire_days = 30
    checkups(ops, "p1", 6)
    with pytest.raises(Conflict, match="not enough points: 100 available"):
        service.redeem(ops, "p1", "consult_10", at=day(34))
    # the refused redemption changed nothing, the expiry included
    assert all(e.entry == "earn" for e in service.ledger(ops, "patient", "p1"))


def test_levels_follow_points_earned_in_the_window(ops):
    assert service.level_of(ops, "patient", 0).code == "member"
    assert service.level_of(ops, "patient", 499) == service.Level("member", 499, "silver", 1)
    assert service.level_of(ops, "patient", 500).code == "silver"
    assert service.level_of(ops, "patient", 10_000) == service.Level("diamond", 10_000, None, None)
    checkups(ops, "p1", 5)
    service.redeem(ops, "p1", "consult_10", at=day(6))
    b = service.balance(ops, "patient", "p1", at=day(6))
    assert b.available == 0 and b.level.code == "silver"  # spending does not demote
    later = service.balance(ops, "patient", "p1", at=day(400))
    assert later.level.code == "member"


def test_writing_needs_the_growth_permission(ops):
    auditor = Ops.open(
        ops.warehouse_url,
        ops.state_url,
        actor=Actor(name="a", kind="user", roles=("auditor",)),
        settings=ops.settings,
    )
    with pytest.raises(Forbidden):
        service.earn(auditor, "patient", "p1", "checkup", "o:1", verify=False)
    with pytest.raises(Forbidden):
        service.redeem(auditor, "p1", "consult_10")


def _race(ops: Ops, n: int) -> tuple[list, list]:
    wins, losses = [], []
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        try:
            wins.append(service.redeem(ops, "p1", "consult_10", at=day(30)))
        except Conflict as exc:
            losses.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, losses


def test_concurrent_redemptions_never_double_spend_on_sqlite(ops):
    checkups(ops, "p1", 12)  # 1200 points: room for two 500-point coupons
    wins, losses = _race(ops, 8)
    assert len(wins) == 2 and len(losses) == 6
    assert service.balance(ops, "patient", "p1", at=day(30)).available == 200
    assert table_sums(ops)["accounts"][("patient", "p1")] == 200


@pytest.fixture
def pg_ops(pg_database):
    context = Ops.open(state=pg_database())
    yield context
    context.close()


@pytest.mark.postgres
def test_concurrent_redemptions_never_double_spend_on_postgres(pg_ops):
    checkups(pg_ops, "p1", 12)
    wins, losses = _race(pg_ops, 8)
    assert len(wins) == 2 and len(losses) == 6
    sums = table_sums(pg_ops)
    assert sums["accounts"][("patient", "p1")] == sums["ledger"][("patient", "p1")] == 200


def _redeem_in_process(state_url: str, key: str, out) -> None:
    context = Ops.open(state=state_url)
    try:
        service.redeem(context, "p1", "consult_30", request_key=key, at=day(30))
        out.put("won")
    except Conflict:
        out.put("lost")
    finally:
        context.close()


@pytest.mark.postgres
def test_concurrent_redemptions_in_processes_on_postgres(pg_ops):
    checkups(pg_ops, "p1", 25)  # 2500 points: two 1200-point coupons
    mp = multiprocessing.get_context("spawn")
    out = mp.Queue()
    procs = [
        mp.Process(target=_redeem_in_process, args=(pg_ops.state_url, f"k{i}", out))
        for i in range(5)
    ]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == ["lost"] * 3 + ["won"] * 2
    sums = table_sums(pg_ops)
    assert sums["accounts"][("patient", "p1")] == sums["ledger"][("patient", "p1")] == 100


@pytest.mark.postgres
def test_concurrent_replays_of_one_event_credit_once_on_postgres(pg_ops):
    barrier = threading.Barrier(6)
    results = []

    def one() -> None:
        barrier.wait()
        results.append(
            service.earn(pg_ops, "patient", "p1", "checkup", "order:same", at=T0, verify=False)
        )

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not r.replayed for r in results) == 1
    assert table_sums(pg_ops)["ledger"] == {("patient", "p1"): 100}


def test_a_past_balance_is_as_it_stood_then(ops):
    checkups(ops, "p1", 7)  # 100 a day, days 0–6
    service.redeem(ops, "p1", "consult_10", at=day(8))
    assert service.balance(ops, "patient", "p1", at=day(3)).available == 400  # days 0–3
    assert service.balance(ops, "patient", "p1", at=day(7)).available == 700
    assert service.balance(ops, "patient", "p1", at=day(8)).available == 200

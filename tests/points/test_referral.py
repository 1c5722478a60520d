"""Referral: unguessable codes, attribution with fraud guards, rewards paid once after the
first qualifying action, the invitation tree and the K-factor per generation."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.errors import Conflict, InvalidInput, NotFound
from careops.points import referral
from careops.points.referral_store import referral_rewards, referral_signups
from careops.service import Ops
from careops.warehouse import connect, create_tables
from tests.conftest import fill

T0 = dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC)  # 10:00 in Shanghai


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture
def ops():
    context = Ops.open()
    yield context
    context.close()


def signups(ops: Ops) -> int:
    with ops.state.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(referral_signups)).scalar()


def test_codes_are_unguessable_and_links_carry_the_channel(ops):
    codes = [referral.create_code(ops, "a", "wechat", at=T0, verify=False) for _ in range(200)]
    assert len({c.code for c in codes}) == 200
    assert all(referral.CODE.fullmatch(c.code) for c in codes)
    assert codes[0].link.endswith(f"?code={codes[0].code}&ch=wechat")
    assert codes[0].expires_at == T0 + dt.timedelta(days=90)
    # the characters are spread over the whole alphabet (secrets, not a counter)
    letters = "".join(c.code for c in codes)
    assert len(set(letters)) == len(referral.CODE_ALPHABET)
    with pytest.raises(InvalidInput, match="channel"):
        referral.create_code(ops, "a", "billboard", at=T0, verify=False)


def test_attribution_is_once_and_a_replay_returns_it(ops):
    c = referral.create_code(ops, "a", "sms", at=T0, verify=False)
    first = referral.attribute(ops, "b", c.code.lower(), at=day(1))
    again = referral.attribute(ops, "b", c.code, at=day(1))
    assert (first.inviter_id, first.status, first.channel) == ("a", "ok", "sms")
    assert again.replayed and not first.replayed
    other = referral.create_code(ops, "z", "sms", at=T0, verify=False)
    with pytest.raises(Conflict, match="already attributed to a"):
        referral.attribute(ops, "b", other.code, at=day(1))
    assert signups(ops) == 1


@pytest.mark.parametrize(
    ("invitee", "code_of", "kw", "err", "word"),
    [
        ("a", "a", {}, InvalidInput, "invite themselves"),
        ("b", "a", {"at": day(91)}, InvalidInput, "expired"),
        ("b", "a", {"at": day(-1)}, InvalidInput, "before the code"),
        ("b", None, {}, NotFound, "unknown invite code"),
        ("b", "bad", {}, InvalidInput, "malformed"),
        ("b", "a", {"phone": "12345"}, InvalidInput, "11 digits"),
        ("b", "a", {"device_id": "x y\n"}, InvalidInput, "device"),
        ("b c", "a", {}, InvalidInput, "user id"),
    ],
)
def test_bad_attributions_are_refused_and_nothing_is_written(ops, invitee, code_of, kw, err, word):
    c = referral.create_code(ops, "a", "link", at=T0, verify=False)
    code = {"a": c.code, None: "ABCDEFGHJK", "bad": "abc'--"}[code_of]
    kw = {"at": day(1)} | kw
    with pytest.raises(err, match=word):
        referral.attribute(ops, invitee, code, **kw)
    assert signups(ops) == 0


def test_many_sign_ups_from_one_device_or_phone_prefix_are_suspect(ops):
    ops.settings.referral.max_per_device = 2
    ops.settings.referral.max_per_phone_prefix = 2
    c = referral.create_code(ops, "a", "link", at=T0, verify=False)
    got = [referral.attribute(ops, f"d{i}", c.code, at=day(1), device_id="dev-1") for i in range(4)]
    assert [g.status for g in got] == ["ok", "ok", "suspect", "suspect"]
    assert got[2].reason == "device"
    got = [
        referral.attribute(ops, f"p{i}", c.code, at=day(1), phone=f"+86 138-0013-800{i}")
        for i in range(3)
    ]
    assert [g.reason for g in got] == [None, None, "phone_prefix"]
    # another prefix is fine
    assert referral.attribute(ops, "q", c.code, at=day(1), phone="13900000000").status == "ok"


def test_a_sign_up_from_the_inviters_own_device_is_suspect(ops):
    root = referral.create_code(ops, "r", "link", at=T0, verify=False)
    referral.attribute(ops, "a", root.code, at=day(1), device_id="phone-of-a")
    c = referral.create_code(ops, "a", "link", at=day(1), verify=False)
    got = referral.attribute(ops, "alt", c.code, at=day(2), device_id="phone-of-a")
    assert (got.status, got.reason) == ("suspect", "own_device")


def test_concurrent_sign_ups_from_one_device_respect_the_limit(ops):
    ops.settings.referral.max_per_device = 2
    c = referral.create_code(ops, "a", "link", at=T0, verify=False)
    barrier = threading.Barrier(6)
    out = []

    def one(i):
        barrier.wait()
        out.append(referral.attribute(ops, f"u{i}", c.code, at=day(1), device_id="dev-9"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status for a in out) == ["ok", "ok"] + ["suspect"] * 4


@pytest.fixture
def hospital(ops):
    """A: seed; A invited B, C, D (via the app); B invited E. B, C, E pay; D only refunds;
    C pays after the qualifying window."""
    con = connect(ops.warehouse_url)
    create_tables(con)
    pts = lambda n: [day(n)]  # noqa: E731
    fill(
        con,
        {
            "patients": pa.table(
                {
                    "user_id": ["A", "B", "C", "D", "E", "F"],
                    "registered_at": [T0, day(1), day(1), day(2), day(3), day(3)],
                    "source_channel": [
                        "baidu",
                        "referral",
                        "referral",
                        "referral",
                        "referral",
                        "app_store",
                    ],
                    "referrer_id": [None, "A", "A", "A", "B", None],
                }
            ),
            "orders": pa.table(
                {
                    "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
                    "user_id": ["B", "B", "C", "D", "E", "A"],
                    "ts": pts(5) + pts(6) + pts(40) + pts(4) + pts(4) + pts(1),
                    "category": ["consultation", "drug", "checkup", "drug", "drug", "drug"],
                    "amount_cny": [60.0, 30.0, 300.0, 20.0, 25.0, 10.0],
                    "status": ["paid", "paid", "paid", "refunded", "paid", "paid"],
                }
            ),
            "events": pa.table(
                {
                    "event_id": ["e1", "e2", "e3", "e4", "e5", "e6"],
                    "user_id": ["A", "A", "A", "A", "B", "B"],
                    "ts": pts(0.5) + pts(0.6) + pts(1.5) + pts(1.7) + pts(2) + pts(2.1),
                    "name": ["invite", "invite", "invite", "invite", "invite", "app_open"],
                    "properties": [
                        '{"invitee_id": "B"}',
                        '{"invitee_id": "C"}',
                        '{"invitee_id": "D"}',
                        '{"invitee_id": "X"}',
                        '{"invitee_id": "E"}',
                        None,
                    ],
                }
            ),
        },
    )
    con.disconnect()
    return ops


def rewards(ops: Ops) -> list[tuple]:
    rw = referral_rewards.c
    with ops.state.connect() as conn:
        return sorted(
            tuple(r) for r in conn.execute(sa.select(rw.user_id, rw.kind, rw.reason, rw.order_id))
        )


def test_rewards_are_paid_once_after_the_first_qualifying_action(hospital):
    ops = hospital
    ops.settings.referral.qualify_within_days = 30
    assert referral.import_signups(ops, dt.date(2026, 3, 20)) == 4
    assert referral.import_signups(ops, dt.date(2026, 3, 20)) == 0
    run = referral.pay_rewards(ops, dt.date(2026, 3, 20))
    # B's first qualifying order is o1 (day 5); E's o5; C has not paid yet; D only refunded
    assert (run.cash_rewards, run.cash_cny, run.checkups) == (4, 200.0, 0)
    assert (run.waiting, run.lapsed) == (2, 0)
    assert rewards(ops) == [
        ("A", "cash", "inviter", "o1"),
        ("B", "cash", "invitee", "o1"),
        ("B", "cash", "inviter", "o5"),
        ("E", "cash", "invitee", "o5"),
    ]
    again = referral.pay_rewards(ops, dt.date(2026, 3, 20))
    assert (again.cash_rewards, again.checkups) == (0, 0)
    # later: C pays on day 40, outside the 30-day window → never paid; D lapses too
    late = referral.pay_rewards(ops, dt.date(2026, 5, 1))
    assert (late.cash_rewards, late.lapsed, late.waiting) == (0, 2, 0)


def test_the_third_qualified_invitee_earns_one_free_checkup(hospital):
    ops = hospital
    ops.settings.referral.checkup_after = 2
    referral.import_signups(ops, dt.date(2026, 5, 1))
    run = referral.pay_rewards(ops, dt.date(2026, 5, 1))  # B (o1) and C (o3, day 40) qualify
    assert run.checkups == 1
    assert ("A", "checkup", "invite_2", "o3") in rewards(ops)
    assert referral.pay_rewards(ops, dt.date(2026, 5, 1)).checkups == 0


def test_tree_generations_and_descendants(hospital):
    ops = hospital
    referral.import_signups(ops, dt.date(2026, 5, 1))
    t = referral.tree(ops, root="A")
    assert t.generation_of == {"B": 1, "C": 1, "D": 1, "E": 2}
    assert [(g.generation, g.users, g.ratio) for g in t.generations] == [
        (0, 1, None),
        (1, 3, 3.0),
        (2, 1, pytest.approx(1 / 3)),
    ]
    assert t.descendants == [("B", "A", 1), ("C", "A", 1), ("D", "A", 1), ("E", "B", 2)]
    with pytest.raises(NotFound):
        referral.tree(ops, root="nobody")


def test_kfactor_per_generation_reuses_the_metric(hospital):
    from careops.metrics.compute import compute

    ops = hospital
    referral.import_signups(ops, dt.date(2026, 3, 20))
    overall, groups = referral.kfactor(ops, dt.date(2026, 3, 20), by="generation")
    with ops.warehouse(read_only=True) as con:
        direct = compute(con, "k_factor", dt.date(2026, 3, 20))
    assert overall == pytest.approx(direct.value)
    by = {g.group: g for g in groups}
    # generation 0 (A, F): A's 3 converted invites (X never signed up); generation 1: B's 1 (E)
    assert by["0"].converted == 3 and by["1"].converted == 1
    assert sum(g.converted for g in groups) == pytest.approx(direct.numerator)
    assert sum(g.active for g in groups) == pytest.approx(direct.denominator)
    _, chans = referral.kfactor(ops, dt.date(2026, 3, 20), by="channel")
    assert {g.group: g.converted for g in chans}["baidu"] == 3


@pytest.mark.postgres
def test_concurrent_sign_ups_from_one_device_respect_the_limit_on_postgres(pg_database):
    context = Ops.open(state=pg_database())
    try:
        test_concurrent_sign_ups_from_one_device_respect_the_limit(context)
    finally:
        context.close()

"""The review list of sends whose outcome is unknown (journeys/review.py), on SQLite and
PostgreSQL state stores: rows a crashed worker left `sending` become `unknown` through the real
`dispatch.reconcile`; a person lists them (paged, by journey, channel, age) and resolves each —
`sent` marks it sent, `not_sent` re-queues it ONCE under the same key (outside quiet hours),
and the real dispatcher then hands it over exactly once. Every resolution is audited."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from careops.errors import Conflict, Forbidden, InvalidInput, NotFound
from careops.journeys import review, store
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.dispatch import dispatch, reconcile
from careops.service import Actor, Ops
from careops.state.models import audit_log

T0 = dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


class Peer:
    """A provider that accepts everything and counts each key it is handed (no dedup)."""

    def __init__(self) -> None:
        self.got: Counter = Counter()

    def __call__(self, channel: str, messages: Sequence[Message]) -> list[Outcome]:
        for m in messages:
            self.got[m.idempotency_key] += 1
        return [Outcome("sent", provider_id=f"p-{m.idempotency_key}") for m in messages]


ROWS = [  # key, journey, channel, purpose, hours after T0, status
    ("k_a_sms", "a", "sms", "marketing", 0, "sending"),
    ("k_b_sms", "b", "sms", "marketing", 1, "sending"),
    ("k_a_push", "a", "app_push", "service", 2, "sending"),
    ("k_a_wechat", "a", "wechat", "service", 3, "sending"),  # dedupes: back to pending
    ("k_done", "a", "sms", "service", 0, "sent"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops(request, tmp_path) -> Ops:
    if request.param == "sqlite":
        state = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        state = request.getfixturevalue("pg_database")()
    ops = Ops.open(warehouse=f"duckdb:///{tmp_path / 'wh.duckdb'}", state=state)
    with ops.state.begin() as conn:
        conn.execute(
            sa.insert(store.outbox),
            [
                {"key": k, "enrolment_id": i, "journey": j, "step": "s", "user_id": f"u{i}",
                 "kind": "message", "channel": ch, "purpose": p,
                 "payload": {"template": {"zh": "复诊提醒。"}},
                 "decided_at": T0 + dt.timedelta(hours=h), "status": st, "attempts": 0,
                 "next_try": None}
                for i, (k, j, ch, p, h, st) in enumerate(ROWS)
            ],
        )  # fmt: skip
    # the crashed worker's rows are settled by the real reconcile (WeChat dedupes by key)
    from careops.journeys.dispatch import ChannelSender

    assert reconcile(ops, ChannelSender(ops.settings)) == {"pending": 1, "unknown": 3}
    yield ops
    ops.close()


def _status(ops: Ops) -> dict[str, tuple[str, dt.datetime | None]]:
    o = store.outbox.c
    with ops.state.connect() as conn:
        return {
            r.key: (r.status, store.utc(r.next_try))
            for r in conn.execute(sa.select(o.key, o.status, o.next_try))
        }


def test_list_pages_and_filters_oldest_first(ops):
    now = T0 + dt.timedelta(hours=5)
    page = review.list_unknown(ops, now=now)
    assert page.total == 3 and [s.key for s in page.items] == ["k_a_sms", "k_b_sms", "k_a_push"]
    first = page.items[0]
    assert (first.journey, first.channel, first.user_id, first.age_s) == (
        "a",
        "sms",
        "u0",
        5 * 3600,
    )
    assert first.error and "delivery unknown" in first.error and not first.requeued_before
    assert [s.key for s in review.list_unknown(ops, journey="a", now=now).items] == [
        "k_a_sms",
        "k_a_push",
    ]
    assert [s.key for s in review.list_unknown(ops, channel="app_push", now=now).items] == [
        "k_a_push"
    ]
    old = review.list_unknown(ops, min_age_s=4 * 3600, now=now)  # decided ≥ 4 h before now
    assert [s.key for s in old.items] == ["k_a_sms", "k_b_sms"] and old.total == 2
    second = review.list_unknown(ops, page=2, per_page=2, now=now)
    assert second.total == 3 and [s.key for s in second.items] == ["k_a_push"]
    assert review.list_unknown(ops, page=3, per_page=2, now=now).items == []


def test_sent_marks_it_sent_and_nothing_goes_out_again(ops):
    at = T0 + dt.timedelta(hours=6)
    r = review.resolve(ops, "k_a_sms", "sent", "服务商后台可见 / seen in the console", now=at)
    assert (r.status, r.next_try) == ("sent", None)
    assert _status(ops)["k_a_sms"][0] == "sent"
    assert "k_a_sms" not in [s.key for s in review.list_unknown(ops, now=at).items]
    with pytest.raises(Conflict):  # resolved already: not unknown any more
        review.resolve(ops, "k_a_sms", "not_sent", now=at)
    peer = Peer()
    dispatch(ops, at + dt.timedelta(days=1), peer)
    assert peer.got["k_a_sms"] == 0
    with ops.state.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.action == "journey.unknown.resolve")
        ).all()
    assert len(rows) == 1
    detail = rows[0].detail if isinstance(rows[0].detail, dict) else json.loads(rows[0].detail)
    assert rows[0].target == "outbox:k_a_sms" and rows[0].subject == "u0"
    assert detail["outcome"] == "sent" and detail["note"].startswith("服务商")


def test_not_sent_requeues_once_under_the_same_key_outside_quiet_hours(ops):
    late = dt.datetime(2025, 3, 3, 15, 0, tzinfo=dt.UTC)  # 23:00 in Shanghai: quiet hours
    r = review.resolve(ops, "k_b_sms", "not_sent", now=late)
    morning = dt.datetime(2025, 3, 4, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
    assert (r.status, r.next_try) == ("pending", morning)
    assert _status(ops)["k_b_sms"] == ("pending", morning)
    peer = Peer()
    dispatch(ops, late + dt.timedelta(minutes=30), peer)
    assert peer.got["k_b_sms"] == 0  # not in the night
    dispatch(ops, morning, peer)
    assert peer.got["k_b_sms"] == 1 and _status(ops)["k_b_sms"][0] == "sent"
    # the same row interrupted in flight again: unknown again, but it is not re-queued twice
    o = store.outbox.c
    with ops.state.begin() as conn:
        conn.execute(sa.update(store.outbox).where(o.key == "k_b_sms").values(status="sending"))
    reconcile(ops, Peer())
    again = [s for s in review.list_unknown(ops, now=morning).items if s.key == "k_b_sms"]
    assert len(again) == 1 and again[0].requeued_before
    with pytest.raises(Conflict, match="re-queued once"):
        review.resolve(ops, "k_b_sms", "not_sent", now=morning)
    assert review.resolve(ops, "k_b_sms", "sent", now=morning).status == "sent"
    dispatch(ops, morning + dt.timedelta(days=1), peer)
    assert peer.got["k_b_sms"] == 1


def test_a_medical_safety_send_is_requeued_at_once(ops):
    o = store.outbox.c
    with ops.state.begin() as conn:
        conn.execute(
            sa.update(store.outbox)
            .where(o.key == "k_a_push")
            .values(payload={"template": {"zh": "血糖偏高。"}, "medical_safety": True})
        )
    late = dt.datetime(2025, 3, 3, 15, 0, tzinfo=dt.UTC)
    assert review.resolve(ops, "k_a_push", "not_sent", now=late).next_try == late


def test_bad_input_and_permissions(ops):
    with pytest.raises(InvalidInput) as exc:
        review.resolve(ops, "k_a_sms", "maybe")
    assert exc.value.field == "outcome"
    with pytest.raises(NotFound):
        review.resolve(ops, "no_such_key", "sent")
    with pytest.raises(Conflict):  # a pending row is not unknown
        review.resolve(ops, "k_a_wechat", "sent")
    with pytest.raises(InvalidInput) as exc:
        review.list_unknown(ops, per_page=0)
    assert exc.value.field == "per_page"
    with pytest.raises(InvalidInput):
        review.resolve(ops, "k_a_sms", "sent", "x" * 501)
    assert _status(ops)["k_a_sms"][0] == "unknown"  # nothing half-applied
    for role in ("health_manager", "analyst"):  # journeys.read alone may not see the patients
        who = Ops.open(
            warehouse=ops.warehouse_url,
            state=ops.state_url,
            actor=Actor(name="x", kind="user", roles=(role,)),
        )
        with pytest.raises(Forbidden):
            review.list_unknown(who)
        with pytest.raises(Forbidden):
            review.resolve(who, "k_a_sms", "sent")
        who.close()


def test_cli_lists_and_resolves(ops, run_cli):
    state = ops.state_url
    code, out, err = run_cli("journeys", "unknown", "list", "--journey", "a", "--json",
                             "--state", state)  # fmt: skip
    assert code == 0, err
    got = json.loads(out)
    assert got["total"] == 2 and [s["key"] for s in got["items"]] == ["k_a_sms", "k_a_push"]
    code, out, err = run_cli("journeys", "unknown", "list", "--state", state)
    assert code == 0 and "k_b_sms" in out and "待核实" in out
    code, out, err = run_cli("journeys", "unknown", "resolve", "k_a_push", "--not-sent",
                             "--note", "短信平台无记录", "--state", state)  # fmt: skip
    assert code == 0, err
    assert "re-queued" in out and _status(ops)["k_a_push"][0] == "pending"
    code, out, err = run_cli("journeys", "unknown", "resolve", "k_a_push", "--sent",
                             "--state", state)  # fmt: skip
    assert code == 3 and "Traceback" not in out + err and "pending" in out + err
    code, out, err = run_cli("journeys", "unknown", "resolve", "k_a_sms", "--state", state)
    assert code == 2 and _status(ops)["k_a_sms"][0] == "unknown"

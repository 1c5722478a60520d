"""JPush REST v3 against a local peer checking Basic auth and the push object."""

from __future__ import annotations

import logging

import pytest

from careops.journeys.channels import Message
from careops.journeys.channels.jpush import JPushChannel
from careops.journeys.channels.retry import RetryPolicy, send_with_retry

from .channel_peers import JPushPeer


@pytest.fixture
def peer():
    with JPushPeer() as p:
        yield p


def jp(peer: JPushPeer, secret: str | None = None) -> JPushChannel:
    return JPushChannel(
        base_url=peer.url,
        app_key=peer.app_key,
        master_secret=secret or peer.secret,
        apns_production=False,
        time_to_live_s=3600,
    )


def msg(rid: str, key: str = "j1:s1:u1") -> Message:
    return Message(
        idempotency_key=key,
        user_id="u1",
        channel="app_push",
        purpose="marketing",
        template="coupon",
        address=rid,
        subject="新人礼包",
        body="您的 ¥10 问诊券 <b>今日</b> 到期",
    )


def test_push_object_and_msg_id(peer):
    ch = jp(peer)
    out = ch.send(msg("rid-1"))
    ch.close()
    assert out.status == "sent" and out.provider_id == peer.sent[0]["msg_id"]
    body = peer.sent[0]
    assert body["audience"] == {"registration_id": ["rid-1"]}
    assert body["notification"]["android"]["title"] == "新人礼包"
    assert body["notification"]["ios"]["alert"]["body"] == "您的 ¥10 问诊券 <b>今日</b> 到期"
    assert body["notification"]["android"]["extras"]["send_id"] == "j1:s1:u1"
    assert body["options"] == {"time_to_live": 3600, "apns_production": False}


def test_unknown_device_is_unbound_and_no_device_is_unbound(peer):
    ch = jp(peer)
    gone = ch.send(msg("rid-unknown"))
    none = ch.send(msg(""))
    ch.close()
    assert (gone.status, gone.code) == ("unbound", "1011")
    assert none.status == "unbound" and none.code == "not_bound"


def test_rate_limited_push_waits_as_told_then_goes(peer):
    peer.script.set("rid-1", "throttle")
    waits: list[float] = []
    ch = jp(peer)
    out = send_with_retry(ch, msg("rid-1"), RetryPolicy(3, 0.5, 2, 60), waits.append)
    ch.close()
    assert (out.status, out.attempts) == ("sent", 2)
    assert out.provider_id is not None
    assert waits == [3.0]  # JPush's X-Rate-Limit-Reset, longer than the 0.5 s backoff


def test_bad_credentials_fail_without_showing_the_secret(peer, caplog):
    caplog.set_level(logging.DEBUG)
    ch = jp(peer, secret="wrong-master-secret-42")
    out = ch.send(msg("rid-1"))
    ch.close()
    assert out.status == "failed"
    assert "wrong-master-secret-42" not in repr(out) + caplog.text


def test_receipts_are_pulled_per_device(peer):
    ch = jp(peer)
    out = ch.send(msg("rid-1"))
    receipts = ch.pull_receipts(out.provider_id, ["rid-1", "rid-2"])
    ch.close()
    assert {(r.address, r.delivered) for r in receipts} == {("rid-1", True), ("rid-2", False)}


def test_identical_pushes_go_as_one_batch_and_receipts_match_by_device(peer):
    from careops.journeys.channels.base import send_all
    from careops.journeys.channels.receipts import SendRef, lookup, receipts_to_events

    peer.devices = {f"rid-{i}" for i in range(1500)}
    batch = [msg(f"rid-{i}", key=f"k{i}") for i in range(1200)] + [msg("", key="none")]
    ch = jp(peer)
    outcomes = send_all(ch, batch)
    assert len(peer.requests) == 2  # 1000 + 200
    assert [len(s["audience"]["registration_id"]) for s in peer.sent] == [1000, 200]
    assert outcomes[-1].status == "unbound"
    assert {o.provider_id for o in outcomes[:1000]} == {peer.sent[0]["msg_id"]}
    receipts = ch.pull_receipts(outcomes[0].provider_id, ["rid-0", "rid-1", "rid-1100"])
    ch.close()
    refs = [
        (SendRef(m.idempotency_key, f"u{i}", "app_push"), o.provider_id, m.address)
        for i, (m, o) in enumerate(zip(batch, outcomes, strict=True))
    ]
    events = receipts_to_events(receipts, lookup(refs)).events.to_pylist()
    assert [e["user_id"] for e in events] == ["u0", "u1"]  # rid-1100 was in the other push

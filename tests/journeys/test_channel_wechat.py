"""WeChat template / subscribe messages against a local peer: token fetch and cache with
expiry, one refresh on 40001, 43004/43101 as not bound, busy as retry."""

from __future__ import annotations

import logging

import pytest

from careops.journeys.channels import Message
from careops.journeys.channels.wechat import WechatChannel, clear_token_cache

from .channel_peers import WechatPeer


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def peer():
    clear_token_cache()
    with WechatPeer() as p:
        yield p
    clear_token_cache()


def wx(peer: WechatPeer, clock=None, secret: str | None = None, kind: str = "template"):
    return WechatChannel(
        base_url=peer.url,
        app_id=peer.app_id,
        app_secret=secret or peer.secret,
        kind=kind,
        templates={"bp_reminder": "TPL-bp"},
        url="https://hospital.example/bp",
        clock=clock or Clock(),
    )


def msg(openid: str, key: str = "j1:s1:u1") -> Message:
    return Message(
        idempotency_key=key,
        user_id="u1",
        channel="wechat",
        purpose="service",
        template="bp_reminder",
        address=openid,
        params={"first": "王伟您好", "keyword1": "<a href='x'>测血压</a>"},
    )


def test_template_message_body_and_token_cached(peer):
    clock = Clock()
    ch = wx(peer, clock)
    first = ch.send(msg("o-1"))
    second = ch.send(msg("o-2", key="j1:s1:u2"))
    ch.close()
    assert first.status == second.status == "sent"
    assert first.provider_id == "200228333"
    assert peer.token_requests == 1  # cached
    body = peer.sent[0]
    assert body["_path"] == "/cgi-bin/message/template/send"
    assert body["touser"] == "o-1" and body["template_id"] == "TPL-bp"
    assert body["client_msg_id"] == "j1:s1:u1" and body["url"] == "https://hospital.example/bp"
    assert body["data"]["keyword1"] == {"value": "<a href='x'>测血压</a>"}  # data, not markup


def test_token_is_refetched_near_expiry(peer):
    clock = Clock()
    ch = wx(peer, clock)
    ch.send(msg("o-1"))
    clock.t += 7200 - 301  # still 301 s left: cached
    ch.send(msg("o-1", key="k2"))
    assert peer.token_requests == 1
    clock.t += 2  # inside the 5-minute margin: refreshed
    ch.send(msg("o-1", key="k3"))
    ch.close()
    assert peer.token_requests == 2


def test_a_revoked_token_is_refreshed_once_and_the_send_goes(peer):
    ch = wx(peer)
    ch.send(msg("o-1"))
    peer.revoke_all()  # e.g. another system fetched a new token with /cgi-bin/token
    out = ch.send(msg("o-1", key="k2"))
    ch.close()
    assert out.status == "sent"
    assert peer.token_requests == 2
    assert len(peer.sent) == 2


def test_not_following_or_not_subscribed_is_unbound(peer):
    peer.script.set("o-gone", "43004")
    peer.script.set("o-refused", "43101")
    ch = wx(peer)
    gone, refused = ch.send(msg("o-gone")), ch.send(msg("o-refused"))
    empty = ch.send(msg(""))
    ch.close()
    assert (gone.status, gone.code) == ("unbound", "43004")
    assert (refused.status, refused.code) == ("unbound", "43101")
    assert empty.status == "unbound" and empty.fallback


def test_busy_and_quota_are_retried_other_codes_fail(peer):
    peer.script.set("o-busy", "-1")
    peer.script.set("o-quota", "45009")
    peer.script.set("o-bad", "40037")
    ch = wx(peer)
    assert ch.send(msg("o-busy")).status == "retry"
    assert ch.send(msg("o-quota")).status == "retry"
    assert ch.send(msg("o-bad")).status == "failed"
    ch.close()


def test_subscribe_messages_use_bizsend(peer):
    ch = wx(peer, kind="subscribe")
    assert ch.send(msg("o-1")).status == "sent"
    ch.close()
    assert peer.sent[0]["_path"] == "/cgi-bin/message/subscribe/bizsend"
    assert peer.sent[0]["page"] == "https://hospital.example/bp"
    assert "client_msg_id" not in peer.sent[0]


def test_a_wrong_secret_fails_and_neither_secret_nor_token_is_logged(peer, caplog):
    caplog.set_level(logging.DEBUG)
    ch = wx(peer, secret="wrong-wechat-secret-123")
    out = ch.send(msg("o-1"))
    ch.close()
    assert (out.status, out.code) == ("failed", "token_40125")
    assert "wrong-wechat-secret-123" not in repr(out) + caplog.text
    good = wx(peer)
    assert good.send(msg("o-1")).status == "sent"
    good.close()
    token = next(iter(peer.tokens))
    assert token not in caplog.text  # httpx logs the URL; the token is scrubbed from it
    assert "access_token=***" in caplog.text


def test_openid_with_controls_is_refused_before_sending(peer):
    ch = wx(peer)
    out = ch.send(msg("o-1\r\nX: y"))
    ch.close()
    assert out.code == "invalid_address" and peer.requests == []


def test_long_keys_give_distinct_anti_duplicate_ids():
    from careops.journeys.channels.wechat import client_msg_id

    a, b = "j" * 70 + "1", "j" * 70 + "2"
    assert client_msg_id(a) != client_msg_id(b)
    assert len(client_msg_id(a)) <= 64 and client_msg_id("short:key") == "short:key"

"""Delivery receipts: each provider's documented report parsed, matched to its send, and turned
into canonical `message_delivered` events; bad reports refused whole, naming item and field."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.errors import Forbidden, InvalidInput
from careops.journeys.channels import Message
from careops.journeys.channels.base import Receipt
from careops.journeys.channels.receipts import (
    SendRef,
    aliyun_receipts,
    lookup,
    receipts_to_events,
    tencent_receipts,
    wechat_push_signature,
    wechat_receipt,
)
from careops.journeys.channels.sms_aliyun import AliyunSmsChannel
from careops.schema import TABLES

from .channel_peers import AliyunPeer

# the providers' documented examples (Alibaba Cloud SmsReport; Tencent Cloud callback)
ALIYUN_DOC = [
    {
        "phone_number": "1381111****",
        "send_time": "2017-01-01 00:00:00",
        "report_time": "2017-01-01 00:00:00",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": "12345********",
        "out_id": "67890**",
    }
]
TENCENT_DOC = [
    {
        "user_receive_time": "2015-10-17 08:03:04",
        "nationcode": "86",
        "mobile": "13xxxxxxxxx",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": "xxxxxxx",
    }
]


def test_aliyun_documented_report():
    (r,) = aliyun_receipts(json.dumps(ALIYUN_DOC, ensure_ascii=False))
    assert (r.provider_id, r.idempotency_key, r.delivered, r.code) == (
        "12345********",
        "67890**",
        True,
        "DELIVERED",
    )
    assert r.ts == datetime(2016, 12, 31, 16, 0, tzinfo=UTC)  # Beijing time → UTC


def test_tencent_documented_callback():
    (r,) = tencent_receipts(json.dumps(TENCENT_DOC, ensure_ascii=False).encode())
    assert (r.provider_id, r.delivered, r.code) == ("xxxxxxx", True, "DELIVRD")
    assert r.ts == datetime(2015, 10, 17, 0, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("not json", "not JSON"),
        ('{"a": 1}', "JSON array"),
        ("[1]", "item 0"),
        ('[{"success": true}]', "biz_id"),
        ('[{"biz_id": "1", "success": "yes"}]', "success"),
        ('[{"biz_id": "1", "success": true, "report_time": "yesterday"}]', "report_time"),
        ("[" * 5000 + "]" * 5000, "not JSON"),
    ],
)
def test_bad_aliyun_reports_are_refused_whole(body, words):
    with pytest.raises(InvalidInput, match=words):
        aliyun_receipts(body)


def test_one_bad_item_refuses_the_whole_tencent_report():
    good = TENCENT_DOC[0]
    with pytest.raises(InvalidInput, match=r"item 1.*report_status"):
        tencent_receipts(json.dumps([good, {**good, "report_status": "MAYBE"}]))


def xml(status: str = "success", event: str = "TEMPLATESENDJOBFINISH") -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
        "<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>"
        "<CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><MsgID>200163836</MsgID>"
        f"<Status><![CDATA[{status}]]></Status></xml>"
    )


def test_wechat_push_is_verified_then_read():
    sig = wechat_push_signature("tok", "1395658920", "nonce1")
    r = wechat_receipt(xml(), token="tok", signature=sig, timestamp="1395658920", nonce="nonce1")
    assert (r.provider_id, r.delivered, r.address) == (
        "200163836",
        True,
        "oia2TjuEGTNoeX76QEjQNrcURxG8",
    )
    blocked = wechat_receipt(
        xml("failed:user block"), token="tok", signature=sig, timestamp="1395658920", nonce="nonce1"
    )
    assert blocked.delivered is False and blocked.code == "failed:user block"
    other = wechat_receipt(
        xml(event="subscribe"), token="tok", signature=sig, timestamp="1395658920", nonce="nonce1"
    )
    assert other is None


def test_wechat_push_with_a_wrong_signature_or_a_dtd_is_refused():
    with pytest.raises(Forbidden):
        wechat_receipt(xml(), token="tok", signature="0" * 40, timestamp="1", nonce="n")
    sig = wechat_push_signature("tok", "1", "n")
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Event>&a;</Event></xml>'
    with pytest.raises(InvalidInput, match="DTD"):
        wechat_receipt(bomb, token="tok", signature=sig, timestamp="1", nonce="n")
    with pytest.raises(InvalidInput, match="not XML"):
        wechat_receipt("<xml><Event>", token="tok", signature=sig, timestamp="1", nonce="n")


def test_receipts_become_message_delivered_events_once():
    refs = [
        (SendRef("j1:s1:u1", "u1", "sms"), "B1"),
        (SendRef("j1:s1:u2", "u2", "sms"), "B2"),
        (SendRef("j1:s1:u3", "u3", "wechat"), "M3"),
    ]
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    receipts = [
        Receipt("aliyun", "B1", True, ts, idempotency_key="j1:s1:u1"),
        Receipt("aliyun", "B1", True, ts, idempotency_key="j1:s1:u1"),  # pushed twice
        Receipt("aliyun", "B2", False, ts, code="MK:0001"),
        Receipt("wechat", "M3", True, None),
        Receipt("wechat", "M9", True, ts),  # not ours
    ]
    batch = receipts_to_events(receipts, lookup(refs), now=ts)
    assert batch.events.schema == TABLES["events"].arrow_schema()
    rows = batch.events.to_pylist()
    assert [(r["event_id"], r["user_id"], r["name"]) for r in rows] == [
        ("j1:s1:u1-message_delivered", "u1", "message_delivered"),
        ("j1:s1:u3-message_delivered", "u3", "message_delivered"),
    ]
    assert json.loads(rows[1]["properties"]) == {
        "channel": "wechat",
        "provider": "wechat",
        "provider_id": "M3",
        "send_id": "j1:s1:u3",
    }
    assert [(ref.user_id, r.code) for ref, r in batch.failed] == [("u2", "MK:0001")]
    assert [r.provider_id for r in batch.unmatched] == ["M9"]


def test_a_send_to_the_aliyun_peer_and_its_report_give_one_event():
    with AliyunPeer() as peer:
        ch = AliyunSmsChannel(
            endpoint=peer.url + "/",
            access_key_id=peer.key_id,
            access_key_secret=peer.secret,
            sign_name="医院",
        )
        out = ch.send(Message("j2:s1:u7", "u7", "sms", "service", "SMS_1", "13800000007"))
        ch.close()
        sent = peer.sent[0]
    report = [
        {
            "phone_number": sent["PhoneNumbers"],
            "send_time": "2026-12-02 16:00:00",
            "report_time": "2026-12-02 16:00:05",
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": sent["BizId"],
            "out_id": sent["OutId"],
        }
    ]
    find = lookup([(SendRef("j2:s1:u7", "u7", "sms"), out.provider_id)])
    batch = receipts_to_events(aliyun_receipts(json.dumps(report)), find)
    (row,) = batch.events.to_pylist()
    assert row["user_id"] == "u7" and row["ts"] == datetime(2026, 12, 2, 8, 0, 5, tzinfo=UTC)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_garbage_reports_raise_invalid_input_or_parse(body):
    for parse in (aliyun_receipts, tencent_receipts):
        with contextlib.suppress(InvalidInput):
            parse(body)


def test_parse_report_dispatches_and_checks_the_wechat_token():
    from careops.config import Settings
    from careops.journeys.channels.receipts import ACKS, parse_report

    s = Settings(channels={"wechat": {"push_token": "push-tok"}})
    assert len(parse_report("aliyun", json.dumps(ALIYUN_DOC).encode(), {}, s)) == 1
    assert len(parse_report("tencent", json.dumps(TENCENT_DOC).encode(), {}, s)) == 1
    q = {"signature": wechat_push_signature("push-tok", "9", "n"), "timestamp": "9", "nonce": "n"}
    (r,) = parse_report("wechat", xml().encode(), q, s)
    assert r.provider_id == "200163836"
    with pytest.raises(Forbidden):
        parse_report("wechat", xml().encode(), {**q, "nonce": "other"}, s)
    with pytest.raises(Forbidden, match="push_token"):
        parse_report("wechat", xml().encode(), q, Settings())
    with pytest.raises(InvalidInput, match="unknown report source"):
        parse_report("pigeon", b"[]", {}, s)
    assert set(ACKS) == {"aliyun", "tencent", "wechat"}


def test_wechat_subscribe_message_receipts_and_hostile_times():
    from careops.journeys.channels.receipts import wechat_receipts

    sig = wechat_push_signature("tok", "1", "n")
    body = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o-9]]>"
        "</FromUserName><CreateTime>1620963428</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>"
        "<List><TemplateId><![CDATA[T1]]></TemplateId><MsgID>1700827132819554304</MsgID>"
        "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>"
        "<List><TemplateId><![CDATA[T1]]></TemplateId><MsgID>1700827132819554305</MsgID>"
        "<ErrorCode>43101</ErrorCode><ErrorStatus><![CDATA[failed:user refuse]]></ErrorStatus>"
        "</List></SubscribeMsgSentEvent></xml>"
    )
    rs = wechat_receipts(body, token="tok", signature=sig, timestamp="1", nonce="n")
    assert [(r.provider_id, r.delivered, r.address) for r in rs] == [
        ("1700827132819554304", True, "o-9"),
        ("1700827132819554305", False, "o-9"),
    ]
    assert rs[0].ts == datetime(2021, 5, 14, 3, 37, 8, tzinfo=UTC)
    huge = xml().replace("1395658920", "9" * 40)
    (r,) = wechat_receipts(huge, token="tok", signature=sig, timestamp="1", nonce="n")
    assert r.ts is None  # an absurd CreateTime is dropped, not an overflow


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_garbage_wechat_pushes_raise_invalid_input_or_parse(text):
    from careops.journeys.channels.receipts import wechat_receipts

    sig = wechat_push_signature("tok", "1", "n")
    for body in (text, f"<xml><Event>TEMPLATESENDJOBFINISH</Event>{text}</xml>"):
        with contextlib.suppress(InvalidInput):
            wechat_receipts(body, token="tok", signature=sig, timestamp="1", nonce="n")

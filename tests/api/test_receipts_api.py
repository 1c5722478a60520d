"""Delivery receipts pushed by the providers: senders verified (WeChat signature and fresh
timestamp, the SMS callbacks' shared token), receipts matched to journey sends, delivered ones
stored as `message_delivered` events once, failures written on the send, bad bodies 422 naming
the field, replays harmless."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.config import Settings
from careops.journeys.channels.receipts import wechat_push_signature
from careops.journeys.store import outbox
from careops.state.models import audit_log

TOKEN = "receipt-secret-7f3a"
PUSH = "wechat-push-token"


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("CAREOPS_CHANNELS__RECEIPTS_TOKEN", TOKEN)
    monkeypatch.setenv("CAREOPS_CHANNELS__WECHAT__PUSH_TOKEN", PUSH)
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as client:
        engine = client.app.state.state_engine
        at = datetime(2026, 3, 1, 2, tzinfo=UTC)
        rows = [
            ("k1", "p1", "sms", "biz-1"),
            ("k2", "p2", "sms", "sid-2"),
            ("k3", "p3", "wechat", "msg-3"),
        ]
        with engine.begin() as conn:
            for n, (key, uid, channel, pid) in enumerate(rows):
                conn.execute(
                    outbox.insert().values(
                        key=key,
                        enrolment_id=n + 1,
                        journey="chronic_bp",
                        step="remind",
                        user_id=uid,
                        kind="message",
                        channel=channel,
                        purpose="service",
                        payload={},
                        decided_at=at,
                        status="sent",
                        attempts=1,
                        sent_at=at,
                        provider_id=pid,
                    )
                )
        yield client


def status(api, key: str) -> tuple[str, str | None]:
    with api.app.state.state_engine.connect() as conn:
        r = conn.execute(sa.select(outbox.c.status, outbox.c.error).where(outbox.c.key == key))
        return tuple(r.one())  # type: ignore[return-value]


def last(api, action: str):
    with api.app.state.state_engine.connect() as conn:
        q = sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id.desc())
        return conn.execute(q.limit(1)).one()


ALIYUN = [
    {
        "phone_number": "13800000001",
        "send_time": "2026-03-01 10:00:00",
        "report_time": "2026-03-01 10:00:05",
        "success": True,
        "err_code": "DELIVERED",
        "biz_id": "biz-1",
        "out_id": "k1",
    }
]


def test_an_aliyun_report_marks_the_send_delivered_once(api):
    url = f"/api/v1/receipts/aliyun?token={TOKEN}"
    r = api.post(url, content=json.dumps(ALIYUN))
    assert r.status_code == 200, r.text
    assert r.json() == {"code": 0, "msg": "接收成功"}
    assert status(api, "k1") == ("delivered", None)
    audit = last(api, "journeys.receipts")
    assert audit.detail == {"receipts": 1, "delivered": 1, "failed": 0, "unmatched": 0}
    assert last(api, "events.intake").detail["accepted"] == 1
    again = api.post(url, content=json.dumps(ALIYUN))  # the provider pushes again
    assert again.status_code == 200 and status(api, "k1") == ("delivered", None)
    intake = last(api, "events.intake").detail
    assert (intake["accepted"], intake["duplicates"]) == (0, 1)


def test_a_tencent_failure_is_written_on_the_send(api):
    body = [
        {
            "user_receive_time": "2026-03-01 10:00:09",
            "mobile": "13800000002",
            "report_status": "FAIL",
            "errmsg": "MN:0017",
            "description": "号码停机",
            "sid": "sid-2",
        },
        {"sid": "nobody-sent-this", "report_status": "SUCCESS"},
    ]
    r = api.post(f"/api/v1/receipts/tencent?token={TOKEN}", json=body)
    assert r.status_code == 200 and r.json() == {"result": 0, "errmsg": "OK"}
    assert status(api, "k2") == ("failed", "receipt:MN:0017")
    assert last(api, "journeys.receipts").detail["unmatched"] == 1


def _wechat(msg_id: str, ts: int) -> tuple[str, bytes]:
    nonce = "n0nce"
    sig = wechat_push_signature(PUSH, str(ts), nonce)
    body = (
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>oU1</FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType>event</MsgType>"
        f"<Event>TEMPLATESENDJOBFINISH</Event><MsgID>{msg_id}</MsgID>"
        "<Status>success</Status></xml>"
    ).encode()
    return f"/api/v1/receipts/wechat?signature={sig}&timestamp={ts}&nonce={nonce}", body


def test_a_signed_wechat_push_is_recorded_and_a_forged_or_stale_one_is_not(api):
    now = int(time.time())
    url, body = _wechat("msg-3", now - 1000)  # signed, but a capture replayed later
    assert api.post(url, content=body).status_code == 403
    forged = url.replace("signature=", "signature=0").replace(str(now - 1000), str(now))
    assert api.post(forged, content=body).status_code == 403
    assert status(api, "k3") == ("sent", None)
    url, body = _wechat("msg-3", now)
    r = api.post(url + "&openid=oU1", content=body)
    assert r.status_code == 200 and r.text == "success"
    assert status(api, "k3") == ("delivered", None)


def test_the_wechat_server_url_check_echoes_only_when_signed(api):
    ts = str(int(time.time()))
    sig = wechat_push_signature(PUSH, ts, "abc")
    q = {"signature": sig, "timestamp": ts, "nonce": "abc", "echostr": "hello123"}
    r = api.get("/api/v1/receipts/wechat", params=q)
    assert r.status_code == 200 and r.text == "hello123"
    assert api.get("/api/v1/receipts/wechat", params=q | {"nonce": "x"}).status_code == 403


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_sms_receipts_without_the_token_are_refused_and_nothing_changes(api, token):
    url = "/api/v1/receipts/aliyun" + ("" if token is None else f"?token={token}")
    r = api.post(url, content=json.dumps(ALIYUN))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert status(api, "k1") == ("sent", None)


@pytest.mark.parametrize(
    ("provider", "body", "field"),
    [
        ("aliyun", b"not json", "JSON"),
        ("aliyun", json.dumps([{"biz_id": "biz-1"}]).encode(), "success"),
        ("aliyun", json.dumps([{"biz_id": "biz-1", "success": "yes"}]).encode(), "success"),
        ("aliyun", json.dumps({"biz_id": "biz-1"}).encode(), "array"),
        ("tencent", json.dumps([{"sid": "s", "report_status": "MAYBE"}]).encode(), "report_status"),
        (
            "aliyun",
            json.dumps([{"biz_id": "b", "success": True, "report_time": "3 Mar"}]).encode(),
            "report_time",
        ),
    ],
)
def test_bad_bodies_are_422_naming_the_field_and_change_nothing(api, provider, body, field):
    r = api.post(f"/api/v1/receipts/{provider}?token={TOKEN}", content=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["detail"]
    assert status(api, "k1") == ("sent", None) and status(api, "k2") == ("sent", None)


def test_unknown_providers_and_parameters_are_refused(api):
    r = api.post(f"/api/v1/receipts/jpush?token={TOKEN}", content=b"[]")
    assert r.status_code == 422 and "provider" in str(r.json()["error"]["detail"])
    r = api.post(f"/api/v1/receipts/aliyun?token={TOKEN}&admin=1", content=b"[]")
    assert r.status_code == 422 and "admin" in str(r.json()["error"]["detail"])

"""SMS adapters against local Alibaba Cloud and Tencent Cloud peers that re-check signatures,
parameters and bodies and answer with the providers' success and error codes."""

from __future__ import annotations

import json
import logging

import pytest

from careops.journeys.channels import Message
from careops.journeys.channels.retry import RetryPolicy, send_with_retry
from careops.journeys.channels.sms_aliyun import AliyunSmsChannel
from careops.journeys.channels.sms_tencent import TencentSmsChannel

from .channel_peers import AliyunPeer, TencentPeer


def msg(address: str, key: str = "j1:s1:u1", **params: str) -> Message:
    return Message(
        idempotency_key=key,
        user_id="u1",
        channel="sms",
        purpose="service",
        template="bp_reminder",
        address=address,
        body="",
        params=params or {"name": "王<b>伟</b>", "days": "30"},
    )


@pytest.fixture
def aliyun():
    with AliyunPeer() as peer:
        yield peer


@pytest.fixture
def tencent():
    with TencentPeer() as peer:
        yield peer


def ali(peer: AliyunPeer, secret: str | None = None, **kw) -> AliyunSmsChannel:
    return AliyunSmsChannel(
        endpoint=peer.url + "/",
        access_key_id=peer.key_id,
        access_key_secret=secret or peer.secret,
        sign_name="互联网医院",
        templates={"bp_reminder": "SMS_123456"},
        **kw,
    )


def ten(peer: TencentPeer, secret: str | None = None, **kw) -> TencentSmsChannel:
    return TencentSmsChannel(
        endpoint=peer.url + "/",
        secret_id=peer.secret_id,
        secret_key=secret or peer.secret_key,
        sdk_app_id="1400006666",
        sign_name="互联网医院",
        templates={"bp_reminder": "1234"},
        **kw,
    )


def test_aliyun_send_is_signed_and_carries_the_key(aliyun):
    ch = ali(aliyun)
    out = ch.send(msg("13800000001"))
    ch.close()
    assert out.status == "sent" and out.code == "OK"
    assert out.provider_id == aliyun.sent[0]["BizId"]
    sent = aliyun.sent[0]
    assert sent["PhoneNumbers"] == "13800000001"
    assert sent["TemplateCode"] == "SMS_123456" and sent["SignName"] == "互联网医院"
    assert json.loads(sent["TemplateParam"]) == {"name": "王<b>伟</b>", "days": "30"}
    assert sent["OutId"] == "j1:s1:u1"


def test_aliyun_mainland_plus86_is_stripped_and_each_request_has_a_new_nonce(aliyun):
    ch = ali(aliyun)
    assert ch.send(msg("+86 138-0000-0002")).status == "sent"
    assert ch.send(msg("13800000003")).status == "sent"
    ch.close()
    assert [s["PhoneNumbers"] for s in aliyun.sent] == ["13800000002", "13800000003"]
    assert len(aliyun.nonces) == 2


def test_aliyun_codes_map_to_retry_failed_and_unbound(aliyun):
    aliyun.script.set("13800000009", "isv.BUSINESS_LIMIT_CONTROL")
    ch = ali(aliyun)
    throttled = ch.send(msg("13800000009"))
    assert (throttled.status, throttled.code) == ("retry", "isv.BUSINESS_LIMIT_CONTROL")
    illegal = ch.send(msg("+4420"))  # the peer refuses non-mainland numbers
    assert illegal.status == "failed"
    assert ch.send(msg("")).status == "unbound" and ch.send(msg("  ")).fallback
    assert ch.send(msg("not a phone")).code == "invalid_address"
    ch.close()


def test_aliyun_wrong_secret_is_refused_by_the_peer_and_never_shown(aliyun, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-ABCDEFGH"
    ch = ali(aliyun, secret=wrong)
    out = ch.send(msg("13800000001"))
    ch.close()
    assert (out.status, out.code) == ("failed", "SignatureDoesNotMatch")
    assert wrong not in repr(out) and wrong not in caplog.text
    assert aliyun.sent == []


def test_aliyun_throttled_twice_then_sent_with_backoff(aliyun):
    aliyun.script.set("13800000001", "isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "OK")
    waits: list[float] = []
    ch = ali(aliyun)
    out = send_with_retry(ch, msg("13800000001"), RetryPolicy(4, 0.5, 2.0, 60), waits.append)
    ch.close()
    assert (out.status, out.attempts) == ("sent", 3)
    assert waits == [0.5, 1.0]
    assert len(aliyun.sent) == 1


def test_tencent_send_is_signed_and_positional(tencent):
    ch = ten(tencent)
    out = ch.send(msg("13800000001", **{"1": "王伟", "2": "<script>x</script>"}))
    ch.close()
    assert out.status == "sent" and out.code == "Ok"
    sent = tencent.sent[0]
    assert out.provider_id == sent["SerialNo"]
    assert sent["PhoneNumberSet"] == ["+8613800000001"]
    assert sent["TemplateId"] == "1234" and sent["SmsSdkAppId"] == "1400006666"
    assert sent["TemplateParamSet"] == ["王伟", "<script>x</script>"]
    assert sent["SessionContext"] == "j1:s1:u1"


def test_tencent_codes_map_to_retry_and_failed(tencent):
    tencent.script.set("+8613800000005", "LimitExceeded.PhoneNumberThirtySecondLimit")
    tencent.script.set("+8613800000006", "InvalidParameterValue.IncorrectPhoneNumber")
    tencent.script.set("+8613800000007", "FailedOperation.InsufficientBalanceInSmsPackage")
    ch = ten(tencent)
    assert ch.send(msg("13800000005")).status == "retry"
    bad = ch.send(msg("13800000006"))
    assert (bad.status, bad.code) == ("failed", "InvalidParameterValue.IncorrectPhoneNumber")
    assert ch.send(msg("13800000007")).status == "failed"
    assert ch.send(msg("")).status == "unbound"
    ch.close()


def test_tencent_wrong_secret_is_refused_and_never_shown(tencent, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-tencent-key-XYZ"
    ch = ten(tencent, secret=wrong)
    out = ch.send(msg("13800000001"))
    ch.close()
    assert (out.status, out.code) == ("failed", "AuthFailure.SignatureFailure")
    assert wrong not in repr(out) and wrong not in caplog.text


def test_tencent_throttled_until_undeliverable(tencent):
    tencent.script.set("+8613800000001", *["LimitExceeded.PhoneNumberOneHourLimit"] * 5)
    waits: list[float] = []
    ch = ten(tencent)
    out = send_with_retry(ch, msg("13800000001"), RetryPolicy(3, 1.0, 3.0, 5.0), waits.append)
    ch.close()
    assert (out.status, out.code, out.attempts) == ("failed", "undeliverable", 3)
    assert "LimitExceeded.PhoneNumberOneHourLimit" in out.error
    assert waits == [1.0, 3.0]
    assert len(tencent.requests) == 3


def test_tencent_batches_identical_messages_up_to_200_numbers(tencent):
    from careops.journeys.channels.base import send_all

    same = [msg(f"1380000{i:04d}", key=f"k{i}", **{"1": "新人礼包"}) for i in range(450)]
    personal = [msg("13900000001", key="p1", **{"1": "王伟"}), msg("13900000002", key="p2")]
    dup = msg("13800000003", key="dup", **{"1": "新人礼包"})  # same number again
    odd = [msg("", key="nobody"), msg("12", key="bad")]
    tencent.script.set("+8613800000007", "LimitExceeded.PhoneNumberDailyLimit")
    batch = [*same, *personal, dup, *odd]
    ch = ten(tencent)
    outcomes = send_all(ch, batch)
    ch.close()
    assert len(outcomes) == len(batch)
    sizes = sorted(len(json.loads(body)["PhoneNumberSet"]) for _, _, _, body in tencent.requests)
    # 450 + the repeated number in 3 requests (never twice in one), the 2 personal alone
    assert sizes == [1, 1, 51, 200, 200]
    for _, _, _, body in tencent.requests:
        phones = json.loads(body)["PhoneNumberSet"]
        assert len(phones) == len(set(phones))
    assert [o.status for o in outcomes[:450]].count("sent") == 449
    assert outcomes[7].status == "retry" and outcomes[7].code.startswith("LimitExceeded")
    serials = {o.provider_id for o in outcomes if o.status == "sent"}
    assert len(serials) == 452  # one SerialNo per number: receipts match each send
    assert [o.status for o in outcomes[-4:]] == ["sent", "sent", "unbound", "failed"]


def test_a_failed_batch_request_fails_each_of_its_messages(tencent):
    tencent.mode = "down"
    ch = ten(tencent)
    outs = ch.send_many([msg(f"1380000{i:04d}", key=f"k{i}") for i in range(3)])
    ch.close()
    assert [(o.status, o.code) for o in outs] == [("retry", "http_503")] * 3
    assert len(tencent.requests) == 1


def test_aliyun_batches_one_template_with_personal_parameters(aliyun):
    from careops.journeys.channels.base import send_all

    batch = [msg(f"1380000{i:04d}", key=f"k{i}", name=f"患者{i}") for i in range(250)]
    batch += [msg("", key="nobody")]
    ch = ali(aliyun)
    outcomes = send_all(ch, batch)
    ch.close()
    actions = [parse_form(b)["Action"] for _, _, _, b in aliyun.requests]
    assert actions == ["SendBatchSms"] * 3  # 100 + 100 + 50
    assert [o.status for o in outcomes] == ["sent"] * 250 + ["unbound"]
    assert {json.loads(s["TemplateParam"])["name"] for s in aliyun.sent} == {
        f"患者{i}" for i in range(250)
    }
    assert len({o.provider_id for o in outcomes[:250]}) == 3
    # the batch's report: one BizId for many numbers, matched by BizId and number
    from careops.journeys.channels.receipts import (
        SendRef,
        aliyun_receipts,
        lookup,
        receipts_to_events,
    )

    report = [
        {
            "phone_number": s["PhoneNumbers"],
            "biz_id": s["BizId"],
            "success": True,
            "report_time": "2026-12-02 10:00:00",
            "out_id": "",
        }
        for s in aliyun.sent[:3]
    ]
    refs = [
        (SendRef(m.idempotency_key, f"u{i}", "sms"), o.provider_id, "+86" + m.address)
        for i, (m, o) in enumerate(zip(batch, outcomes, strict=True))
    ]
    events = receipts_to_events(aliyun_receipts(json.dumps(report)), lookup(refs)).events
    assert events.column("user_id").to_pylist() == ["u0", "u1", "u2"]


def test_an_aliyun_batch_refused_for_one_number_is_resent_one_by_one(aliyun):
    aliyun.script.set("13800000002", "isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_NUMBER_ILLEGAL")
    ch = ali(aliyun)
    outcomes = ch.send_many([msg(f"1380000000{i}", key=f"k{i}") for i in range(4)])
    ch.close()
    assert [o.status for o in outcomes] == ["sent", "sent", "failed", "sent"]
    assert outcomes[2].code == "isv.MOBILE_NUMBER_ILLEGAL"
    actions = [parse_form(b)["Action"] for _, _, _, b in aliyun.requests]
    assert actions == ["SendBatchSms"] + ["SendSms"] * 4


def parse_form(body: bytes) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(body.decode()).items()}

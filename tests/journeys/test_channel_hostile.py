"""Every HTTP adapter against a provider that misbehaves: slow (timeout), huge answers, garbage,
down (503), and a peer that is gone — each a `retry` with a code, never an exception, within
the timeout, and never a held multi-megabyte body. Then fuzzed answers and messages."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.journeys.channels import Message
from careops.journeys.channels.jpush import JPushChannel
from careops.journeys.channels.sms_aliyun import AliyunSmsChannel
from careops.journeys.channels.sms_tencent import TencentSmsChannel
from careops.journeys.channels.wechat import WechatChannel, clear_token_cache

from .channel_peers import AliyunPeer, HttpPeer, JPushPeer, TencentPeer, WechatPeer, free_port

TIMEOUT = 0.5


def aliyun(url: str, **kw):
    return AliyunSmsChannel(
        endpoint=url + "/",
        access_key_id="LTAI-test",
        access_key_secret="aliyun-secret-0123456789",
        sign_name="医院",
        **kw,
    )


def tencent(url: str, **kw):
    return TencentSmsChannel(
        endpoint=url + "/",
        secret_id="AKID-test",
        secret_key="tencent-secret-0123456789",
        sdk_app_id="1400",
        sign_name="医院",
        **kw,
    )


def wechat(url: str, **kw):
    clear_token_cache()
    return WechatChannel(
        base_url=url, app_id="wx-test", app_secret="wechat-secret-0123456789", **kw
    )


def jpush(url: str, **kw):
    return JPushChannel(
        base_url=url, app_key="jpush-key", master_secret="jpush-master-0123456789", **kw
    )


ADAPTERS = {
    "aliyun": (aliyun, AliyunPeer, "13800000001"),
    "tencent": (tencent, TencentPeer, "13800000001"),
    "wechat": (wechat, WechatPeer, "o-1"),
    "jpush": (jpush, JPushPeer, "rid-1"),
}


def msg(address: str) -> Message:
    return Message("k1", "u1", "sms", "service", "t", address, "主题", "正文", {"1": "x"})


@pytest.mark.parametrize("name", list(ADAPTERS))
@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("slow", "timeout"),
        ("drip", "timeout"),
        ("huge", "too_large"),
        ("garbage", "bad_answer"),
        ("down", "http_503"),
    ],
)
def test_a_misbehaving_provider_is_a_retry_with_a_code(name, mode, code):
    make, peer_cls, address = ADAPTERS[name]
    with peer_cls() as peer:
        peer.mode = mode
        ch = make(peer.url, timeout_s=TIMEOUT, max_response_bytes=64 * 1024)
        t0 = time.perf_counter()
        out = ch.send(msg(address))
        elapsed = time.perf_counter() - t0
        ch.close()
    assert (out.status, out.code) == ("retry", code)
    assert elapsed < 4 * TIMEOUT + 1.5  # bounded by the timeout, not by the peer
    if mode == "down":
        assert out.retry_after_s == 7.0


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_a_provider_that_is_gone_is_a_retry(name):
    make, _, address = ADAPTERS[name]
    ch = make(f"http://127.0.0.1:{free_port()}", timeout_s=TIMEOUT)
    out = ch.send(msg(address))
    ch.close()
    assert (out.status, out.code) == ("retry", "connect")


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_a_wrong_endpoint_answering_html_404_is_failed_not_retried(name):
    make, _, address = ADAPTERS[name]
    with HttpPeer(lambda *a: (404, {"Content-Type": "text/html"}, b"<h1>Not Found</h1>")) as peer:
        ch = make(peer.url, timeout_s=2)
        out = ch.send(msg(address))
        ch.close()
    assert (out.status, out.code) == ("failed", "http_404")
    assert "endpoint" in out.error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_any_json_answer_gives_an_outcome_never_an_exception(name):
    make, _, address = ADAPTERS[name]
    answer: dict = {}

    def handle(method, path, headers, raw):
        if path.startswith("/cgi-bin/stable_token"):
            return 200, {}, b'{"access_token": "T", "expires_in": 7200}'
        return answer["status"], {"Content-Type": "application/json"}, answer["body"]

    with HttpPeer(handle) as peer:
        ch = make(peer.url, timeout_s=2)

        @settings(max_examples=40, deadline=None)
        @given(value=json_values, status=st.sampled_from([200, 400, 401, 404]))
        def check(value, status):
            answer.update(status=status, body=json.dumps(value).encode())
            out = ch.send(msg(address))
            assert out.status in ("sent", "retry", "failed", "unbound")
            assert out.error is None or len(out.error) <= 300

        check()
        ch.close()


def test_hostile_message_fields_never_raise_before_the_provider():
    """Addresses and params with controls, markup or nothing at all: an outcome, no exception;
    a Tencent request that goes out is still correctly signed (the peer would refuse it)."""
    with TencentPeer() as peer:
        ch = tencent(peer.url, timeout_s=2)

        @settings(max_examples=60, deadline=None)
        @given(
            address=st.text(max_size=40) | st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
            params=st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=3),
        )
        def check(address, params):
            out = ch.send(Message("k", "u", "sms", "service", "t", address, params=params))
            assert out.status in ("sent", "failed", "unbound", "retry")
            assert out.code != "AuthFailure.SignatureFailure"

        check()
        ch.close()
        assert peer.sent  # some went out, signed over arbitrary params, and were accepted

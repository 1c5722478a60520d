"""`careops channels check` and opening channels from settings: credentials from the
environment, probes against local peers, nothing sent, secrets never printed."""

from __future__ import annotations

import json

import pytest

from careops.config import Settings, get_settings
from careops.errors import ConfigError
from careops.journeys.channels import open_channel
from careops.journeys.channels.check import check_channels
from careops.journeys.channels.factories import configured
from careops.journeys.channels.retry import RetryPolicy
from careops.journeys.channels.wechat import clear_token_cache

from .channel_peers import AliyunPeer, JPushPeer, SmtpPeer, TencentPeer, WechatPeer


@pytest.fixture
def peers(tmp_path):
    clear_token_cache()
    with (
        AliyunPeer() as ali,
        WechatPeer() as wx,
        JPushPeer() as jp,
        SmtpPeer(tmp_path) as smtp,
    ):
        yield {"aliyun": ali, "wechat": wx, "jpush": jp, "smtp": smtp}
    clear_token_cache()


def configure(monkeypatch, p, aliyun_secret: str | None = None) -> None:
    env = {
        "CHANNELS__EMAIL__HOST": "127.0.0.1",
        "CHANNELS__EMAIL__PORT": str(p["smtp"].port),
        "CHANNELS__EMAIL__USERNAME": p["smtp"].user,
        "CHANNELS__EMAIL__PASSWORD": p["smtp"].password,
        "CHANNELS__EMAIL__CA_FILE": p["smtp"].ca_file,
        "CHANNELS__SMS__PROVIDER": "aliyun",
        "CHANNELS__SMS__ALIYUN__ENDPOINT": p["aliyun"].url + "/",
        "CHANNELS__SMS__ALIYUN__ACCESS_KEY_ID": p["aliyun"].key_id,
        "CHANNELS__SMS__ALIYUN__ACCESS_KEY_SECRET": aliyun_secret or p["aliyun"].secret,
        "CHANNELS__SMS__ALIYUN__SIGN_NAME": "互联网医院",
        "CHANNELS__WECHAT__BASE_URL": p["wechat"].url,
        "CHANNELS__WECHAT__APP_ID": p["wechat"].app_id,
        "CHANNELS__WECHAT__APP_SECRET": p["wechat"].secret,
        "CHANNELS__APP_PUSH__BASE_URL": p["jpush"].url,
        "CHANNELS__APP_PUSH__APP_KEY": p["jpush"].app_key,
        "CHANNELS__APP_PUSH__MASTER_SECRET": p["jpush"].secret,
    }
    for k, v in env.items():
        monkeypatch.setenv(f"CAREOPS_{k}", v)
    get_settings.cache_clear()


def test_check_probes_every_configured_channel_and_sends_nothing(run_cli, monkeypatch, peers):
    configure(monkeypatch, peers)
    code, out, err = run_cli("channels", "check", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["channel"], r["provider"], r["ok"]) for r in rows] == [
        ("email", "smtp", True),
        ("sms", "aliyun", True),
        ("wechat", "wechat", True),
        ("app_push", "jpush", True),
    ]
    assert peers["smtp"].messages == [] and peers["aliyun"].sent == []
    assert peers["wechat"].sent == [] and peers["jpush"].sent == []
    assert peers["wechat"].token_requests == 1
    code, out, _ = run_cli("channels", "check", "--channel", "sms")
    assert code == 0 and "aliyun" in out and "正常" in out


def test_a_failing_probe_exits_1_and_never_prints_the_secret(run_cli, monkeypatch, peers):
    configure(monkeypatch, peers, aliyun_secret="leaky-secret-0000")
    code, out, err = run_cli("channels", "check", "--channel", "sms", "--lang", "en")
    assert code == 1
    assert "FAILED" in out and "SignatureDoesNotMatch" in out
    assert "leaky-secret-0000" not in out + err


def test_check_with_nothing_configured_and_unknown_channel(run_cli):
    code, out, _ = run_cli("channels", "check")
    assert code == 0 and "no channel is configured" in out
    code, _, err = run_cli("channels", "check", "--channel", "carrier_pigeon")
    assert code == 2 and "carrier_pigeon" in err
    code, out, _ = run_cli("channels", "check", "--channel", "wechat")
    assert code == 1 and "channels.wechat.app_id" in out


def test_a_missing_credential_names_the_setting():
    s = Settings(channels={"sms": {"provider": "tencent", "tencent": {"secret_id": "AKID"}}})
    assert configured(s) == ["sms"]
    with pytest.raises(ConfigError, match=r"channels\.sms\.tencent\.secret_key"):
        open_channel("sms", s)
    with pytest.raises(ConfigError, match=r"channels\.sms\.provider"):
        open_channel("sms", Settings())
    assert check_channels(Settings()) == []


def test_secrets_are_secret_in_settings(monkeypatch):
    monkeypatch.setenv("CAREOPS_CHANNELS__WECHAT__APP_SECRET", "env-secret-123456")
    get_settings.cache_clear()
    s = get_settings()
    assert s.channels.wechat.app_secret.get_secret_value() == "env-secret-123456"
    assert "env-secret-123456" not in repr(s) + str(s.model_dump())


def test_retry_policy_from_settings_and_its_delays():
    p = RetryPolicy.from_settings(
        Settings(channels={"retry": {"max_tries": 5, "backoff_s": 2, "backoff_max_s": 10}})
    )
    assert [p.next_delay_s(a) for a in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert not p.exhausted(4) and p.exhausted(5)


def test_tencent_probe_reads_statistics_only():
    with TencentPeer() as peer:
        base = {
            "provider": "tencent",
            "tencent": {
                "endpoint": peer.url + "/",
                "secret_id": peer.secret_id,
                "sdk_app_id": "1400",
                "sign_name": "医院",
            },
        }
        good = Settings(
            channels={
                "sms": {**base, "tencent": {**base["tencent"], "secret_key": peer.secret_key}}
            }
        )
        bad = Settings(
            channels={
                "sms": {**base, "tencent": {**base["tencent"], "secret_key": "wrong-tencent-0000"}}
            }
        )
        (ok,) = check_channels(good, "sms")
        (fail,) = check_channels(bad, "sms")
        assert peer.sent == []
        actions = [h.get("x-tc-action") for _, _, h, _ in peer.requests]
    assert ok.ok and ok.provider == "tencent"
    assert not fail.ok and "AuthFailure.SignatureFailure" in fail.detail
    assert "wrong-tencent-0000" not in fail.detail
    assert actions == ["SmsPackagesStatistics", "SmsPackagesStatistics"]

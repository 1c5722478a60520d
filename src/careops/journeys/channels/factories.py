"""Open the real channels from the settings (`channels.*`); `ConfigError` names what is missing.

Credentials come only from the settings object, i.e. `careops.yaml` or `CAREOPS_CHANNELS__…`
environment variables; they are handed to the adapter and never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from careops.errors import ConfigError

if TYPE_CHECKING:
    from careops.config import Settings
    from careops.journeys.channels.jpush import JPushChannel
    from careops.journeys.channels.sms_aliyun import AliyunSmsChannel
    from careops.journeys.channels.sms_tencent import TencentSmsChannel
    from careops.journeys.channels.smtp_email import EmailChannel
    from careops.journeys.channels.wechat import WechatChannel


def _need(value: str | SecretStr | None, setting: str) -> str:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not raw:
        raise ConfigError(
            f"缺少设置 {setting} / setting {setting} is empty "
            f"(careops.yaml or CAREOPS_{setting.upper().replace('.', '__')})",
            field=setting,
        )
    return raw


def configured(settings: Settings) -> list[str]:
    """The real channels whose switch setting is filled (host, provider, app id, app key)."""
    c = settings.channels
    names = []
    if c.email.host:
        names.append("email")
    if c.sms.provider:
        names.append("sms")
    if c.wechat.app_id:
        names.append("wechat")
    if c.app_push.app_key:
        names.append("app_push")
    return names


def open_email(settings: Settings) -> EmailChannel:
    from careops.journeys.channels.smtp_email import EmailChannel

    e = settings.channels.email
    return EmailChannel(
        host=_need(e.host, "channels.email.host"),
        port=e.port,
        security=e.security,
        username=e.username,
        password=e.password.get_secret_value() if e.password else None,
        sender=e.sender,
        sender_name=e.sender_name,
        ca_file=e.ca_file,
        timeout_s=e.timeout_s,
    )


def open_sms(settings: Settings) -> AliyunSmsChannel | TencentSmsChannel:
    c = settings.channels
    s = c.sms
    if s.provider == "aliyun":
        from careops.journeys.channels.sms_aliyun import AliyunSmsChannel

        a = s.aliyun
        return AliyunSmsChannel(
            endpoint=a.endpoint,
            access_key_id=_need(a.access_key_id, "channels.sms.aliyun.access_key_id"),
            access_key_secret=_need(a.access_key_secret, "channels.sms.aliyun.access_key_secret"),
            sign_name=_need(a.sign_name, "channels.sms.aliyun.sign_name"),
            region=a.region,
            templates=s.templates,
            timeout_s=c.timeout_s,
            max_response_bytes=c.max_response_bytes,
        )
    if s.provider == "tencent":
        from careops.journeys.channels.sms_tencent import TencentSmsChannel

        t = s.tencent
        return TencentSmsChannel(
            endpoint=t.endpoint,
            secret_id=_need(t.secret_id, "channels.sms.tencent.secret_id"),
            secret_key=_need(t.secret_key, "channels.sms.tencent.secret_key"),
            sdk_app_id=_need(t.sdk_app_id, "channels.sms.tencent.sdk_app_id"),
            sign_name=_need(t.sign_name, "channels.sms.tencent.sign_name"),
            region=t.region,
            templates=s.templates,
            timeout_s=c.timeout_s,
            max_response_bytes=c.max_response_bytes,
        )
    raise ConfigError(
        "短信渠道未配置 / SMS is off: set channels.sms.provider to aliyun or tencent",
        field="channels.sms.provider",
    )


def open_wechat(settings: Settings) -> WechatChannel:
    from careops.journeys.channels.wechat import WechatChannel

    c = settings.channels
    w = c.wechat
    return WechatChannel(
        base_url=w.base_url,
        app_id=_need(w.app_id, "channels.wechat.app_id"),
        app_secret=_need(w.app_secret, "channels.wechat.app_secret"),
        kind=w.kind,
        templates=w.templates,
        url=w.url,
        timeout_s=c.timeout_s,
        max_response_bytes=c.max_response_bytes,
    )


def open_app_push(settings: Settings) -> JPushChannel:
    from careops.journeys.channels.jpush import JPushChannel

    c = settings.channels
    j = c.app_push
    return JPushChannel(
        base_url=j.base_url,
        app_key=_need(j.app_key, "channels.app_push.app_key"),
        master_secret=_need(j.master_secret, "channels.app_push.master_secret"),
        apns_production=j.apns_production,
        time_to_live_s=j.time_to_live_s,
        timeout_s=c.timeout_s,
        max_response_bytes=c.max_response_bytes,
    )

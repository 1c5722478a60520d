"""SMS through Alibaba Cloud (dysmsapi `SendSms`, API version 2017-05-25).

The request is RPC style: every parameter, the common ones included, is form-encoded and
signed with HMAC-SHA1 as Alibaba Cloud's "signature mechanism" page defines: parameters
sorted by name, each name and value percent-encoded (RFC 3986: space → %20, `*` → %2A, `~`
kept), joined with `&`, then StringToSign = METHOD & %2F & percentEncode(that string), keyed
with AccessKeySecret + "&", Base64. A fresh `SignatureNonce` (UUID) and a UTC `Timestamp` go
into every request. `OutId` carries the send's idempotency key, which the delivery report
(SmsReport) echoes back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from time import perf_counter
from urllib.parse import quote

import httpx

from careops.journeys.channels.addresses import NOT_BOUND, phone_mainland_or_intl
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.channels.httpcall import ProviderFault, call, new_client, scrub
from careops.journeys.channels.probe import ProbeResult

VERSION = "2017-05-25"
#: codes worth another try later: throttling and the provider's own trouble
TRANSIENT = {
    "isv.BUSINESS_LIMIT_CONTROL",
    "isp.SYSTEM_ERROR",
    "isp.GATEWAY_ERROR",
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "InternalError",
}
#: codes that mean this phone number cannot be reached on SMS
UNREACHABLE = {
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.MOBILE_COUNT_OVER_LIMIT",
    "isv.BLACK_KEY_CONTROL_LIMIT",
}


def percent_encode(value: str) -> str:
    """Alibaba's percent-encoding: UTF-8, RFC 3986 unreserved characters kept."""
    return quote(value, safe="-_.~")


def string_to_sign(params: Mapping[str, str], method: str = "POST") -> str:
    """The canonical string of an RPC request (the `Signature` parameter left out)."""
    canon = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canon)}"


def rpc_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """Base64(HMAC-SHA1(secret + "&", StringToSign))."""
    digest = hmac.new(
        (secret + "&").encode(), string_to_sign(params, method).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsChannel:
    """SMS via Alibaba Cloud; one HTTP client per adapter, closed by `close`."""

    name = "sms"
    provider = "aliyun"

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        region: str = "cn-hangzhou",
        templates: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        max_response_bytes: int = 1_000_000,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._key_id = access_key_id
        self._secret = access_key_secret
        self.sign_name = sign_name
        self.region = region
        self.templates = dict(templates or {})
        self.max_bytes = max_response_bytes
        self._client = client or new_client(timeout_s)

    def _signed(self, action: str, extra: Mapping[str, str]) -> dict[str, str]:
        params = {
            "AccessKeyId": self._key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": VERSION,
            **extra,
        }
        params["Signature"] = rpc_signature(params, self._secret, "POST")
        return params

    def _post(self, params: Mapping[str, str]) -> dict:
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
        answer = call(
            self._client,
            "POST",
            self.endpoint,
            max_bytes=self.max_bytes,
            secrets=[self._secret],
            content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        return answer.json_object()

    def send(self, message: Message) -> Outcome:
        if not message.address.strip():
            return Outcome("unbound", code=NOT_BOUND, error="患者没有手机号 / no phone number")
        phone = phone_mainland_or_intl(message.address)
        if phone is None:
            return Outcome(
                "failed", code="invalid_address", error="手机号格式无效 / not a phone number"
            )
        extra = {
            "PhoneNumbers": phone,
            "SignName": self.sign_name,
            "TemplateCode": self.templates.get(message.template, message.template),
            "TemplateParam": json.dumps(dict(message.params), ensure_ascii=False),
            "OutId": message.idempotency_key[:256],
        }
        try:
            data = self._post(self._signed("SendSms", extra))
        except ProviderFault as fault:
            return fault.outcome
        code = str(data.get("Code", ""))
        if code == "OK":
            return Outcome("sent", provider_id=str(data.get("BizId") or "") or None, code="OK")
        error = scrub(f"{code}: {data.get('Message', '')}", [self._secret])
        if code in TRANSIENT or code.startswith("Throttling"):
            return Outcome("retry", code=code, error=error)
        if code in UNREACHABLE:
            return Outcome("failed", code=code, error=error)
        if not code:
            return Outcome("retry", code="bad_answer", error="应答缺少 Code / answer has no Code")
        return Outcome("failed", code=code, error=error)

    def probe(self) -> ProbeResult:
        """Ask for the SMS signature's status (QuerySmsSign): credentials and signature checked,
        nothing sent."""
        t0 = perf_counter()
        try:
            data = self._post(self._signed("QuerySmsSign", {"SignName": self.sign_name}))
        except ProviderFault as fault:
            return ProbeResult("sms", self.provider, False, fault.outcome.error or "", t0)
        code = str(data.get("Code", ""))
        detail = scrub(f"{code}: {data.get('Message', '')}", [self._secret])
        return ProbeResult("sms", self.provider, code == "OK", detail, t0)

    def close(self) -> None:
        self._client.close()

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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from time import perf_counter
from urllib.parse import quote

import httpx

from careops.journeys.channels.addresses import NOT_BOUND, phone_mainland_or_intl
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.channels.httpcall import ProviderFault, call, new_client, scrub
from careops.journeys.channels.probe import ProbeResult

VERSION = "2017-05-25"
#: most numbers in one SendBatchSms request (Alibaba's limit)
MAX_BATCH = 100
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

    def _check(self, message: Message) -> Outcome | str:
        """The number as Alibaba wants it, or the outcome when there is none usable."""
        if not message.address.strip():
            return Outcome("unbound", code=NOT_BOUND, error="患者没有手机号 / no phone number")
        phone = phone_mainland_or_intl(message.address)
        if phone is None:
            return Outcome(
                "failed", code="invalid_address", error="手机号格式无效 / not a phone number"
            )
        return phone

    def _answer(self, data: dict) -> Outcome:
        code = str(data.get("Code", ""))
        if code == "OK":
            return Outcome("sent", provider_id=str(data.get("BizId") or "") or None, code="OK")
        error = scrub(f"{code}: {data.get('Message', '')}", [self._secret])
        if code in TRANSIENT or code.startswith("Throttling"):
            return Outcome("retry", code=code, error=error)
        if not code:
            return Outcome("retry", code="bad_answer", error="应答缺少 Code / answer has no Code")
        return Outcome("failed", code=code, error=error)

    def send(self, message: Message) -> Outcome:
        phone = self._check(message)
        if isinstance(phone, Outcome):
            return phone
        extra = {
            "PhoneNumbers": phone,
            "SignName": self.sign_name,
            "TemplateCode": self.templates.get(message.template, message.template),
            "TemplateParam": json.dumps(dict(message.params), ensure_ascii=False),
            "OutId": message.idempotency_key[:256],
        }
        try:
            return self._answer(self._post(self._signed("SendSms", extra)))
        except ProviderFault as fault:
            return fault.outcome

    def send_many(self, messages: Sequence[Message]) -> list[Outcome]:
        """Messages of one template go through `SendBatchSms`, up to `MAX_BATCH` distinct
        numbers per request, each with its own parameters; they share one BizId (receipts match
        by BizId and number). When Alibaba refuses a batch for a number (an unreachable-number
        code), its messages are sent one by one so the others still go."""
        outcomes: list[Outcome | None] = [None] * len(messages)
        groups: dict[str, list[tuple[int, str]]] = {}
        for i, m in enumerate(messages):
            phone = self._check(m)
            if isinstance(phone, Outcome):
                outcomes[i] = phone
                continue
            groups.setdefault(m.template, []).append((i, phone))
        for template, members in groups.items():
            chunk: list[tuple[int, str]] = []
            for item in [*members, None]:
                full = (
                    item is None or len(chunk) == MAX_BATCH or any(p == item[1] for _, p in chunk)
                )
                if full and chunk:
                    for i, out in self._send_batch(template, messages, chunk):
                        outcomes[i] = out
                    chunk = []
                if item is not None:
                    chunk.append(item)
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(messages), "every message has an outcome"
        return done

    def _send_batch(
        self, template: str, messages: Sequence[Message], chunk: list[tuple[int, str]]
    ) -> list[tuple[int, Outcome]]:
        if len(chunk) == 1:
            return [(chunk[0][0], self.send(messages[chunk[0][0]]))]
        extra = {
            "PhoneNumberJson": json.dumps([p for _, p in chunk]),
            "SignNameJson": json.dumps([self.sign_name] * len(chunk), ensure_ascii=False),
            "TemplateCode": self.templates.get(template, template),
            "TemplateParamJson": json.dumps(
                [dict(messages[i].params) for i, _ in chunk], ensure_ascii=False
            ),
        }
        try:
            out = self._answer(self._post(self._signed("SendBatchSms", extra)))
        except ProviderFault as fault:
            out = fault.outcome
        if out.status == "failed" and out.code in UNREACHABLE:
            return [(i, self.send(messages[i])) for i, _ in chunk]
        return [(i, out) for i, _ in chunk]

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

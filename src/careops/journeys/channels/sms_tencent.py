"""SMS through Tencent Cloud (`SendSms`, API version 2021-01-11, signature v3).

A JSON POST signed with TC3-HMAC-SHA256 as Tencent Cloud's "Signature v3" page defines:
CanonicalRequest = method, `/`, empty query, the signed headers (`content-type`, `host`)
as `key:value` lines, their names, and SHA-256 of the body; StringToSign = algorithm,
timestamp, `date/sms/tc3_request`, SHA-256 of the canonical request; the key is derived by
HMAC-SHA256 chaining "TC3"+SecretKey → UTC date → service → "tc3_request". The send's
idempotency key travels as `SessionContext`; the delivery callback names the send by `sid`
(the `SerialNo` the answer gave).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from time import perf_counter, time
from urllib.parse import urlsplit

import httpx

from careops.journeys.channels.addresses import NOT_BOUND, phone_e164
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.channels.httpcall import ProviderFault, call, new_client, scrub
from careops.journeys.channels.probe import ProbeResult

VERSION = "2021-01-11"
#: most numbers in one SendSms request (Tencent's limit)
MAX_BATCH = 200
SERVICE = "sms"
CONTENT_TYPE = "application/json; charset=utf-8"
#: transient: throttling (per number or per account) and Tencent's internal errors
TRANSIENT_PREFIXES = (
    "LimitExceeded.",
    "RequestLimitExceeded",
    "InternalError",
    "ResourceUnavailable",
)
TRANSIENT_EXCEPT = {"LimitExceeded.AppCountryOrRegionDailyLimit"}  # needs a console change


def tc3_signature(
    secret_key: str,
    *,
    payload: str,
    host: str,
    timestamp: int,
    service: str = SERVICE,
    content_type: str = CONTENT_TYPE,
) -> str:
    """The hex signature of a POST with `payload`, signing the content-type and host headers."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n",
            "content-type;host",
            hashlib.sha256(payload.encode()).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing = h(h(h(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()


def template_params(params: Mapping[str, str]) -> list[str]:
    """Tencent templates are positional ({1}, {2}, …): numeric keys in order, else as given."""
    keys = list(params)
    if keys and all(k.isdigit() for k in keys):
        keys.sort(key=int)
    return [str(params[k]) for k in keys]


class TencentSmsChannel:
    """SMS via Tencent Cloud; one HTTP client per adapter, closed by `close`."""

    name = "sms"
    provider = "tencent"

    def __init__(
        self,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        region: str = "ap-guangzhou",
        templates: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        max_response_bytes: int = 1_000_000,
        client: httpx.Client | None = None,
        clock=time,
    ) -> None:
        self.endpoint = endpoint
        self.host = urlsplit(endpoint).netloc
        self._secret_id = secret_id
        self._secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.region = region
        self.templates = dict(templates or {})
        self.max_bytes = max_response_bytes
        self._client = client or new_client(timeout_s)
        self._clock = clock

    def _post(self, action: str, body: Mapping) -> dict:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        ts = int(self._clock())
        date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        signature = tc3_signature(self._secret_key, payload=payload, host=self.host, timestamp=ts)
        headers = {
            "Authorization": f"TC3-HMAC-SHA256 Credential={self._secret_id}/{date}/{SERVICE}/"
            f"tc3_request, SignedHeaders=content-type;host, Signature={signature}",
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(ts),
            "X-TC-Version": VERSION,
            "X-TC-Region": self.region,
        }
        answer = call(
            self._client,
            "POST",
            self.endpoint,
            max_bytes=self.max_bytes,
            secrets=[self._secret_key],
            content=payload.encode(),
            headers=headers,
        )
        data = answer.json_object()
        response = data.get("Response")
        if not isinstance(response, dict):
            raise ProviderFault(
                Outcome("retry", code="bad_answer", error="应答缺少 Response / no Response object")
            )
        return response

    def _classify(self, code: str, message: str) -> Outcome:
        error = scrub(f"{code}: {message}", [self._secret_key])
        if code.startswith(TRANSIENT_PREFIXES) and code not in TRANSIENT_EXCEPT:
            return Outcome("retry", code=code, error=error)
        return Outcome("failed", code=code, error=error)

    def _check(self, message: Message) -> Outcome | str:
        """The E.164 number of `message`, or the outcome when it has none usable."""
        if not message.address.strip():
            return Outcome("unbound", code=NOT_BOUND, error="患者没有手机号 / no phone number")
        phone = phone_e164(message.address)
        if phone is None:
            return Outcome(
                "failed", code="invalid_address", error="手机号格式无效 / not a phone number"
            )
        return phone

    def _send_group(self, messages: Sequence[Message], phones: Sequence[str]) -> list[Outcome]:
        """One SendSms request for messages sharing template and parameters (distinct phones);
        an outcome per message, matched by phone number."""
        first = messages[0]
        body = {
            "PhoneNumberSet": list(phones),
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": self.templates.get(first.template, first.template),
            "TemplateParamSet": template_params(first.params),
            "SessionContext": first.idempotency_key[:512]
            if len(messages) == 1
            else f"batch:{len(messages)}:{first.idempotency_key}"[:512],
        }
        try:
            response = self._post("SendSms", body)
        except ProviderFault as fault:
            return [fault.outcome] * len(messages)
        if isinstance(response.get("Error"), dict):
            err = response["Error"]
            out = self._classify(str(err.get("Code", "")), str(err.get("Message", "")))
            return [out] * len(messages)
        statuses = response.get("SendStatusSet")
        by_phone = {}
        if isinstance(statuses, list):
            by_phone = {st.get("PhoneNumber"): st for st in statuses if isinstance(st, dict)}
        missing = Outcome("retry", code="bad_answer", error="应答缺少该号码 / number not in answer")
        outcomes = []
        for phone in phones:
            status = by_phone.get(phone)
            if status is None:
                outcomes.append(missing)
                continue
            code = str(status.get("Code", ""))
            if code == "Ok":
                serial = str(status.get("SerialNo") or "") or None
                outcomes.append(Outcome("sent", provider_id=serial, code="Ok"))
            else:
                outcomes.append(self._classify(code, str(status.get("Message", ""))))
        return outcomes

    def send(self, message: Message) -> Outcome:
        phone = self._check(message)
        if isinstance(phone, Outcome):
            return phone
        return self._send_group([message], [phone])[0]

    def send_many(self, messages: Sequence[Message]) -> list[Outcome]:
        """Messages with the same template and parameters (a campaign without personal fields)
        go together, up to `MAX_BATCH` numbers per request; the rest one by one. Outcomes in
        the order of `messages`."""
        outcomes: list[Outcome | None] = [None] * len(messages)
        groups: dict[tuple, list[tuple[int, str]]] = {}
        for i, m in enumerate(messages):
            phone = self._check(m)
            if isinstance(phone, Outcome):
                outcomes[i] = phone
                continue
            key = (m.template, tuple(template_params(m.params)))
            groups.setdefault(key, []).append((i, phone))
        for members in groups.values():
            chunk: list[tuple[int, str]] = []
            for item in [*members, None]:
                full = (
                    item is None or len(chunk) == MAX_BATCH or any(p == item[1] for _, p in chunk)
                )
                if full and chunk:
                    idx = [i for i, _ in chunk]
                    results = self._send_group([messages[i] for i in idx], [p for _, p in chunk])
                    for i, out in zip(idx, results, strict=True):
                        outcomes[i] = out
                    chunk = []
                if item is not None:
                    chunk.append(item)
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(messages), "every message has an outcome"
        return done

    def probe(self) -> ProbeResult:
        """Ask for the package statistics (SmsPackagesStatistics): credentials checked, nothing
        sent and no delivery report consumed."""
        t0 = perf_counter()
        try:
            response = self._post(
                "SmsPackagesStatistics", {"SmsSdkAppId": self.sdk_app_id, "Limit": 1, "Offset": 0}
            )
        except ProviderFault as fault:
            return ProbeResult("sms", self.provider, False, fault.outcome.error or "", t0)
        if isinstance(response.get("Error"), dict):
            err = response["Error"]
            detail = scrub(f"{err.get('Code')}: {err.get('Message')}", [self._secret_key])
            return ProbeResult("sms", self.provider, False, detail, t0)
        return ProbeResult("sms", self.provider, True, "OK", t0)

    def close(self) -> None:
        self._client.close()

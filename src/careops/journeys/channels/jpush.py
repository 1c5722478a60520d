"""App push through JPush (极光推送) REST API v3.

`POST /v3/push` with HTTP Basic auth base64(appKey:masterSecret) and the documented push
object: `platform`, `audience: {registration_id: [...]}`, `notification` (alert, android
title, ios alert) and `options` (time_to_live, apns_production). The idempotency key rides in
`extras.send_id` so the app and the receipt can name the send. Errors come as
`{"error": {"code", "message"}}`: 1011 (no device for this audience) → `unbound`; 2002 / HTTP
429 (rate limit; `X-Rate-Limit-Reset` says when) and 5xx → retry; the rest → failed.
`probe` uses `POST /v3/push/validate`, which checks a push without sending it; `pull_receipts`
asks `POST /v3/status/message` whether given devices received a message.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from time import perf_counter

import httpx

from careops.journeys.channels.addresses import NOT_BOUND, has_control
from careops.journeys.channels.base import Message, Outcome, Receipt
from careops.journeys.channels.httpcall import ProviderFault, call, new_client, scrub
from careops.journeys.channels.probe import ProbeResult

NO_AUDIENCE = 1011
#: most registration ids in one push (JPush's limit)
MAX_BATCH = 1000
TRANSIENT = {1000, 1030, 2002, 2008}


class JPushChannel:
    """JPush app push; the address is the device's registration id."""

    name = "app_push"
    provider = "jpush"

    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        master_secret: str,
        apns_production: bool = True,
        time_to_live_s: int = 86400,
        timeout_s: float = 10.0,
        max_response_bytes: int = 1_000_000,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self._secret = master_secret
        self.apns_production = apns_production
        self.ttl = time_to_live_s
        self.max_bytes = max_response_bytes
        self._client = client or new_client(timeout_s)
        auth = base64.b64encode(f"{app_key}:{master_secret}".encode()).decode()
        self._auth = f"Basic {auth}"

    def push_body(self, message: Message) -> dict:
        """The push object for one message to one device."""
        extras = {"send_id": message.idempotency_key, "template": message.template}
        alert = message.body or message.subject
        return {
            "platform": "all",
            "audience": {"registration_id": [message.address.strip()]},
            "notification": {
                "alert": alert,
                "android": {"alert": alert, "title": message.subject, "extras": extras},
                "ios": {
                    "alert": {"title": message.subject, "body": alert},
                    "sound": "default",
                    "extras": extras,
                },
            },
            "options": {"time_to_live": self.ttl, "apns_production": self.apns_production},
        }

    def _post(self, path: str, body: dict) -> tuple[int, dict, dict]:
        answer = call(
            self._client,
            "POST",
            f"{self.base_url}{path}",
            max_bytes=self.max_bytes,
            secrets=[self._secret, self._auth],
            json=body,
            headers={"Authorization": self._auth},
        )
        return answer.status, answer.json_object(), dict(answer.headers)

    def _error(self, data: dict, headers: dict) -> Outcome:
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = err.get("code")
        error = scrub(f"{code}: {err.get('message', '')}", [self._secret, self._auth])
        if code == NO_AUDIENCE:
            return Outcome("unbound", code=str(code), error=error)
        if code in TRANSIENT:
            reset = headers.get("x-rate-limit-reset")
            wait = float(reset) if reset and reset.isdigit() else None
            return Outcome("retry", code=str(code), error=error, retry_after_s=wait)
        return Outcome("failed", code=str(code) if code is not None else "bad_answer", error=error)

    def send(self, message: Message) -> Outcome:
        rid = message.address.strip()
        if not rid:
            return Outcome("unbound", code=NOT_BOUND, error="患者没有推送设备 / no registration id")
        if has_control(rid) or len(rid) > 128:
            return Outcome(
                "failed", code="invalid_address", error="registration id 无效 / invalid id"
            )
        try:
            status, data, headers = self._post("/v3/push", self.push_body(message))
        except ProviderFault as fault:
            return fault.outcome
        if status == 200 and "error" not in data and data.get("msg_id") is not None:
            return Outcome("sent", provider_id=str(data["msg_id"]), code="200")
        return self._error(data, headers)

    def send_many(self, messages: Sequence[Message]) -> list[Outcome]:
        """Messages with the same title, text and template go as one push to up to
        `MAX_BATCH` registration ids (all then share one msg_id; `pull_receipts` tells which
        devices received it). A device JPush does not know is dropped silently by JPush in a
        batch, so it shows up as not delivered, not as `unbound`."""
        outcomes: list[Outcome | None] = [None] * len(messages)
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i, m in enumerate(messages):
            rid = m.address.strip()
            if not rid or has_control(rid) or len(rid) > 128:
                outcomes[i] = self.send(m)  # answers unbound / invalid without a request
                continue
            groups.setdefault((m.subject, m.body, m.template), []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), MAX_BATCH):
                part = idx[start : start + MAX_BATCH]
                if len(part) == 1:
                    outcomes[part[0]] = self.send(messages[part[0]])
                    continue
                body = self.push_body(messages[part[0]])
                body["audience"] = {"registration_id": [messages[i].address.strip() for i in part]}
                for platform in ("android", "ios"):
                    body["notification"][platform]["extras"]["send_id"] = f"batch:{len(part)}"
                try:
                    status, data, headers = self._post("/v3/push", body)
                    if status == 200 and "error" not in data and data.get("msg_id") is not None:
                        out = Outcome("sent", provider_id=str(data["msg_id"]), code="200")
                    else:
                        out = self._error(data, headers)
                except ProviderFault as fault:
                    out = fault.outcome
                for i in part:
                    outcomes[i] = out
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(messages), "every message has an outcome"
        return done

    def pull_receipts(self, msg_id: str, registration_ids: Sequence[str]) -> list[Receipt]:
        """Which of `registration_ids` received message `msg_id` (JPush status API); a
        `ProviderFault` when the provider does not answer usably."""
        if not str(msg_id).isdigit():
            from careops.errors import InvalidInput

            raise InvalidInput(f"JPush msg_id 应为数字 / msg_id {msg_id!r} is not a number")
        status, data, headers = self._post(
            "/v3/status/message",
            {"msg_id": int(msg_id), "registration_ids": list(registration_ids)},
        )
        if status != 200:
            raise ProviderFault(self._error(data, headers))
        from careops.journeys.channels.receipts import jpush_receipts

        return jpush_receipts(data, msg_id)

    def probe(self) -> ProbeResult:
        """Validate a push to every device without sending it (`/v3/push/validate`)."""
        t0 = perf_counter()
        body = {"platform": "all", "audience": "all", "notification": {"alert": "probe"}}
        try:
            status, data, headers = self._post("/v3/push/validate", body)
        except ProviderFault as fault:
            return ProbeResult("app_push", self.provider, False, fault.outcome.error or "", t0)
        if status == 200 or (
            isinstance(data.get("error"), dict) and data["error"].get("code") == NO_AUDIENCE
        ):
            return ProbeResult("app_push", self.provider, True, "OK", t0)
        return ProbeResult(
            "app_push", self.provider, False, self._error(data, headers).error or "", t0
        )

    def close(self) -> None:
        self._client.close()

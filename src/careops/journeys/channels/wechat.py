"""WeChat official-account template messages and subscribe messages (订阅通知).

Plain httpx against the documented JSON, so the timeout, answer-size cap and log scrubbing of
`httpcall` apply as for every provider (wechatpy is not used).

- Access token: `POST /cgi-bin/stable_token` (the AppSecret travels in the body, never in a
  URL that a log could keep), cached per AppID until 5 minutes before `expires_in` ends, shared
  by every adapter of the process.
- Template message: `POST /cgi-bin/message/template/send` with `touser`, `template_id`,
  `url`, `data: {key: {value}}` and `client_msg_id` = the send's idempotency key (WeChat's
  anti-duplicate id). Subscribe message: `POST /cgi-bin/message/subscribe/bizsend`.
- errcode: 40001/40014/42001 (token invalid or expired) → drop the token, fetch a new one and
  send once more; 43004 (not following the account), 43101 (not subscribed), 40003 (openid
  not of this account) → `unbound`; -1 (busy) and 45009/45011 (quota, frequency) → retry;
  others → failed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter

import httpx

from careops.journeys.channels.addresses import NOT_BOUND, has_control
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.channels.httpcall import ProviderFault, call, new_client, scrub
from careops.journeys.channels.probe import ProbeResult

TOKEN_INVALID = {40001, 40014, 42001}
NOT_SUBSCRIBED = {43004, 43101, 40003}
TRANSIENT = {-1, 45009, 45011, 45047}
REFRESH_MARGIN_S = 300.0


@dataclass
class _Token:
    value: str
    expires_at: float


_tokens: dict[tuple[str, str], _Token] = {}
_lock = threading.Lock()


def client_msg_id(idempotency_key: str) -> str:
    """WeChat's anti-duplicate id: the key itself when short, else a digest of it (never a
    truncation, which could make two sends one)."""
    if len(idempotency_key) <= 64 and idempotency_key.isascii():
        return idempotency_key
    return "h" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def clear_token_cache() -> None:
    """Forget every cached access token (tests; after rotating an AppSecret)."""
    with _lock:
        _tokens.clear()


class WechatChannel:
    """WeChat template or subscribe messages; the address is the patient's openid."""

    name = "wechat"
    provider = "wechat"

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        kind: str = "template",
        templates: Mapping[str, str] | None = None,
        url: str | None = None,
        timeout_s: float = 10.0,
        max_response_bytes: int = 1_000_000,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.kind = kind
        self.templates = dict(templates or {})
        self.url = url
        self.max_bytes = max_response_bytes
        self._client = client or new_client(timeout_s)
        self._clock = clock
        self.token_fetches = 0

    # -- access token ------------------------------------------------------------------------
    def _fetch_token(self) -> _Token:
        answer = call(
            self._client,
            "POST",
            f"{self.base_url}/cgi-bin/stable_token",
            max_bytes=self.max_bytes,
            secrets=[self._secret],
            json={"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret},
        )
        data = answer.json_object()
        self.token_fetches += 1
        token, expires = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires, int | float):
            code = data.get("errcode")
            status = "retry" if code in TRANSIENT or code is None else "failed"
            raise ProviderFault(
                Outcome(
                    status,
                    code=f"token_{code}" if code is not None else "bad_answer",
                    error=scrub(
                        f"获取 access_token 失败 / token refused: {code}: {data.get('errmsg')}",
                        [self._secret],
                    ),
                )
            )
        return _Token(token, self._clock() + float(expires) - REFRESH_MARGIN_S)

    def access_token(self, force: bool = False) -> str:
        """The cached token, fetched when missing, near expiry, or `force`d."""
        key = (self.base_url, self.app_id)
        with _lock:
            cached = _tokens.get(key)
            if not force and cached is not None and cached.expires_at > self._clock():
                return cached.value
            fresh = self._fetch_token()
            _tokens[key] = fresh
            return fresh.value

    # -- sending -----------------------------------------------------------------------------
    def _body(self, message: Message) -> dict:
        data = {k: {"value": str(v)} for k, v in message.params.items()}
        if not data and message.body:
            data = {"first": {"value": message.body}}
        body: dict = {
            "touser": message.address.strip(),
            "template_id": self.templates.get(message.template, message.template),
            "data": data,
        }
        if self.kind == "template":
            body["client_msg_id"] = client_msg_id(message.idempotency_key)
            if self.url:
                body["url"] = self.url
        elif self.url:
            body["page"] = self.url
        return body

    def _post_message(self, body: dict, force_token: bool) -> dict:
        path = "template/send" if self.kind == "template" else "subscribe/bizsend"
        token = self.access_token(force=force_token)
        answer = call(
            self._client,
            "POST",
            f"{self.base_url}/cgi-bin/message/{path}",
            params={"access_token": token},
            max_bytes=self.max_bytes,
            secrets=[self._secret, token],
            json=body,
        )
        return answer.json_object()

    def send(self, message: Message) -> Outcome:
        openid = message.address.strip()
        if not openid:
            return Outcome("unbound", code=NOT_BOUND, error="患者未绑定微信 / no WeChat openid")
        if has_control(openid) or len(openid) > 128:
            return Outcome("failed", code="invalid_address", error="openid 无效 / invalid openid")
        body = self._body(message)
        try:
            data = self._post_message(body, force_token=False)
            if data.get("errcode") in TOKEN_INVALID:  # expired early or revoked: refresh once
                data = self._post_message(body, force_token=True)
        except ProviderFault as fault:
            return fault.outcome
        code = data.get("errcode", 0)
        if code == 0:
            msgid = data.get("msgid")
            return Outcome("sent", provider_id=str(msgid) if msgid is not None else None, code="0")
        error = scrub(f"{code}: {data.get('errmsg', '')}", [self._secret])
        if code in NOT_SUBSCRIBED:
            return Outcome("unbound", code=str(code), error=error)
        if code in TRANSIENT or code in TOKEN_INVALID:
            return Outcome("retry", code=str(code), error=error)
        return Outcome("failed", code=str(code), error=error)

    def probe(self) -> ProbeResult:
        """Fetch an access token (no message sent)."""
        t0 = perf_counter()
        try:
            self.access_token(force=False)
        except ProviderFault as fault:
            return ProbeResult("wechat", self.provider, False, fault.outcome.error or "", t0)
        return ProbeResult("wechat", self.provider, True, "access_token OK", t0)

    def close(self) -> None:
        self._client.close()

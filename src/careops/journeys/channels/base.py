"""The one interface every channel adapter implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

ChannelName = Literal["sms", "wechat", "app_push", "email", "file"]
#: sent: the provider accepted it; retry: a transient failure (timeout, 5xx, throttled), try
#: again later; failed: a permanent one (bad address, rejected template), do not retry;
#: unbound: the patient has no address on this channel (no phone, openid, registration id, or
#: the provider says the patient is not subscribed / not found) — try the next channel
OutcomeStatus = Literal["sent", "retry", "failed", "unbound"]


@dataclass(frozen=True)
class Message:
    """One message to one patient on one channel. `idempotency_key` is the send's key in the
    state store: adapters pass it to providers that deduplicate (and log it), never invent one."""

    idempotency_key: str
    user_id: str
    channel: str
    purpose: str
    template: str
    address: str  # phone number, e-mail address, WeChat openid or push registration id
    subject: str = ""
    body: str = ""
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What the provider answered. `error` names the provider's code and reason (never a
    credential); `provider_id` is the provider's message id when it gives one."""

    status: OutcomeStatus
    provider_id: str | None = None
    error: str | None = None
    #: the provider's own error code (`isv.BUSINESS_LIMIT_CONTROL`, `43004`, `1011`) or ours
    #: (`timeout`, `http_503`, `bad_answer`, `not_bound`, `undeliverable`)
    code: str | None = None
    #: tries made so far (set by `retry.send_with_retry`)
    attempts: int = 1
    #: the provider asked to wait this long before the next try (HTTP Retry-After)
    retry_after_s: float | None = None

    @property
    def fallback(self) -> bool:
        """True when the engine should try the patient's next channel."""
        return self.status in ("unbound", "failed")


@dataclass(frozen=True)
class Receipt:
    """A provider's delivery report for one message (`receipts.py` parses them).

    `provider_id` is the id the provider gave at send time (`Outcome.provider_id`);
    `idempotency_key` is set when the provider echoes ours back (Alibaba `out_id`)."""

    provider: str
    provider_id: str | None
    delivered: bool
    ts: datetime | None
    idempotency_key: str | None = None
    address: str | None = None
    code: str | None = None
    description: str | None = None


@runtime_checkable
class Channel(Protocol):
    """A way to reach patients. Adapters are opened once per batch and closed after."""

    name: str

    def send(self, message: Message) -> Outcome:
        """Hand one message to the provider; never raise for a provider's answer (return
        `retry` or `failed`), only for a programming error."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def send_all(channel: Channel, messages: Sequence[Message]) -> list[Outcome]:
    """Send `messages` one by one on `channel` (adapters with a batch API override this)."""
    batch = getattr(channel, "send_many", None)
    if batch is not None:
        return list(batch(messages))
    return [channel.send(m) for m in messages]

"""The one interface every channel adapter implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

ChannelName = Literal["sms", "wechat", "app_push", "email", "file"]
#: sent: the provider accepted it; retry: a transient failure (timeout, 5xx, throttled), try
#: again later; failed: a permanent one (bad address, rejected template), do not retry
OutcomeStatus = Literal["sent", "retry", "failed"]


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

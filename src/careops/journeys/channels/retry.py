"""Retries: exponential backoff on transient failures, none on permanent ones.

Two ways to use it. Inside one batch, `send_with_retry` tries a message up to `max_tries`
times, sleeping between tries, and answers `failed` with code `undeliverable` when every try
was transient. Across worker ticks, the engine records `attempts` and asks `next_delay_s` when
to try again, and `exhausted` whether to give up — the same policy, without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from careops.journeys.channels.base import Channel, Message, Outcome

log = logging.getLogger("careops.channels")


@dataclass(frozen=True)
class RetryPolicy:
    """`max_tries` tries in all; the wait before try k+1 is backoff_s × factor^(k-1), capped,
    or what the provider asked for (Retry-After) when that is longer."""

    max_tries: int = 4
    backoff_s: float = 1.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: object) -> RetryPolicy:
        """The policy of `settings.channels.retry`."""
        r = settings.channels.retry  # type: ignore[attr-defined]
        return cls(r.max_tries, r.backoff_s, r.backoff_factor, r.backoff_max_s)

    def next_delay_s(self, attempts: int, outcome: Outcome | None = None) -> float:
        """Seconds to wait after `attempts` tries before the next one."""
        delay = min(
            self.backoff_s * self.backoff_factor ** max(attempts - 1, 0), self.backoff_max_s
        )
        if outcome is not None and outcome.retry_after_s is not None:
            delay = max(delay, min(outcome.retry_after_s, self.backoff_max_s))
        return delay

    def exhausted(self, attempts: int) -> bool:
        """True when no try is left after `attempts`."""
        return attempts >= self.max_tries


def undeliverable(outcome: Outcome, attempts: int) -> Outcome:
    """The final outcome of a send whose every try failed transiently."""
    return replace(
        outcome,
        status="failed",
        code="undeliverable",
        attempts=attempts,
        error=f"{attempts} 次尝试均失败 / undeliverable after {attempts} tries; last: "
        f"{outcome.code}: {outcome.error}",
    )


def send_with_retry(
    channel: Channel,
    message: Message,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send `message`, retrying transient failures with backoff; never retry `failed` or
    `unbound`. The outcome's `attempts` says how many tries were made."""
    attempt = 0
    while True:
        attempt += 1
        outcome = replace(channel.send(message), attempts=attempt)
        if outcome.status != "retry":
            return outcome
        if policy.exhausted(attempt):
            log.warning(
                "send %s on %s undeliverable after %d tries (%s)",
                message.idempotency_key,
                channel.name,
                attempt,
                outcome.code,
            )
            return undeliverable(outcome, attempt)
        delay = policy.next_delay_s(attempt, outcome)
        log.info(
            "send %s on %s: %s, retry %d in %.1fs",
            message.idempotency_key,
            channel.name,
            outcome.code,
            attempt + 1,
            delay,
        )
        sleep(delay)

"""Hand pending outbox rows to their channels, set-wise in batches, retrying with backoff.

Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never hand the same
row over) and marked `sending` in a committed transaction BEFORE any provider call; a second
transaction locks them again, sends, and records the outcome. Each message carries its
idempotency key. A crash in between leaves rows `sending`; `reconcile` (at every dispatch)
resends them only on channels whose provider drops a key it has seen (`DEDUPING_CHANNELS`, the
file peer), and marks the rest `unknown` for a person to check — so nothing is sent twice
blindly; the price is that an `unknown` row may in truth not have reached the provider.
A `retry` answer (timeout, 5xx, throttled) waits as the `channels.retry` settings say
(`RetryPolicy`: backoff_s × backoff_factor^(tries−1), capped at backoff_max_s, or longer when
the provider asked with Retry-After); after `max_tries` tries the row is `failed`, code
`undeliverable`, with the provider's last error. A `failed` answer is final at once.
Webhook rows are POSTed to their (allow-listed) URL with the key as `Idempotency-Key`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from careops.journeys import store
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.channels.retry import RetryPolicy, undeliverable

if TYPE_CHECKING:
    from careops.config import Settings
    from careops.service import Ops

#: a sender answers one Outcome per message, in order
Sender = Callable[[str, Sequence[Message]], list[Outcome]]


def message_of(row: Any) -> Message:
    """The channel message of an outbox row (the Chinese body; the title as subject)."""
    payload = row.payload or {}
    tpl = payload.get("template") or {}
    return Message(
        idempotency_key=row.key,
        user_id=row.user_id,
        channel=row.channel or row.kind,
        purpose=row.purpose or "service",
        template=f"{row.journey}.{row.step}",
        address="",
        subject=tpl.get("title") or "",
        body=tpl.get("zh") or "",
        params={k: str(v) for k, v in payload.items() if k not in ("template",)},
    )


class ChannelSender:
    """Sends through the adapters of `careops.journeys.channels` (one opened per channel and
    batch); `route` sends every channel through one adapter (e.g. `file`)."""

    def __init__(self, settings: Settings, route: str | None = None) -> None:
        self.settings = settings
        self.route = route

    def dedupes(self, channel: str) -> bool:
        """True when the adapter used for `channel` drops a resend under a seen key."""
        return (self.route or channel) in DEDUPING_CHANNELS

    def __call__(self, channel: str, messages: Sequence[Message]) -> list[Outcome]:
        from careops.errors import ConfigError
        from careops.journeys.channels.base import send_all
        from careops.journeys.channels.registry import open_channel

        try:
            adapter = open_channel(self.route or channel, self.settings)
        except ConfigError as exc:
            return [Outcome("retry", error=str(exc)[:300])] * len(messages)
        try:
            return send_all(adapter, messages)
        finally:
            adapter.close()


def dispatch(
    ops: Ops,
    now: dt.datetime,
    sender: Sender,
    *,
    batch: int = 1000,
    policy: RetryPolicy | None = None,
    on_sent: Callable[[list[Any]], None] | None = None,
) -> int:
    """Send every pending outbox row due at `now`; return how many were accepted. Transient
    failures are tried again after the backoff of `policy` (default: the `channels.retry`
    settings)."""
    policy = policy or RetryPolicy.from_settings(ops.settings)
    o = store.outbox.c
    accepted = 0
    reconcile(ops, sender)
    while True:
        with ops.state.begin() as conn:  # 1. claim, and say so before any provider call
            q = (
                sa.select(o.id)
                .where(
                    o.status == "pending",
                    sa.or_(o.next_try.is_(None), o.next_try <= now),
                    o.kind.in_(["message", "webhook"]),
                )
                .order_by(o.id)
                .limit(batch)
            )
            ids = list(conn.execute(store.skip_locked(conn, q)).scalars())
            if not ids:
                return accepted
            conn.execute(sa.update(store.outbox).where(o.id.in_(ids)).values(status="sending"))
        with ops.state.begin() as conn:  # 2. send under the rows' lock, record, commit
            q = sa.select(store.outbox).where(o.id.in_(ids), o.status == "sending")
            rows = conn.execute(store.skip_locked(conn, q.order_by(o.id))).all()
            by_channel: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                by_channel[r.channel or r.kind].append(r)
            updates, sent_rows = [], []
            for channel, group in by_channel.items():
                if channel == "webhook":
                    outcomes = [_webhook(r, ops.settings) for r in group]
                else:
                    outcomes = sender(channel, [message_of(r) for r in group])
                for r, out in zip(group, outcomes, strict=True):
                    attempts = r.attempts + 1
                    row = {"_id": r.id, "attempts": attempts, "sent_at": None, "next_try": None,
                           "provider_id": None, "error": None}  # fmt: skip
                    if out.status == "sent":
                        row |= {"status": "sent", "sent_at": now, "provider_id": out.provider_id}
                        sent_rows.append(r)
                    elif out.status == "retry" and not policy.exhausted(attempts):
                        wait = dt.timedelta(seconds=policy.next_delay_s(attempts, out))
                        row |= {"status": "pending", "next_try": now + wait,
                                "error": (out.error or "")[:500]}  # fmt: skip
                    elif out.status == "retry":
                        last = undeliverable(out, attempts)
                        row |= {"status": "failed", "error": (last.error or "")[:500]}
                    else:
                        row |= {"status": "failed", "error": (out.error or "failed")[:500]}
                    updates.append(row)
            stmt = (
                sa.update(store.outbox)
                .where(o.id == sa.bindparam("_id"))
                .values(
                    status=sa.bindparam("status"), attempts=sa.bindparam("attempts"),
                    sent_at=sa.bindparam("sent_at"), next_try=sa.bindparam("next_try"),
                    provider_id=sa.bindparam("provider_id"), error=sa.bindparam("error"),
                )
            )  # fmt: skip
            if updates:
                conn.execute(stmt, updates)
            accepted += len(sent_rows)
        if on_sent is not None and sent_rows:
            on_sent(sent_rows)


#: channels whose provider drops a second message under a key it has seen (the outbox key is
#: sent with every message); a send interrupted in flight is sent again on them, safely
DEDUPING_CHANNELS = frozenset({"file"})

IN_FLIGHT = (
    "在途时中断，是否送达未知，请向服务商核实 / interrupted in flight: delivery unknown, "
    "check with the provider before sending again"
)


def reconcile(ops: Ops, sender: Any) -> dict[str, int]:
    """Settle the rows a crashed worker left `sending` (the provider may or may not have them):
    on a channel that deduplicates by key they go back to `pending` (the resend under the same
    key is dropped if it had arrived); elsewhere they become `unknown`, for a person to check
    with the provider — never resent blindly. Rows another live worker is sending now are
    locked (PostgreSQL) and skipped. Returns how many went each way."""
    o = store.outbox.c
    done = {"pending": 0, "unknown": 0}
    dedupes = getattr(sender, "dedupes", None)
    with ops.state.begin() as conn:
        q = sa.select(o.id, o.kind, o.channel).where(o.status == "sending")
        rows = conn.execute(store.skip_locked(conn, q)).all()
        again = [
            r.id
            for r in rows
            if r.kind == "message" and dedupes is not None and dedupes(r.channel or r.kind)
        ]
        review = [r.id for r in rows if r.id not in set(again)]
        if again:
            conn.execute(sa.update(store.outbox).where(o.id.in_(again)).values(status="pending"))
        if review:
            conn.execute(
                sa.update(store.outbox)
                .where(o.id.in_(review))
                .values(status="unknown", error=IN_FLIGHT[:500])
            )
        done["pending"], done["unknown"] = len(again), len(review)
    return done


def _webhook(row: Any, settings: Settings) -> Outcome:
    """POST a webhook row's payload (the URL was checked against the allow-list at validation
    and is checked again here)."""
    import json
    import urllib.error
    import urllib.request

    from careops.journeys.webhooks import webhook_problem

    payload = row.payload or {}
    url = payload.get("url", "")
    problem = webhook_problem(url, settings.journeys.webhook_allow)
    if problem:
        return Outcome("failed", error=problem[:300])
    body = json.dumps(
        {"key": row.key, "journey": row.journey, "step": row.step, "user_id": row.user_id}
    ).encode()
    req = urllib.request.Request(
        url,
        data=body,
        method=payload.get("method", "POST"),
        headers={"Content-Type": "application/json", "Idempotency-Key": row.key},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Outcome("sent", provider_id=str(resp.status))
    except urllib.error.HTTPError as exc:
        return Outcome("retry" if exc.code >= 500 or exc.code == 429 else "failed",
                       error=f"HTTP {exc.code}")  # fmt: skip
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return Outcome("retry", error=type(exc).__name__)

"""Delivery receipts pushed by the providers, recorded: the report's sender verified, its
receipts matched to the journey sends they report on, delivered ones stored as
`message_delivered` events through the event intake and both outcomes written on the send
(outbox status `delivered`, or `failed` with the provider's code), so the send log and the
journey stats see them.

Senders are verified before the body is read: WeChat by its push signature over the server
token (`channels.wechat.push_token`) and a timestamp no older than `MAX_SKEW_S`; Alibaba and
Tencent SMS, whose callbacks carry no signature, by the shared secret their callback URL holds
(`channels.receipts_token`, compared in constant time). Replays are harmless: the event id is
derived from the send's idempotency key (the intake stores it once) and a send already marked
delivered or failed is not changed again.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from careops.errors import Forbidden, InvalidInput
from careops.journeys.channels.receipts import (
    ACKS,
    SendRef,
    lookup,
    parse_report,
    receipts_to_events,
    wechat_push_signature,
)
from careops.journeys.store import outbox
from careops.service import Actor, Ops, now

PROVIDERS = ("aliyun", "tencent", "wechat")
MAX_SKEW_S = 300


@dataclass(frozen=True)
class ReceiptOutcome:
    """What one pushed report did: receipts read, delivered ones stored as events, failures
    recorded, receipts for no known send, and the answer the provider expects."""

    provider: str
    receipts: int
    delivered: int
    failed: int
    unmatched: int
    ack_type: str
    ack: bytes


def _check_token(ops: Ops, query: Mapping[str, str]) -> None:
    secret = ops.settings.channels.receipts_token
    if secret is None:
        raise Forbidden(
            "未设置 channels.receipts_token, 不接收短信回执 / SMS receipts are off: set "
            "channels.receipts_token and put it in the callback URL (?token=…)"
        )
    given = query.get("token") or ""
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        raise Forbidden("回执令牌不符 / the receipt token does not match")


def _check_fresh(query: Mapping[str, str]) -> None:
    ts = query.get("timestamp") or ""
    if not ts.isdigit() or len(ts) > 11 or abs(time.time() - int(ts)) > MAX_SKEW_S:
        raise Forbidden(
            f"微信推送时间戳过期或无效 / WeChat push timestamp missing or more than "
            f"{MAX_SKEW_S} s off (a replayed push?)"
        )


def verify_wechat_url(ops: Ops, query: Mapping[str, str]) -> str:
    """WeChat's server-URL check: the `echostr` back when the signature over the push token
    matches (`Forbidden` otherwise)."""
    secret = ops.settings.channels.wechat.push_token
    if secret is None:
        raise Forbidden("未设置 channels.wechat.push_token / WeChat push token not set")
    expected = wechat_push_signature(
        secret.get_secret_value(), query.get("timestamp", ""), query.get("nonce", "")
    )
    if not hmac.compare_digest(expected, query.get("signature") or ""):
        raise Forbidden("微信推送签名不符 / WeChat push signature does not match")
    echo = query.get("echostr") or ""
    if not echo or len(echo) > 128 or not echo.isprintable():
        raise InvalidInput("echostr 缺失或无效 / echostr missing or invalid", field="echostr")
    return echo


def _sends(conn, receipts) -> list[tuple[SendRef, str | None, str | None]]:
    keys = sorted({r.idempotency_key for r in receipts if r.idempotency_key})
    pids = sorted({r.provider_id for r in receipts if r.provider_id})
    o = outbox.c
    refs = []
    for column, values in ((o.key, keys), (o.provider_id, pids)):
        for start in range(0, len(values), 500):
            q = sa.select(o.key, o.user_id, o.channel, o.provider_id, o.payload).where(
                column.in_(values[start : start + 500]), o.kind == "message"
            )
            for r in conn.execute(q):
                address = (r.payload or {}).get("address") if isinstance(r.payload, dict) else None
                refs.append((SendRef(r.key, r.user_id, r.channel or ""), r.provider_id, address))
    return refs


def record_receipts(
    ops: Ops, provider: str, body: bytes, query: Mapping[str, str]
) -> ReceiptOutcome:
    """Verify, read and record one report pushed by `provider` (aliyun, tencent, wechat).
    A bad sender is `Forbidden` and nothing is read; a malformed report is `InvalidInput`
    naming the item and field, and nothing is recorded."""
    from careops.intake.service import receive_events

    if provider not in PROVIDERS:
        raise InvalidInput(
            f"未知回执来源 {provider[:32]!r} / unknown receipt provider; known: "
            + ", ".join(PROVIDERS),
            field="provider",
        )
    if provider == "wechat":
        _check_fresh(query)
    else:
        _check_token(ops, query)
    receipts = parse_report(provider, body, query, ops.settings)  # WeChat: signature first
    with ops.state.connect() as conn:
        refs = _sends(conn, receipts)
    batch = receipts_to_events(receipts, lookup(refs), now=now())
    events = [
        {
            **row,
            "ts": row["ts"].isoformat(),
            "properties": json.loads(row["properties"]),
        }
        for row in batch.events.to_pylist()
    ]
    writer = dataclasses.replace(
        ops, actor=Actor(f"receipts-{provider}", "system", scopes=("events.write",))
    )
    if events:
        result = receive_events(writer, events)
        if any(r.field != "event_id" for r in result.rejected):  # never ours to fix
            bad = next(r for r in result.rejected if r.field != "event_id")
            raise InvalidInput(f"回执事件无效 / receipt event refused: {bad.reason}")
    delivered = {e["properties"]["send_id"] for e in events}
    failed = {ref.idempotency_key: r.code or "failed" for ref, r in batch.failed}
    o = outbox.c
    with ops.state.begin() as conn:
        done = o.status == "sent"  # a send marked delivered or failed stays so
        if delivered:
            conn.execute(
                sa.update(outbox)
                .where(o.key.in_(sorted(delivered)), done)
                .values(status="delivered")
            )
        for key, code in failed.items():
            conn.execute(
                sa.update(outbox)
                .where(o.key == key, done)
                .values(status="failed", error=f"receipt:{code}"[:500])
            )
        ops.audit(
            "journeys.receipts",
            f"receipts:{provider}",
            {
                "receipts": len(receipts),
                "delivered": len(delivered),
                "failed": len(failed),
                "unmatched": len(batch.unmatched),
            },
            conn=conn,
        )
    ack_type, ack = ACKS[provider]
    return ReceiptOutcome(
        provider,
        len(receipts),
        len(delivered),
        len(failed),
        len(batch.unmatched),
        ack_type,
        ack,
    )

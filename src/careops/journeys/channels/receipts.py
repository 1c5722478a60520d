"""Delivery receipts: each provider's report parsed into `Receipt`s, and delivered ones turned
into canonical `message_delivered` events.

- Alibaba Cloud SMS: HTTP push of SmsReport, a JSON array (`biz_id`, `out_id`, `success`,
  `err_code`, `report_time`) → `aliyun_receipts`.
- Tencent Cloud SMS: callback, a JSON array (`sid`, `report_status` SUCCESS/FAIL, `errmsg`,
  `user_receive_time`) → `tencent_receipts`.
- WeChat: event push, XML `TEMPLATESENDJOBFINISH` (`MsgID`, `Status`) or
  `subscribe_msg_sent_event` (`List` of `MsgID`, `ErrorCode`), signed with the server Token →
  `wechat_receipts`.
- JPush: pulled from `/v3/status/message`, per registration id (`status` 0 = delivered) →
  `jpush_receipts`.
- SMTP: none (acceptance by the server is `sent`; bounces are not parsed).

A parser reads the whole report or refuses it whole (`InvalidInput` naming the item and
field): nothing is half-applied. Provider times are Beijing time and are stored in UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from careops.errors import Forbidden, InvalidInput
from careops.journeys.channels.base import Receipt

PROVIDER_TZ = ZoneInfo("Asia/Shanghai")
MAX_REPORT_BYTES = 5_000_000
MAX_ITEMS = 10_000


def _load_array(body: bytes | str, provider: str) -> list[Any]:
    if len(body) > MAX_REPORT_BYTES:
        raise InvalidInput(f"{provider} 回执超过 {MAX_REPORT_BYTES} 字节 / report too large")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{provider} 回执不是 JSON / report is not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise InvalidInput(f"{provider} 回执应为 JSON 数组 / report must be a JSON array")
    if len(data) > MAX_ITEMS:
        raise InvalidInput(f"{provider} 回执超过 {MAX_ITEMS} 条 / more than {MAX_ITEMS} items")
    return data


def _field(item: Any, i: int, name: str, provider: str, kinds: tuple[type, ...] = (str,)) -> Any:
    if not isinstance(item, dict):
        raise InvalidInput(f"{provider} 回执第 {i} 条不是对象 / item {i} is not an object")
    value = item.get(name)
    if not isinstance(value, kinds) or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(
            f"{provider} 回执第 {i} 条字段 {name} 缺失或类型错误 / item {i}: field {name!r} "
            "missing or of the wrong type",
            field=name,
        )
    return value


def _local_time(value: Any, i: int, name: str, provider: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return (
            datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
            .replace(tzinfo=PROVIDER_TZ)
            .astimezone(UTC)
        )
    except ValueError as exc:
        raise InvalidInput(
            f"{provider} 回执第 {i} 条 {name} 时间格式错误 / item {i}: {name} is not "
            "'YYYY-MM-DD HH:MM:SS'",
            field=name,
        ) from exc


def aliyun_receipts(body: bytes | str) -> list[Receipt]:
    """Alibaba Cloud SmsReport (HTTP batch push)."""
    out = []
    for i, item in enumerate(_load_array(body, "aliyun")):
        biz_id = _field(item, i, "biz_id", "aliyun")
        success = _field(item, i, "success", "aliyun", (bool,))
        out.append(
            Receipt(
                provider="aliyun",
                provider_id=biz_id,
                delivered=success,
                ts=_local_time(item.get("report_time"), i, "report_time", "aliyun"),
                idempotency_key=item.get("out_id") or None,
                address=item.get("phone_number"),
                code=item.get("err_code"),
                description=item.get("err_msg"),
            )
        )
    return out


def tencent_receipts(body: bytes | str) -> list[Receipt]:
    """Tencent Cloud SMS delivery callback."""
    out = []
    for i, item in enumerate(_load_array(body, "tencent")):
        sid = _field(item, i, "sid", "tencent")
        status = _field(item, i, "report_status", "tencent")
        if status not in ("SUCCESS", "FAIL"):
            raise InvalidInput(
                f"tencent 回执第 {i} 条 report_status={status!r} / item {i}: report_status must "
                "be SUCCESS or FAIL",
                field="report_status",
            )
        out.append(
            Receipt(
                provider="tencent",
                provider_id=sid,
                delivered=status == "SUCCESS",
                ts=_local_time(item.get("user_receive_time"), i, "user_receive_time", "tencent"),
                address=item.get("mobile"),
                code=item.get("errmsg"),
                description=item.get("description"),
            )
        )
    return out


def wechat_push_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's push signature: SHA-1 of the sorted, concatenated token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def wechat_receipts(
    body: bytes | str, *, token: str, signature: str, timestamp: str, nonce: str
) -> list[Receipt]:
    """A WeChat event push: the signature checked first (`Forbidden` when it does not match),
    then read: `TEMPLATESENDJOBFINISH` (template message: `MsgID`, `Status` success /
    failed:user block / failed: system failed) or `subscribe_msg_sent_event` (subscribe
    messages: one `List` per message with `MsgID`, `ErrorCode`, `ErrorStatus`); any other
    event gives no receipt."""
    expected = wechat_push_signature(token, timestamp, nonce)
    if not hmac.compare_digest(expected, signature or ""):
        raise Forbidden("微信推送签名不符 / WeChat push signature does not match")
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > 100_000:
        raise InvalidInput("微信推送过大 / WeChat push too large")
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise InvalidInput("微信推送含 DTD / DTDs and entities are refused")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise InvalidInput(f"微信推送不是 XML / not XML: {exc}") from exc
    created = (root.findtext("CreateTime") or "").strip()
    ts = (
        datetime.fromtimestamp(int(created), UTC)
        if created.isdigit() and len(created) <= 11
        else None
    )
    openid = root.findtext("FromUserName")
    event = (root.findtext("Event") or "").strip()
    if event == "TEMPLATESENDJOBFINISH":
        msg_id = (root.findtext("MsgID") or "").strip()
        status = (root.findtext("Status") or "").strip()
        if not msg_id or not status:
            raise InvalidInput(
                "微信推送缺少 MsgID 或 Status / MsgID or Status missing", field="MsgID"
            )
        return [Receipt("wechat", msg_id, status == "success", ts, address=openid, code=status)]
    if event == "subscribe_msg_sent_event":
        out = []
        for n, item in enumerate(root.iter("List")):
            msg_id = (item.findtext("MsgID") or "").strip()
            status = (item.findtext("ErrorStatus") or "").strip()
            if not msg_id:
                raise InvalidInput(
                    f"微信推送第 {n} 条缺少 MsgID / List {n}: no MsgID", field="MsgID"
                )
            out.append(
                Receipt(
                    "wechat",
                    msg_id,
                    (item.findtext("ErrorCode") or "").strip() == "0",
                    ts,
                    address=openid,
                    code=status or item.findtext("ErrorCode"),
                )
            )
        return out
    return []


def wechat_receipt(
    body: bytes | str, *, token: str, signature: str, timestamp: str, nonce: str
) -> Receipt | None:
    """The first receipt of a WeChat push (`wechat_receipts`), None when it carries none."""
    found = wechat_receipts(
        body, token=token, signature=signature, timestamp=timestamp, nonce=nonce
    )
    return found[0] if found else None


def jpush_receipts(data: Mapping[str, Any], msg_id: str) -> list[Receipt]:
    """JPush `/v3/status/message` answer: `{registration_id: {"status": 0..}}`, 0 delivered."""
    out = []
    for rid, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("status"), int):
            raise InvalidInput(
                f"jpush 回执 {rid!r} 缺少 status / no integer status", field="status"
            )
        out.append(
            Receipt(
                provider="jpush",
                provider_id=str(msg_id),
                delivered=item["status"] == 0,
                ts=None,
                address=str(rid),
                code=str(item["status"]),
            )
        )
    return out


@dataclass(frozen=True)
class SendRef:
    """What the engine knows of a send: enough to name its patient and channel."""

    idempotency_key: str
    user_id: str
    channel: str


@dataclass(frozen=True)
class ReceiptBatch:
    """Receipts sorted out: `events` (canonical `events` rows, name `message_delivered`),
    `failed` (reports of non-delivery, for the send log) and `unmatched` (no known send)."""

    events: pa.Table
    failed: list[tuple[SendRef, Receipt]]
    unmatched: list[Receipt]


def receipts_to_events(
    receipts: Iterable[Receipt],
    find: Callable[[Receipt], SendRef | None],
    now: datetime | None = None,
) -> ReceiptBatch:
    """Delivered receipts as `message_delivered` events. `find` names the send a receipt
    belongs to (by `idempotency_key` or `provider_id`). The event id is derived from the
    send's key, so ingesting the same receipt twice adds one event."""
    from careops.schema import TABLES

    rows, failed, unmatched = [], [], []
    seen: set[str] = set()
    when = now or datetime.now(UTC)
    for r in receipts:
        ref = find(r)
        if ref is None:
            unmatched.append(r)
            continue
        if not r.delivered:
            failed.append((ref, r))
            continue
        event_id = f"{ref.idempotency_key}-message_delivered"
        if event_id in seen:
            continue
        seen.add(event_id)
        props = {
            "send_id": ref.idempotency_key,
            "channel": ref.channel,
            "provider": r.provider,
            "provider_id": r.provider_id,
        }
        rows.append(
            {
                "event_id": event_id,
                "user_id": ref.user_id,
                "ts": r.ts or when,
                "name": "message_delivered",
                "properties": json.dumps(props, ensure_ascii=False, sort_keys=True),
            }
        )
    table = pa.Table.from_pylist(rows, schema=TABLES["events"].arrow_schema())
    return ReceiptBatch(table, failed, unmatched)


def _same_address(address: str) -> str:
    """Phone numbers compared in E.164 (providers report 13800000000, +8613800000000 …)."""
    from careops.journeys.channels.addresses import phone_e164

    return phone_e164(address) or address.strip()


def lookup(
    refs: Iterable[tuple[SendRef, str | None] | tuple[SendRef, str | None, str | None]],
) -> Callable[[Receipt], SendRef | None]:
    """A `find` for `receipts_to_events` from (send, provider id[, address]) tuples: a receipt
    is matched by its echoed idempotency key first, else by its provider id when that names
    one send, else by provider id and address (a JPush batch shares one msg_id)."""
    by_key: dict[str, SendRef] = {}
    by_pid: dict[str, list[SendRef]] = {}
    by_pid_addr: dict[tuple[str, str], SendRef] = {}
    for ref, pid, *rest in refs:
        by_key[ref.idempotency_key] = ref
        if pid:
            by_pid.setdefault(pid, []).append(ref)
            if rest and rest[0]:
                by_pid_addr[(pid, _same_address(rest[0]))] = ref

    def find(r: Receipt) -> SendRef | None:
        if r.idempotency_key and r.idempotency_key in by_key:
            return by_key[r.idempotency_key]
        candidates = by_pid.get(r.provider_id or "", [])
        if len(candidates) == 1:
            return candidates[0]
        return by_pid_addr.get((r.provider_id or "", _same_address(r.address or "")))

    return find


#: what each provider expects back once its report is taken (else it pushes again)
ACKS: dict[str, tuple[str, bytes]] = {
    "aliyun": ("application/json", '{"code":0,"msg":"接收成功"}'.encode()),
    "tencent": ("application/json", b'{"result":0,"errmsg":"OK"}'),
    "wechat": ("text/plain", b"success"),
}


def parse_report(
    provider: str, body: bytes, query: Mapping[str, str], settings: object
) -> list[Receipt]:
    """The receipts of one pushed report, for an HTTP route to call: `provider` is aliyun,
    tencent or wechat; WeChat's signature is checked against `channels.wechat.push_token`
    (`Forbidden` when it is not set or does not match). Answer the provider with `ACKS`."""
    if provider == "aliyun":
        return aliyun_receipts(body)
    if provider == "tencent":
        return tencent_receipts(body)
    if provider == "wechat":
        secret = settings.channels.wechat.push_token  # type: ignore[attr-defined]
        if secret is None:
            raise Forbidden("未设置 channels.wechat.push_token / WeChat push token not set")
        return wechat_receipts(
            body,
            token=secret.get_secret_value(),
            signature=query.get("signature", ""),
            timestamp=query.get("timestamp", ""),
            nonce=query.get("nonce", ""),
        )
    raise InvalidInput(
        f"未知回执来源 {provider!r} / unknown report source; known: aliyun, tencent, wechat",
        field="provider",
    )

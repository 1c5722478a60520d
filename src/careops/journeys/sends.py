"""The send log: one row per decided send (every send, defer and suppress decision of the
engine), with where the send got to, for `careops sends export`.

Columns: user_id, journey, step, channel, purpose, decided_at, sent_at, status
(sent|delivered|suppressed|deferred|failed), reason (for suppressed, deferred and failed),
idempotency_key; times UTC ISO 8601. A send decided but not yet handed to its channel is
`deferred` with reason `awaiting_dispatch` (it is neither sent nor lost).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from careops.errors import InvalidInput
from careops.journeys import store

if TYPE_CHECKING:
    from careops.service import Ops

COLUMNS = (
    "user_id", "journey", "step", "channel", "purpose", "decided_at", "sent_at", "status",
    "reason", "idempotency_key",
)  # fmt: skip
STATUSES = ("sent", "delivered", "suppressed", "deferred", "failed")


def _iso(t: dt.datetime | None) -> str:
    t = store.utc(t)
    return t.isoformat().replace("+00:00", "Z") if t is not None else ""


def rows(ops: Ops, journey: str | None = None) -> Iterator[dict[str, str]]:
    """The send log in decision order (optionally of one journey)."""
    ops.require("journeys.read")
    d, o = store.decisions.c, store.outbox.c
    q = (
        sa.select(
            d.user_id,
            d.journey,
            d.step,
            d.channel,
            d.purpose,
            d.at,
            d.action,
            d.reason,
            d.key,
            o.status.label("o_status"),
            o.sent_at,
            o.error,
            o.kind,
        )
        .select_from(store.decisions.outerjoin(store.outbox, o.key == d.key))
        .where(d.action.in_(["send", "defer", "suppress"]))
        .order_by(d.id)
    )
    if journey is not None:
        q = q.where(d.journey == journey)
    with ops.state.connect() as conn:
        for r in conn.execution_options(yield_per=5000).execute(q):
            if r.action == "defer":
                status, reason = "deferred", r.reason
            elif r.action == "suppress":
                status, reason = "suppressed", r.reason
            elif r.o_status == "pending":
                status, reason = "deferred", "awaiting_dispatch"
            elif r.o_status == "sending":
                status, reason = "deferred", "in_flight"
            elif r.o_status == "unknown":  # interrupted in flight: someone must check
                status, reason = "failed", "delivery_unknown"
            elif r.o_status == "failed":
                status, reason = "failed", r.error or "failed"
            else:
                status, reason = r.o_status or "sent", ""
            yield {
                "user_id": r.user_id,
                "journey": r.journey,
                "step": r.step or "",
                "channel": r.channel or (r.kind if r.kind and r.kind != "message" else "") or "",
                "purpose": r.purpose or "",
                "decided_at": _iso(r.at),
                "sent_at": _iso(r.sent_at) if status in ("sent", "delivered") else "",
                "status": status,
                "reason": reason or "",
                "idempotency_key": r.key or "",
            }


def export(ops: Ops, path: str | Path, journey: str | None = None) -> int:
    """Write the send log to a CSV file (UTF-8); return the number of rows."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise InvalidInput(
            f"导出文件应以 .csv 结尾 / the send log is written to a .csv file, not {path.name!r}"
        )
    if path.is_dir():
        raise InvalidInput(f"这是一个目录 / {path} is a directory")
    tmp = path.with_name(path.name + ".part")
    n = 0
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows(ops, journey):
            w.writerow(row)
            n += 1
    tmp.replace(path)
    ops.audit("sends.export", str(path), {"rows": n, "journey": journey})
    return n

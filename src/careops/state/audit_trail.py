"""Reading the audit trail: list entries by who, what, which patient and when; verify the chain.

One implementation behind `careops audit list|verify` and `GET /api/v1/audit[/verify]`; both
need the `audit.read` permission (auditors, administrators), and reading the trail is itself
audited (`audit.read`, `audit.verify`).

Verification walks the rows in id order and recomputes each hash (`store.row_hash`):
- a row whose stored hash differs from its recomputed one was **edited**;
- a row whose `prev_hash` is not the hash of the chained row before it follows a **deletion**
  or a **reordering** (or an insertion by hand);
- rows with no hash *before* the first chained row were written by versions without the chain
  (older stores): they are counted as unchained legacy rows, not as tampering. A row with no hash
  *after* the chain began is tampering (someone cleared a hash to hide an edit).
Deleting the newest rows leaves no gap for the chain to show: the report gives the head (last
id and hash) so an auditor can note it and compare the next time (`expect_head`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from careops.errors import InvalidInput
from careops.state.models import audit_log
from careops.state.store import GENESIS, row_hash

if TYPE_CHECKING:
    from careops.service import Ops

MAX_LIMIT = 10_000


class AuditEntry(BaseModel):
    """One audit row as shown to auditors."""

    id: int
    at: dt.datetime
    actor: str
    role: str | None = None
    action: str
    target: str | None = None
    subject: str | None = None
    detail: Any = None
    purpose: str | None = None
    source_ip: str | None = None
    request_id: str | None = None
    hash: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list; every field optional. `since` inclusive, `until` exclusive."""

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and _aware(self.since) >= _aware(self.until):
            raise InvalidInput("since 须早于 until / since must be before until")

    def where(self) -> list[sa.ColumnElement[bool]]:
        c = audit_log.c
        out: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (c.actor, self.actor),
            (c.action, self.action),
            (c.subject, self.subject),
        ):
            if value is not None:
                out.append(column == value)
        if self.since is not None:
            out.append(c.at >= _aware(self.since))
        if self.until is not None:
            out.append(c.at < _aware(self.until))
        return out


def list_audit(
    engine: Engine, where: AuditFilter | None = None, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """Entries matching `where`, newest first, one page of them, and how many match in all."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit 须在 1–{MAX_LIMIT} / limit must be 1–{MAX_LIMIT}: {limit}")
    if offset < 0:
        raise InvalidInput(f"offset 不能为负 / offset must be ≥ 0: {offset}")
    conditions = (where or AuditFilter()).where()
    query = sa.select(audit_log).where(*conditions).order_by(audit_log.c.id.desc())
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(audit_log).where(*conditions)
        ).scalar_one()
        rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
    entries = [
        AuditEntry(**{k: v for k, v in r.items() if k != "prev_hash"} | {"at": _aware(r["at"])})
        for r in rows
    ]
    return entries, int(total)


@dataclass(frozen=True)
class Verification:
    """What verifying the chain found. `ok` is False at the first broken row (`broken_id`,
    with `reason`); later rows are not judged (every row after a break follows from it)."""

    ok: bool
    rows: int  # rows read
    chained: int  # rows with a hash that checked out
    legacy: int  # unchained rows from before the chain
    broken_id: int | None = None
    reason: str | None = None
    head_id: int | None = None  # the last chained row, to compare against a noted one
    head_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "chained": self.chained,
            "legacy": self.legacy,
            "broken_id": self.broken_id,
            "reason": self.reason,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
        }


def verify_chain(engine: Engine, *, expect_head: str | None = None) -> Verification:
    """Recompute the audit chain from the first row (see the module's docstring). With
    `expect_head` (a head hash noted earlier), also report it missing: rows deleted from the end
    of the trail leave no gap, but take that head with them."""
    prev = GENESIS
    rows = chained = legacy = 0
    head_id: int | None = None
    seen_head = expect_head is None
    query = sa.select(audit_log).order_by(audit_log.c.id)

    def broken(row_id: int, reason: str) -> Verification:
        return Verification(False, rows, chained, legacy, row_id, reason, head_id, prev)

    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=2000).execute(query)
        for row in result.mappings():
            rows += 1
            if row["hash"] is None:
                if chained:
                    return broken(row["id"], "unchained row after the chain began (hash removed)")
                legacy += 1
                continue
            if row["prev_hash"] != prev:
                what = (
                    "first chained row does not start at genesis"
                    if prev == GENESIS
                    else ("previous row deleted, inserted or reordered")
                )
                return broken(row["id"], f"prev_hash does not match: {what}")
            if row_hash(row) != row["hash"]:
                return broken(row["id"], "row edited: its hash does not match its content")
            prev, head_id = row["hash"], row["id"]
            chained += 1
            seen_head = seen_head or prev == expect_head
    if not seen_head:
        return Verification(
            False,
            rows,
            chained,
            legacy,
            None,
            "expected head not found: rows removed at the end",
            head_id,
            prev if chained else None,
        )
    return Verification(True, rows, chained, legacy, None, None, head_id, prev if chained else None)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# -- the helper every read of personal or clinical data calls


def audit_read(
    ops: Ops,
    subject: str,
    fields: list[str] | tuple[str, ...],
    *,
    route: str | None = None,
    action: str = "patient.read",
) -> None:
    """Record that the caller read `fields` of patient `subject` (PIPL: who looked at what).
    The request's id, client address and declared purpose (`X-Purpose`) and the caller's role
    come from `ops`; `route` names the API path or page that showed the data. Call it after the
    read succeeded, once per patient (a list of patients: once per patient shown)."""
    detail: dict[str, Any] = {"fields": sorted(set(fields))}
    if route:
        detail["route"] = route
    ops.audit(action, f"patient:{subject}", detail, subject=subject)


# -- the service functions the CLI and the API share (permission checked, the reading audited)


def read_trail(
    ops: Ops, where: AuditFilter | None = None, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """`list_audit` for a caller holding `audit.read`; the listing is itself audited."""
    ops.require("audit.read")
    entries, total = list_audit(ops.state, where, limit=limit, offset=offset)
    ops.audit("audit.list", detail={"filter": _described(where), "returned": len(entries)})
    return entries, total


def verify(ops: Ops, *, expect_head: str | None = None) -> Verification:
    """`verify_chain` for a caller holding `audit.read`; the verification and its outcome are
    audited (after it ran, so the entry is not part of what it judged)."""
    ops.require("audit.read")
    result = verify_chain(ops.state, expect_head=expect_head)
    ops.audit("audit.verify", detail={"ok": result.ok, "broken_id": result.broken_id})
    return result


def _described(where: AuditFilter | None) -> dict[str, str]:
    if where is None:
        return {}
    return {
        k: v.isoformat() if isinstance(v, dt.datetime) else v
        for k, v in vars(where).items()
        if v is not None
    }

"""The audit trail for auditors: list entries, verify the hash chain (`audit.read`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from careops.api.deps import require
from careops.api.pages import Page, PageParams, page_params
from careops.service import Ops
from careops.state import audit_trail
from careops.state.audit_trail import AuditEntry, AuditFilter

router = APIRouter(prefix="/audit", tags=["audit"])

Auditor = Annotated[Ops, Depends(require("audit.read"))]
_Text = Annotated[str | None, Query(min_length=1, max_length=128)]


class VerificationOut(BaseModel):
    """The chain's state: intact or the first broken row and why; the head to note down."""

    ok: bool
    rows: int
    chained: int
    legacy: int
    broken_id: int | None
    reason: str | None
    head_id: int | None
    head_hash: str | None


@router.get("", summary="审计日志 (最新在前) / audit entries, newest first")
def list_entries(
    ops: Auditor,
    page: Annotated[PageParams, Depends(page_params)],
    actor: Annotated[_Text, Query(description="操作者 / actor, e.g. user:zhang")] = None,
    action: Annotated[_Text, Query(description="动作 / action, e.g. patient.read")] = None,
    subject: Annotated[_Text, Query(description="患者 user_id / the patient concerned")] = None,
    since: Annotated[dt.datetime | None, Query(description="起 (含) / from, inclusive")] = None,
    until: Annotated[dt.datetime | None, Query(description="止 (不含) / to, exclusive")] = None,
) -> Page[AuditEntry]:
    """Audit entries matching every given filter (times without an offset are UTC)."""
    where = AuditFilter(actor=actor, action=action, subject=subject, since=since, until=until)
    items, total = audit_trail.read_trail(ops, where, limit=page.limit, offset=page.offset)
    return Page[AuditEntry](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/verify", summary="校验审计哈希链 / verify the audit hash chain")
def verify(
    ops: Auditor,
    expect_head: Annotated[
        str | None,
        Query(
            pattern="^[0-9a-f]{64}$",
            description="上次记下的链头哈希 / a head hash noted earlier (finds a cut end)",
        ),
    ] = None,
) -> VerificationOut:
    """Recompute the chain: `ok`, or the first broken row (`broken_id`) and the reason."""
    return VerificationOut(**audit_trail.verify(ops, expect_head=expect_head).as_dict())

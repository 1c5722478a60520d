"""The review list of sends whose outcome is unknown (待核实发送): a person checks each with the
provider and says what happened.

A send interrupted inside the provider call (a crash between the `sending` mark and the
recorded outcome, on a channel that does not drop a resend by key) is marked `unknown` by
`dispatch.reconcile`: it may or may not have reached the patient, so it is never resent
blindly. `list_unknown` pages through them (by journey, channel and age); `resolve` records
the person's answer:

- `sent`     → the row is `sent` (the provider has it); nothing goes out again.
- `not_sent` → the row is `pending` again under the SAME idempotency key, due at the first
  moment outside the quiet hours and holidays that apply to its purpose; the dispatcher hands
  it over once more. This happens once per send: a send re-queued by a review that comes back
  `unknown` can only be resolved as `sent` or left for the provider's own records (a second
  re-queue is refused), so a flapping provider never turns into repeated messages.

Both need `journeys.write` (admin, operations): the list names patients one by one, which a
`journeys.read` holder (a health manager, who sees only assigned patients) may not see.
Each resolution is one transaction: the row is locked (`FOR UPDATE` on PostgreSQL), checked
to be still `unknown`, changed, and audited (`journey.unknown.resolve`, with who, the answer
and the note; subject: the patient).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from careops.errors import Conflict, InvalidInput, NotFound
from careops.journeys import store

if TYPE_CHECKING:
    from careops.service import Ops

Outcome = Literal["sent", "not_sent"]
OUTCOMES: tuple[str, ...] = ("sent", "not_sent")
MAX_PER_PAGE = 500
AUDIT_ACTION = "journey.unknown.resolve"
_MAX_AGE_S = 10 * 365 * 86400


class UnknownSend(BaseModel):
    """One send whose outcome is unknown."""

    key: str
    journey: str
    step: str
    user_id: str
    kind: str
    channel: str | None
    purpose: str | None
    decided_at: dt.datetime
    age_s: int  # since the decision
    attempts: int
    error: str | None
    requeued_before: bool  # a review already re-queued it once


class UnknownPage(BaseModel):
    """A page of the review list (oldest decision first) and the total that matches."""

    total: int
    page: int
    per_page: int
    items: list[UnknownSend]


class Resolution(BaseModel):
    """What a review did to one send."""

    key: str
    outcome: Outcome
    status: str  # the row's status now: sent | pending
    next_try: dt.datetime | None
    resolved_by: str


def _target(key: str) -> str:
    return f"outbox:{key}"


def _requeued(conn: sa.Connection, keys: list[str]) -> set[str]:
    """Of `keys`, those a review has re-queued before (read from the audit trail)."""
    from careops.state.models import audit_log

    if not keys:
        return set()
    a = audit_log.c
    got: set[str] = set()
    targets = [_target(k) for k in keys]
    for start in range(0, len(targets), 1000):
        q = sa.select(a.target, a.detail).where(
            a.action == AUDIT_ACTION, a.target.in_(targets[start : start + 1000])
        )
        for r in conn.execute(q):
            if (r.detail or {}).get("outcome") == "not_sent":
                got.add(r.target.removeprefix("outbox:"))
    return got


def list_unknown(
    ops: Ops,
    *,
    journey: str | None = None,
    channel: str | None = None,
    min_age_s: int = 0,
    page: int = 1,
    per_page: int = 50,
    now: dt.datetime | None = None,
) -> UnknownPage:
    """The sends whose outcome is unknown, oldest decision first, `per_page` (≤ 500) a page;
    optionally of one journey, one channel, or decided at least `min_age_s` seconds ago."""
    from careops.service import now as clock

    ops.require("journeys.write")  # it names patients: the people who resolve, not every reader
    if page < 1:
        raise InvalidInput("页码从 1 开始 / page starts at 1", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(
            f"每页条数应在 1–{MAX_PER_PAGE} / per_page must be 1–{MAX_PER_PAGE}", field="per_page"
        )
    if not 0 <= min_age_s <= _MAX_AGE_S:
        raise InvalidInput("最短时长无效 / min_age_s out of range", field="min_age_s")
    at = (now or clock()).astimezone(dt.UTC)
    o = store.outbox.c
    where = [o.status == "unknown"]
    if journey is not None:
        where.append(o.journey == journey)
    if channel is not None:
        where.append(sa.func.coalesce(o.channel, o.kind) == channel)
    if min_age_s:
        where.append(o.decided_at <= at - dt.timedelta(seconds=min_age_s))
    with ops.state.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(store.outbox)
            .where(*where)
            .order_by(o.decided_at, o.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).all()
        again = _requeued(conn, [r.key for r in rows])
    items = []
    for r in rows:
        decided = store.utc(r.decided_at)
        items.append(
            UnknownSend(
                key=r.key, journey=r.journey, step=r.step, user_id=r.user_id, kind=r.kind,
                channel=r.channel, purpose=r.purpose, decided_at=decided,
                age_s=max(0, int((at - decided).total_seconds())), attempts=r.attempts,
                error=r.error, requeued_before=r.key in again,
            )
        )  # fmt: skip
    return UnknownPage(total=total, page=page, per_page=per_page, items=items)


def resolve(
    ops: Ops,
    key: str,
    outcome: str,
    note: str = "",
    *,
    now: dt.datetime | None = None,
) -> Resolution:
    """Record a person's answer for the unknown send `key`: `sent` marks it sent, `not_sent`
    re-queues it once under the same key (due outside the quiet hours of its purpose).
    Audited; refused when the send is not (or no longer) unknown."""
    from careops.journeys.policy import open_moment
    from careops.service import now as clock

    ops.require("journeys.write")
    if outcome not in OUTCOMES:
        raise InvalidInput(
            f"结果应为 sent 或 not_sent / outcome must be sent or not_sent, not {outcome!r}",
            field="outcome",
        )
    if not key or len(key) > 200 or any(ord(c) < 32 for c in key):
        raise InvalidInput("发送键无效 / invalid idempotency key", field="key")
    if len(note) > 500 or any(ord(c) < 32 and c != "\t" for c in note):
        raise InvalidInput(
            "备注过长或含控制字符 / the note is too long or has control characters", field="note"
        )
    at = (now or clock()).astimezone(dt.UTC)
    o = store.outbox.c
    actor = f"{ops.actor.kind}:{ops.actor.name}"
    with ops.state.begin() as conn:
        store.writer_lock(conn)
        q = sa.select(store.outbox).where(o.key == key)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"没有这条发送 / no send with key {key!r}")
        if row.status != "unknown":
            raise Conflict(
                f"这条发送的状态是 {row.status}, 不是待核实 / send {key!r} is {row.status}, "
                "not unknown: nothing to resolve"
            )
        if outcome == "sent":
            values = {"status": "sent", "sent_at": at, "next_try": None,
                      "error": f"reviewed: sent ({actor})"[:500]}  # fmt: skip
        else:
            if _requeued(conn, [key]):
                raise Conflict(
                    f"这条发送已重新排队过一次 / send {key!r} was re-queued once already; check "
                    "with the provider and resolve it as sent, or leave it"
                )
            exempt = bool((row.payload or {}).get("medical_safety"))
            values = {"status": "pending", "sent_at": None,
                      "next_try": open_moment(at, row.purpose or "service", ops.settings, exempt),
                      "error": f"reviewed: not sent, re-queued ({actor})"[:500]}  # fmt: skip
        conn.execute(sa.update(store.outbox).where(o.id == row.id).values(**values))
        ops.audit(
            AUDIT_ACTION,
            _target(key),
            {"outcome": outcome, "note": note, "journey": row.journey, "channel": row.channel},
            conn=conn,
            subject=row.user_id,
        )
    return Resolution(
        key=key, outcome=outcome, status=values["status"],  # type: ignore[arg-type]
        next_try=values["next_try"], resolved_by=actor,
    )  # fmt: skip

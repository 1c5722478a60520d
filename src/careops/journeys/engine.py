"""The journey engine: enter patients, advance due steps in batches, hand sends to the policy.

One function, `tick(ops, journeys, now)`, is the whole engine at one moment; the live worker
calls it with the wall clock, `careops journeys run` with simulated time (journeys/clock.py),
so both take the same code path. A tick:

1. **enter** — each journey's trigger evaluated set-wise over (last check, now] (audience.py);
   the re-entry rule filters who may enter again; new enrolments start at the first step, due
   now. The trigger's cursor moves in the same transaction.
2. **wake** — enrolments waiting for an event that has happened move on.
3. **advance** — batches of due enrolments are claimed (`FOR UPDATE SKIP LOCKED` on
   PostgreSQL: several workers take disjoint batches; SQLite has one writer at a time). For a
   batch: exit conditions first, then rounds; in a round every enrolment runs its current step,
   grouped by (journey, step) — branches evaluate a rule once for the group, splits hash, waits
   set a timer, and every message candidate of the round is decided by `policy.decide` in one
   call (consent, caps counting the outbox, quiet hours, priority, channel, global control).
   A sent action becomes an outbox row whose idempotency key is
   `j:<journey>:<enrolment>:<seq>:<step>`; tasks are raised by the same key. The batch's
   progress, outbox rows, tasks and decisions commit in ONE transaction: a crash before the
   commit loses the whole batch (it runs again, with the same keys), after it nothing repeats.
4. **dispatch** (dispatch.py) — pending outbox rows go to their channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from careops.journeys import store
from careops.journeys.audience import MEDICAL_ALERT_EVENTS, Reader
from careops.journeys.definition import (
    EXIT,
    BranchStep,
    CouponStep,
    Journey,
    Loaded,
    MessageStep,
    PointsStep,
    SplitStep,
    TaskStep,
    WaitStep,
    WebhookStep,
    parse_duration,
)

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from sqlalchemy.engine import Connection

    from careops.service import Ops

BATCH = 5000
_US = 1_000_000


@dataclass
class TickReport:
    """What one tick did (counts)."""

    entered: int = 0
    woken: int = 0
    batches: int = 0
    steps: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0
    exited: int = 0
    completed: int = 0
    dispatched: int = 0

    def add(self, other: TickReport) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass(slots=True)
class _Rec:
    """One claimed enrolment, changed in memory until the batch commits."""

    id: int
    journey: str
    user_id: str
    entered_at: dt.datetime
    step: str | None
    seq: int
    step_at: dt.datetime
    waiting: bool
    next_due: dt.datetime | None
    arm: str | None
    status: str = "active"
    exit_reason: str | None = None
    ended_at: dt.datetime | None = None
    changed: bool = False


OUTBOX_COLUMNS = ("key", "enrolment_id", "journey", "step", "user_id", "kind", "channel",
                  "purpose", "payload", "decided_at", "status", "attempts", "next_try",
                  "sent_at")  # fmt: skip
DECISION_COLUMNS = ("at", "enrolment_id", "journey", "step", "user_id", "action", "reason",
                    "channel", "purpose", "until", "key")  # fmt: skip


@dataclass
class _Batch:
    """What a batch writes at its commit (rows kept as columns, `store.Rows`)."""

    outbox: store.Rows = field(default_factory=lambda: store.Rows(OUTBOX_COLUMNS))
    decisions: store.Rows = field(default_factory=lambda: store.Rows(DECISION_COLUMNS))
    tasks: list[Any] = field(default_factory=list)
    whole: bool = False  # a full batch (more follow): read profiles/consents once per tick


def idempotency_key(journey: str, enrolment_id: int, seq: int, step: str) -> str:
    """The key of the side effect of one step visit."""
    return f"j:{journey}:{enrolment_id}:{seq}:{step}"


def split_unit(journey: str, step: str, user_id: str) -> float:
    """A patient's fixed place in [0, 1) for a split step (a hash: the same arm on a rerun)."""
    d = hashlib.sha256(f"{journey}|{step}|{user_id}".encode()).digest()
    return int.from_bytes(d[:8], "big") / 2**64


# ------------------------------------------------------------------ the tick


def tick(
    ops: Ops,
    journeys: list[Loaded],
    now: dt.datetime,
    *,
    batch: int = BATCH,
    dispatcher: Callable[[Ops, dt.datetime], int] | None = None,
    after_batch: Callable[[int], None] | None = None,
    cache: dict | None = None,
    con: BaseBackend | None = None,
    on_claim: Callable[[list[str]], None] | None = None,
) -> TickReport:
    """Run the engine once at `now` for `journeys` (enter, wake, advance every due batch,
    dispatch). `after_batch` is called with the batch number after each commit, `on_claim`
    with a batch's patients as soon as it is claimed (tests);
    `cache` keeps rule results per as-of date across the ticks of a replay; `con` is the
    warehouse to read (default: opened read-only for this tick)."""
    if now.tzinfo is None:
        from careops.errors import InvalidInput

        raise InvalidInput("now 需要时区 / now must carry a time zone")
    if con is None:
        with ops.warehouse(read_only=True) as opened:
            return tick(ops, journeys, now, batch=batch, dispatcher=dispatcher,
                        after_batch=after_batch, cache=cache, con=opened,
                        on_claim=on_claim)  # fmt: skip
    now = now.astimezone(dt.UTC)
    report = TickReport()
    by_key = {item.journey.key: item.journey for item in journeys}
    saved = _saved_rules(ops, journeys)
    reader = Reader(con, ops.settings, saved, cache)
    for item in journeys:
        report.entered += enter(ops, reader, item.journey, now)
    report.woken += wake(ops, reader, by_key, now)
    while True:
        done = advance(ops, reader, by_key, now, journeys, batch=batch, on_claim=on_claim)
        if done is None:
            break
        report.add(done)
        report.batches += 1
        if after_batch is not None:
            after_batch(report.batches)
    if dispatcher is not None:
        report.dispatched += dispatcher(ops, now)
    return report


def _saved_rules(ops: Ops, journeys: list[Loaded]) -> dict[str, Any]:
    names = [
        j.journey.trigger.segment
        for j in journeys
        if getattr(j.journey.trigger, "segment", None) is not None
    ]
    if not names:
        return {}
    from careops.state.models import saved_segments

    with ops.state.connect() as conn:
        rows = conn.execute(
            sa.select(saved_segments.c.name, saved_segments.c.rule).where(
                saved_segments.c.name.in_(names)
            )
        )
        return {r.name: r.rule for r in rows}


# ------------------------------------------------------------------ enter


def eligible(
    conn: Connection, journey: Journey, users: set[str] | frozenset[str], now: dt.datetime
) -> tuple[list[str], dict[str, int]]:
    """Of `users`, those the re-entry rule lets in now, and each one's next entry number."""
    e = store.enrolments.c
    past: dict[str, dict] = {}
    ulist = sorted(users)
    for start in range(0, len(ulist), 5000):
        chunk = ulist[start : start + 5000]
        q = (
            sa.select(
                e.user_id,
                sa.func.max(e.entry_no).label("n"),
                sa.func.max(e.entered_at).label("last"),
                sa.func.sum(sa.case((e.status == "active", 1), else_=0)).label("active"),
            )
            .where(e.journey == journey.key, e.user_id.in_(chunk))
            .group_by(e.user_id)
        )
        for r in conn.execute(q):
            past[r.user_id] = {"n": r.n, "last": store.utc(r.last), "active": r.active}
    rule = journey.reentry
    cooldown = dt.timedelta(seconds=parse_duration(rule.cooldown)) if rule.cooldown else None
    out, numbers = [], {}
    for u in ulist:
        p = past.get(u)
        if p is None:
            ok = True
        elif rule.policy == "never" or p["active"] or p["n"] >= rule.max_entries:
            ok = False
        else:
            ok = cooldown is None or p["last"] + cooldown <= now
        if ok:
            out.append(u)
            numbers[u] = (p["n"] if p else 0) + 1
    return out, numbers


def enter(ops: Ops, reader: Reader, journey: Journey, now: dt.datetime) -> int:
    """Enrol whom the trigger brings in since the journey's last check; return how many."""
    c = store.cursors.c
    with ops.state.begin() as conn:
        row = conn.execute(
            store.skip_locked(conn, sa.select(store.cursors).where(c.journey == journey.key))
        ).first()
        if (
            row is None
            and conn.execute(sa.select(c.journey).where(c.journey == journey.key)).first()
        ):
            return 0  # another worker is entering this journey now
        since = store.utc(row.checked_at) if row else None
        if since is not None and since >= now:
            return 0
        found = reader.entrants(journey, since, now)
        users, numbers = eligible(conn, journey, found, now)
        first = journey.steps[0].id
        rows = [
            {
                "journey": journey.key, "version": journey.version, "user_id": u,
                "entry_no": numbers[u], "entered_at": now, "status": "active", "step": first,
                "seq": 0, "step_at": now, "waiting": False, "next_due": now,
            }
            for u in users
        ]  # fmt: skip
        store.add_patients(conn, users)
        inserted = 0
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            ins = store.insert_ignoring_duplicates(
                conn, store.enrolments, ["journey", "user_id", "entry_no"]
            )
            inserted += conn.execute(ins, chunk).rowcount or 0
        if row is None:  # two first checks at once: the enrolments' unique key keeps one
            conn.execute(
                store.insert_ignoring_duplicates(conn, store.cursors, ["journey"]),
                [{"journey": journey.key, "checked_at": now}],
            )
        else:
            conn.execute(
                sa.update(store.cursors).where(c.journey == journey.key).values(checked_at=now)
            )
        return len(rows)


def start_cursor(ops: Ops, journey: Journey, at: dt.datetime) -> None:
    """Set a journey's trigger cursor when it has none (a replay starts checking at `at`).
    Segment and layer triggers keep none: at their first check, the current members enter."""
    if journey.trigger.kind.startswith(("segment", "layer")):
        return
    c = store.cursors.c
    with ops.state.begin() as conn:
        if conn.execute(sa.select(c.journey).where(c.journey == journey.key)).first() is None:
            conn.execute(sa.insert(store.cursors).values(journey=journey.key, checked_at=at))


# ------------------------------------------------------------------ wake


def wake(ops: Ops, reader: Reader, journeys: dict[str, Journey], now: dt.datetime) -> int:
    """Move on the enrolments whose awaited event has happened (set-wise per wait step)."""
    e = store.enrolments.c
    woken = 0
    with ops.state.begin() as conn:
        for key, journey in journeys.items():
            for step in journey.steps:
                if not (isinstance(step, WaitStep) and step.event):
                    continue
                q = sa.select(e.id, e.user_id, e.step_at, e.seq).where(
                    e.journey == key,
                    e.status == "active",
                    e.step == step.id,
                    e.waiting.is_(True),
                )
                rows = conn.execute(store.skip_locked(conn, q)).all()
                if not rows:
                    continue
                since = min(store.utc(r.step_at) for r in rows)
                seen = reader.events([step.event], since, now, [r.user_id for r in rows])
                nxt = journey.following(step.id)
                moved = [
                    r
                    for r in rows
                    if any(t > store.utc(r.step_at) for t in seen.get(r.user_id, ()))
                ]
                if not moved:
                    continue
                ids = [r.id for r in moved]
                for start in range(0, len(ids), 50_000):  # one UPDATE for the lot
                    conn.execute(
                        sa.update(store.enrolments)
                        .where(store.in_list(conn, e.id, ids[start : start + 50_000], "int"))
                        .values(**_goto_values(nxt, now))
                    )
                done = store.Rows(DECISION_COLUMNS)
                done.extend(
                    len(moved), at=store.Same(now), enrolment_id=ids,
                    journey=store.Same(key), step=store.Same(step.id),
                    user_id=[r.user_id for r in moved], action=store.Same("event"),
                    reason=store.Same(step.event),
                )  # fmt: skip
                store.bulk_insert(conn, store.decisions, done)
                woken += len(moved)
    return woken


def _goto_values(target: str, now: dt.datetime) -> dict:
    """The change of an enrolment moving on to `target` (`seq` counted up in the SQL)."""
    e = store.enrolments.c
    if target == EXIT:
        return {"status": "completed", "step": None, "next_due": None, "ended_at": now,
                "waiting": False, "exit_reason": "completed"}  # fmt: skip
    return {"step": target, "seq": e.seq + 1, "step_at": now, "waiting": False, "next_due": now}


# ------------------------------------------------------------------ advance


def advance(
    ops: Ops,
    reader: Reader,
    journeys: dict[str, Journey],
    now: dt.datetime,
    loaded: list[Loaded],
    *,
    batch: int = BATCH,
    on_claim: Callable[[list[str]], None] | None = None,
) -> TickReport | None:
    """Claim and run one batch of due enrolments; None when nothing is due. The batch's
    patients are locked (`store.lock_patients`) before anything is read for them."""
    e = store.enrolments.c
    report = TickReport()
    with ops.state.begin() as conn:
        store.writer_lock(conn)
        q = (
            sa.select(store.enrolments)
            .where(e.status == "active", e.next_due <= now, e.journey.in_(list(journeys)))
            .order_by(e.next_due, e.id)
            .limit(batch)
        )
        rows = conn.execute(store.skip_locked(conn, q)).all()
        if not rows:
            return None
        if on_claim is not None:
            on_claim([r.user_id for r in rows])
        store.lock_patients(conn, [r.user_id for r in rows])
        seen: dict[Any, Any] = {}  # a batch shares a few moments: convert each once

        def utc(t: Any) -> Any:
            v = seen.get(t)
            if v is None:
                v = seen[t] = store.utc(t)
            return v

        recs = [
            _Rec(
                id=r.id, journey=r.journey, user_id=r.user_id,
                entered_at=utc(r.entered_at), step=r.step, seq=r.seq,
                step_at=utc(r.step_at), waiting=bool(r.waiting),
                next_due=utc(r.next_due), arm=r.arm,
            )
            for r in rows
        ]  # fmt: skip
        out = _Batch(whole=len(rows) == batch)
        _exits(conn, reader, journeys, recs, now, out, report)
        live = [r for r in recs if r.status == "active"]
        from careops.journeys.catalogue import journey_caps

        caps = journey_caps(loaded)
        for _ in range(2 * max(len(j.steps) for j in journeys.values()) + 2):
            if not live:
                break
            live = _round(conn, ops, reader, journeys, live, now, out, report, caps)
        _write(conn, recs, out, now)
        report.steps += len(recs)
        report.completed += sum(r.status == "completed" for r in recs)
    return report


def _exits(
    conn: Connection,
    reader: Reader,
    journeys: dict[str, Journey],
    recs: list[_Rec],
    now: dt.datetime,
    out: _Batch,
    report: TickReport,
) -> None:
    """End the enrolments an exit condition of their journey applies to (set-wise)."""
    by_journey: dict[str, list[_Rec]] = defaultdict(list)
    for r in recs:
        by_journey[r.journey].append(r)
    today = reader.as_of(now)
    for key, group in by_journey.items():
        journey = journeys[key]
        since = min(r.entered_at for r in group)
        users = [r.user_id for r in group]
        for cond in journey.exit:
            hit: set[str] = set()
            if cond.kind in ("converted", "medical_alert"):
                names = [cond.event] if cond.kind == "converted" else list(MEDICAL_ALERT_EVENTS)
                seen = reader.events(names, since, now, users)
                hit = {
                    r.user_id
                    for r in group
                    if any(t > r.entered_at for t in seen.get(r.user_id, ()))
                }
            elif cond.kind == "opted_out":
                seen = reader.withdrawals(since, now, users)
                hit = {
                    r.user_id
                    for r in group
                    if any(t > r.entered_at for t in seen.get(r.user_id, ()))
                }
            elif cond.kind == "rule" and cond.rule is not None:
                hit = set(reader.members(cond.rule.rule, today)) & set(users)
            for r in group:
                if r.status == "active" and r.user_id in hit:
                    _end(r, "exited", cond.kind, now)
                    out.decisions.append(_decision(r, now, "exit", cond.kind))
                    report.exited += 1


def _end(r: _Rec, status: str, reason: str, now: dt.datetime) -> None:
    r.status, r.exit_reason, r.ended_at = status, reason, now
    r.next_due, r.waiting, r.changed = None, False, True
    if status == "completed":
        r.step = None


def _goto(r: _Rec, journey: Journey, target: str, now: dt.datetime) -> bool:
    """Move to `target` (or finish); True when the enrolment runs on in this tick."""
    r.changed = True
    if target == EXIT:
        _end(r, "completed", "completed", now)
        return False
    r.step, r.seq, r.step_at, r.waiting, r.next_due = target, r.seq + 1, now, False, now
    return True


def _decision(r: _Rec, now: dt.datetime, action: str, reason: str | None = None, **kw) -> dict:
    return {"at": now, "enrolment_id": r.id, "journey": r.journey, "step": r.step,
            "user_id": r.user_id, "action": action, "reason": reason,
            "channel": kw.get("channel"), "purpose": kw.get("purpose"),
            "until": kw.get("until"), "key": kw.get("key")}  # fmt: skip


def _next_local(now: dt.datetime, hhmm: str, tz: Any) -> dt.datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    loc = now.astimezone(tz)
    at = dt.datetime.combine(loc.date(), dt.time(hour, minute), tzinfo=tz)
    if at < loc:
        at = dt.datetime.combine(
            loc.date() + dt.timedelta(days=1), dt.time(hour, minute), tzinfo=tz
        )
    return at.astimezone(dt.UTC)


def _round(
    conn: Connection,
    ops: Ops,
    reader: Reader,
    journeys: dict[str, Journey],
    live: list[_Rec],
    now: dt.datetime,
    out: _Batch,
    report: TickReport,
    caps: dict[str, Any],
) -> list[_Rec]:
    """Run every enrolment of `live` at its current step; return those that go on now."""
    groups: dict[tuple[str, str], list[_Rec]] = defaultdict(list)
    for r in live:
        groups[(r.journey, r.step)].append(r)  # type: ignore[index]
    going: list[_Rec] = []
    messages: list[tuple[_Rec, MessageStep]] = []
    today = reader.as_of(now)
    tz = ops.settings.tz
    for (key, step_id), group in groups.items():
        journey = journeys[key]
        step = journey.step(step_id)
        nxt = journey.following(step_id)
        if isinstance(step, WaitStep):
            for r in group:
                if r.waiting:  # the timer rang: time is up (an event wait timed out)
                    target = (step.on_timeout or nxt) if step.event else nxt
                    if step.event:
                        out.decisions.append(_decision(r, now, "timeout", step.event))
                    if _goto(r, journey, target, now):
                        going.append(r)
                    continue
                if step.for_ is not None:
                    due = now + dt.timedelta(seconds=step.seconds or 0)
                elif step.until is not None:
                    due = _next_local(now, step.until, tz)
                else:
                    due = now + dt.timedelta(seconds=parse_duration(step.timeout))  # type: ignore[arg-type]
                if due <= now:
                    if _goto(r, journey, nxt, now):
                        going.append(r)
                    continue
                r.waiting, r.next_due, r.changed = True, due, True
        elif isinstance(step, BranchStep):
            left = {r.user_id for r in group}
            chosen: dict[str, str] = {}
            for b in step.branches:
                if not left:
                    break
                hit = left & reader.members(b.when.rule, today)
                for u in hit:
                    chosen[u] = b.goto
                left -= hit
            for r in group:
                target = chosen.get(r.user_id, step.otherwise)
                out.decisions.append(_decision(r, now, "branch", target))
                if _goto(r, journey, target, now):
                    going.append(r)
        elif isinstance(step, SplitStep):
            for r in group:
                u = split_unit(key, step_id, r.user_id)
                acc, arm = 0.0, None
                for a in step.arms:
                    acc += a.weight
                    if u < acc:
                        arm = a
                        break
                if arm is None:  # the holdout gets nothing
                    r.arm = "holdout"
                    out.decisions.append(_decision(r, now, "split", "holdout"))
                    _end(r, "exited", "holdout", now)
                    report.exited += 1
                    continue
                r.arm = arm.name
                out.decisions.append(_decision(r, now, "split", arm.name))
                if _goto(r, journey, arm.goto, now):
                    going.append(r)
        elif isinstance(step, MessageStep):
            messages.extend((r, step) for r in group)
        else:
            going.extend(_action(conn, ops, journey, step, group, now, out, report))
    if messages:
        going.extend(_messages(conn, ops, reader, journeys, messages, now, out, report, caps))
    return going


def _action(
    conn: Connection,
    ops: Ops,
    journey: Journey,
    step: Any,
    group: list[_Rec],
    now: dt.datetime,
    out: _Batch,
    report: TickReport,
) -> list[_Rec]:
    """Coupons, points, tasks and webhooks: one outbox row (and task) per enrolment."""
    from careops.experiments.assign import in_global_control
    from careops.tasks.store import NewTask

    marketing = isinstance(step, CouponStep | PointsStep)
    control = (
        in_global_control([r.user_id for r in group], ops.settings.experiments.global_control_pct)
        if marketing
        else [False] * len(group)
    )
    going = []
    nxt = journey.following(step.id)
    for r, held in zip(group, control, strict=True):
        key = idempotency_key(journey.key, r.id, r.seq, step.id)
        purpose = "marketing" if marketing else getattr(step, "purpose", "service")
        if held:
            out.decisions.append(_decision(r, now, "suppress", "global_control", purpose=purpose))
            report.suppressed += 1
        else:
            payload: dict[str, Any]
            if isinstance(step, CouponStep):
                payload = {
                    "amount_cny": step.amount_cny,
                    "valid_days": step.valid_days,
                    "sku": step.sku,
                }
            elif isinstance(step, PointsStep):
                payload = {"points": step.points, "reason": step.reason}
            elif isinstance(step, TaskStep):
                payload = {"title": step.title, "assignee": step.assignee}
                due = now + dt.timedelta(seconds=parse_duration(step.due))
                out.tasks.append(
                    NewTask(
                        key=key, kind="journey", title=step.title, purpose=step.purpose,
                        assignee_role="medical" if step.assignee == "doctor" else "health_manager",
                        due_at=due, source=f"journey:{journey.key}", user_id=r.user_id,
                        priority=0 if step.purpose == "medical" else 1,
                        detail={"journey": journey.key, "step": step.id},
                    )
                )  # fmt: skip
            else:
                assert isinstance(step, WebhookStep)
                payload = {"url": step.url, "method": step.method}
            done = not isinstance(step, WebhookStep)  # the row itself is the coupon/points/task
            out.outbox.append(
                {"key": key, "enrolment_id": r.id, "journey": journey.key, "step": step.id,
                 "user_id": r.user_id, "kind": step.type, "channel": None, "purpose": purpose,
                 "payload": payload, "decided_at": now, "status": "sent" if done else "pending",
                 "attempts": 0, "next_try": None if done else now,
                 "sent_at": now if done else None}
            )  # fmt: skip
            out.decisions.append(_decision(r, now, "send", "ok", purpose=purpose, key=key))
            report.sent += 1
        if _goto(r, journey, nxt, now):
            going.append(r)
    return going


def _history(conn: Connection, users: list[str], now: dt.datetime, out: _Batch) -> pa.Table:
    """Sends already decided (outbox messages, also this batch's) of `users` in the last 7
    days, as `policy.decide` counts them."""
    o = store.outbox.c
    since = now - dt.timedelta(days=7)
    q = sa.select(o.user_id, o.journey, o.purpose, o.decided_at).where(
        o.kind == "message",
        o.status != "failed",
        o.decided_at > since,
        o.decided_at <= now,
        store.in_list(conn, o.user_id, users),
    )
    found = conn.execute(q).all()  # one query per batch (the users as one parameter)
    cols: list[list] = [list(c) for c in zip(*found, strict=True)] if found else [[], [], [], []]
    if len(out.outbox):
        wanted = set(users)
        kind, who = out.outbox.column("kind"), out.outbox.column("user_id")
        mine = [i for i, (k, u) in enumerate(zip(kind, who, strict=True))
                if k == "message" and u in wanted]  # fmt: skip
        for col, name in zip(cols, ("user_id", "journey", "purpose", "decided_at"), strict=True):
            values = out.outbox.column(name)
            col.extend(values[i] for i in mine)
    ts = pa.timestamp("us", tz="UTC")  # naive times (SQLite) are UTC
    return pa.table(
        {
            "user_id": pa.array(cols[0], pa.string()),
            "journey": pa.array(cols[1], pa.string()),
            "purpose": pa.array(cols[2], pa.string()),
            "sent_at": pa.array(cols[3], ts),
        }
    )


def _messages(
    conn: Connection,
    ops: Ops,
    reader: Reader,
    journeys: dict[str, Journey],
    items: list[tuple[_Rec, MessageStep]],
    now: dt.datetime,
    out: _Batch,
    report: TickReport,
    caps: dict[str, Any],
) -> list[_Rec]:
    """Decide every message candidate of the round at once; send, defer or skip each."""
    from careops.journeys.policy import decide

    users = list(dict.fromkeys(r.user_id for r, _ in items))
    uarr = pa.array(users, pa.string())
    profiles = reader.profiles(reader.as_of(now), uarr, out.whole)
    consents = reader.consents(uarr, out.whole)
    history = _history(conn, users, now, out)
    cand = pa.table(
        {
            "candidate_id": pa.array([str(i) for i in range(len(items))], pa.string()),
            "user_id": pa.array([r.user_id for r, _ in items], pa.string()),
            "journey": pa.array([r.journey for r, _ in items], pa.string()),
            "step": pa.array([s.id for _, s in items], pa.string()),
            "purpose": pa.array([s.purpose for _, s in items], pa.string()),
            "channel": pa.array([s.channel for _, s in items], pa.string()),
            "due_at": pa.array([now] * len(items), pa.timestamp("us", tz="UTC")),
            "medical_safety": pa.array([s.medical_safety for _, s in items], pa.bool_()),
        }
    )
    decided = decide(
        cand, now, profiles=profiles, consents=consents, history=history,
        journey_caps=caps, settings=ops.settings,
    )  # fmt: skip
    what = decided["decision"].to_pylist()
    reasons = decided["reason"].to_pylist()
    channels = decided["channel"].to_pylist()
    untils = decided["until"].to_pylist()
    going = []
    following: dict[tuple[str, str], str] = {}
    payloads: dict[int, dict] = {}  # one (shared, read-only) payload per step
    # the decisions and sends of the round, as columns (one entry per candidate / send)
    d_rec, d_action, d_reason, d_key, d_until = [], [], [], [], []
    s_rec, s_key, s_channel, s_payload = [], [], [], []
    for i, (r, step) in enumerate(items):
        action = what[i]
        d_rec.append((r, step))
        d_reason.append(reasons[i])
        if action == "defer":
            until = untils[i]
            r.next_due, r.changed = until, True
            d_action.append("defer")
            d_key.append(None)
            d_until.append(until)
            continue
        d_until.append(None)
        journey = journeys[r.journey]
        nxt = following.get((r.journey, step.id))
        if nxt is None:
            nxt = following[(r.journey, step.id)] = journey.following(step.id)
        if action == "send":
            key = idempotency_key(r.journey, r.id, r.seq, step.id)
            payload = payloads.get(id(step))
            if payload is None:
                payload = payloads[id(step)] = {
                    "template": step.template.model_dump(),
                    "medical_safety": step.medical_safety,
                }
            s_rec.append((r, step))
            s_key.append(key)
            s_channel.append(channels[i])
            s_payload.append(payload)
            d_action.append("send")
            d_reason[-1] = "ok"
            d_key.append(key)
        else:
            d_action.append("suppress")
            d_key.append(None)
        if _goto(r, journey, nxt, now):
            going.append(r)
    report.deferred += d_action.count("defer")
    report.sent += len(s_rec)
    report.suppressed += d_action.count("suppress")
    out.outbox.extend(
        len(s_rec), key=s_key, enrolment_id=[r.id for r, _ in s_rec],
        journey=[r.journey for r, _ in s_rec], step=[s.id for _, s in s_rec],
        user_id=[r.user_id for r, _ in s_rec], kind=store.Same("message"), channel=s_channel,
        purpose=[s.purpose for _, s in s_rec], payload=s_payload,
        decided_at=store.Same(now), status=store.Same("pending"), attempts=store.Same(0),
        next_try=store.Same(now), sent_at=store.Same(None),
    )  # fmt: skip
    out.decisions.extend(
        len(d_rec), at=store.Same(now), enrolment_id=[r.id for r, _ in d_rec],
        journey=[r.journey for r, _ in d_rec], step=[s.id for _, s in d_rec],
        user_id=[r.user_id for r, _ in d_rec], action=d_action, reason=d_reason,
        channel=channels, purpose=[s.purpose for _, s in d_rec], until=d_until, key=d_key,
    )  # fmt: skip
    return going


def _write(conn: Connection, recs: list[_Rec], out: _Batch, now: dt.datetime) -> None:
    """The batch's progress, outbox rows, tasks and decisions, in the caller's transaction."""
    from careops.tasks.store import raise_tasks

    changed = [r for r in recs if r.changed]
    if changed:
        store.update_enrolments(
            conn,
            [
                {"id": r.id, "status": r.status, "step": r.step, "seq": r.seq,
                 "step_at": r.step_at, "waiting": r.waiting, "next_due": r.next_due,
                 "arm": r.arm, "exit_reason": r.exit_reason, "ended_at": r.ended_at}
                for r in changed
            ],
        )  # fmt: skip
    if out.outbox:
        store.bulk_insert(conn, store.outbox, out.outbox, conflict="key")
    if out.tasks:
        raise_tasks(conn, out.tasks, now)
    if out.decisions:
        store.bulk_insert(conn, store.decisions, out.decisions)

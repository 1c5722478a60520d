"""What a journey did and caused, per step: entered, sent, delivered, opened, clicked,
converted, attributed revenue (last touch within a window), and revenue per patient of the
patients it messaged against the global control group's members it held back.

Opens and clicks are the `message_open` / `message_click` events whose `send_id` property is
one of the journey's idempotency keys (the channels and the simulator stamp it). An order is
attributed to the patient's LAST message send before it, when that send is at most `window`
earlier (last touch). Incremental revenue: mean revenue per patient in the `window` after
their decision, for patients sent the journey's marketing versus the patients it suppressed as
members of the global control group (the difference is the journey's incremental revenue per
patient; both groups are selected by the same trigger, so they are comparable).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa
import sqlalchemy as sa

from careops.errors import InvalidInput
from careops.journeys import store

if TYPE_CHECKING:
    from careops.service import Ops


@dataclass
class StepStats:
    journey: str
    step: str
    reached: int = 0  # decisions taken at this step (enrolments that got there)
    sent: int = 0
    delivered: int = 0
    suppressed: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0  # orders attributed (last touch)
    revenue: float = 0.0


@dataclass
class Measurement:
    journey: str
    window_days: int
    entered: int
    exited: dict[str, int]
    steps: list[StepStats] = field(default_factory=list)
    treated: int = 0
    control: int = 0
    revenue_per_treated: float | None = None
    revenue_per_control: float | None = None

    @property
    def incremental_per_patient(self) -> float | None:
        if self.revenue_per_treated is None or self.revenue_per_control is None:
            return None
        return self.revenue_per_treated - self.revenue_per_control


def measure(ops: Ops, journey: str, *, window_days: int = 7) -> Measurement:
    """Measure one journey from the state store and the warehouse (see the module docstring)."""
    ops.require("journeys.read")
    if not 1 <= window_days <= 365:
        raise InvalidInput("归因窗口应为 1–365 天 / the attribution window is 1–365 days")
    window = dt.timedelta(days=window_days)
    e, d, o = store.enrolments.c, store.decisions.c, store.outbox.c
    with ops.state.connect() as conn:
        entered = conn.execute(
            sa.select(sa.func.count()).select_from(store.enrolments).where(e.journey == journey)
        ).scalar_one()
        exited = dict(
            conn.execute(
                sa.select(e.exit_reason, sa.func.count())
                .where(e.journey == journey, e.status != "active")
                .group_by(e.exit_reason)
            ).all()
        )
        decisions = conn.execute(
            sa.select(d.step, d.action, d.reason, d.user_id, d.at, d.purpose).where(
                d.journey == journey, d.action.in_(["send", "suppress", "defer"])
            )
        ).all()
        sends = conn.execute(
            sa.select(o.key, o.step, o.user_id, o.status, o.kind, o.sent_at, o.decided_at).where(
                o.journey == journey
            )
        ).all()
    steps: dict[str, StepStats] = {}

    def stat(step: str) -> StepStats:
        return steps.setdefault(step, StepStats(journey, step))

    for r in decisions:
        s = stat(r.step)
        if r.action != "defer":
            s.reached += 1
        if r.action == "suppress":
            s.suppressed += 1
    step_of = {r.key: r.step for r in sends}
    touches: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for r in sends:
        if r.status in ("sent", "delivered"):
            stat(r.step).sent += 1
            if r.status == "delivered":
                stat(r.step).delivered += 1
            if r.kind == "message":
                touches[r.user_id].append((store.utc(r.sent_at or r.decided_at), r.key))
    for t in touches.values():
        t.sort()
    users = sorted(touches)
    control_users = {
        r.user_id: store.utc(r.at)
        for r in decisions
        if r.action == "suppress" and r.reason == "global_control"
    }
    treated_users = {u: min(t for t, _ in ts) for u, ts in touches.items()}
    with ops.warehouse(read_only=True) as con:
        opens, clicks = _answers(con, list(step_of))
        orders = _orders(con, sorted(set(users) | set(control_users)))
    for key in opens:
        stat(step_of[key]).opened += 1
    for key in clicks:
        stat(step_of[key]).clicked += 1
    for u, ts, amount in orders:
        mine = touches.get(u)
        if not mine:
            continue
        i = bisect.bisect_right(mine, (ts, "\uffff")) - 1
        if i >= 0 and ts - mine[i][0] <= window:
            s = stat(step_of[mine[i][1]])
            s.converted += 1
            s.revenue += amount
    result = Measurement(journey, window_days, int(entered), exited, sorted(
        steps.values(), key=lambda s: s.step))  # fmt: skip

    def per_patient(group: dict[str, dt.datetime]) -> float | None:
        if not group:
            return None
        total = sum(a for u, ts, a in orders if u in group and group[u] <= ts <= group[u] + window)
        return total / len(group)

    result.treated, result.control = len(treated_users), len(control_users)
    result.revenue_per_treated = per_patient(treated_users)
    result.revenue_per_control = per_patient(control_users)
    return result


def _answers(con, keys: list[str]) -> tuple[set[str], set[str]]:
    if not keys or "events" not in con.list_tables():
        return set(), set()
    from careops.warehouse.jsonpath import json_value

    ev = con.table("events")
    q = ev.filter(ev.name.isin(["message_open", "message_click"]))
    q = q.mutate(send_id=json_value(con, q.properties, "send_id"))
    want = ibis.memtable(pa.table({"_k": pa.array(keys, pa.string())}))
    q = q.semi_join(want, q.send_id == want._k).select("name", "send_id")
    opens, clicks = set(), set()
    for r in q.to_pyarrow().to_pylist():
        (opens if r["name"] == "message_open" else clicks).add(r["send_id"])
    return opens, clicks


def _orders(con, users: list[str]) -> list[tuple[str, dt.datetime, float]]:
    if not users or "orders" not in con.list_tables():
        return []
    t = con.table("orders")
    want = ibis.memtable(pa.table({"_u": pa.array(users, pa.string())}))
    q = t.filter(t.status == "paid")
    q = q.semi_join(want, q.user_id == want._u).select("user_id", "ts", "amount_cny")
    return [
        (r["user_id"], store.utc(r["ts"]), float(r["amount_cny"] or 0.0))
        for r in q.to_pyarrow().to_pylist()
    ]

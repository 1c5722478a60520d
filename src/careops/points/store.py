"""The points ledger: tables and the transactional functions that write them.

The ledger is append-only. Every entry carries a `key` unique in the store, derived from the
source event (`patient:checkup:order:o42`), so replaying an event writes nothing. Earnings are
*lots* that expire `expire_days` after the event; redemptions and expiries debit lots first in,
first out (earliest expiry first), and `points_allocations` records which lot paid for which debit
(also append-only). A holder's balance is the sum of its entries; `points_accounts` keeps that sum
and is the row every writer of a holder locks first (`UPDATE … SET version = version + 1`), which
serialises writers of one holder on PostgreSQL (row lock) and SQLite (write lock), so two
redemptions at once can never both spend the same points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from careops.errors import Conflict
from careops.state.models import metadata

HolderKind = Literal["patient", "doctor"]
HOLDER_KINDS: tuple[str, ...] = ("patient", "doctor")
EntryKind = Literal["earn", "redeem", "expire"]

points_accounts = sa.Table(
    "points_accounts",
    metadata,
    sa.Column("holder_kind", sa.String(8), primary_key=True),
    sa.Column("holder_id", sa.String(128), primary_key=True),
    sa.Column("balance", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

points_ledger = sa.Table(
    "points_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(240), nullable=False, unique=True),
    sa.Column("holder_kind", sa.String(8), nullable=False),
    sa.Column("holder_id", sa.String(128), nullable=False),
    sa.Column("entry", sa.String(8), nullable=False),  # earn | redeem | expire
    sa.Column("rule", sa.String(32), nullable=False),  # earning rule, coupon kind, "expiry"
    sa.Column("points", sa.Integer, nullable=False),  # + earned, - spent or expired
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),  # when it counts
    sa.Column("expires_at", sa.DateTime(timezone=True)),  # earned lots only
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("note", sa.String(200)),
    sa.Index("ix_points_ledger_holder", "holder_kind", "holder_id", "at"),
)

points_allocations = sa.Table(
    "points_allocations",
    metadata,
    sa.Column("debit_id", sa.Integer, sa.ForeignKey("points_ledger.id"), primary_key=True),
    sa.Column("lot_id", sa.Integer, sa.ForeignKey("points_ledger.id"), primary_key=True),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Index("ix_points_allocations_lot", "lot_id"),
)

coupons = sa.Table(
    "coupons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("request_key", sa.String(200), nullable=False, unique=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("value_cny", sa.Float, nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("debit_id", sa.Integer, sa.ForeignKey("points_ledger.id"), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_coupons_user", "user_id"),
)


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored."""

    id: int
    key: str
    holder_kind: str
    holder_id: str
    entry: str
    rule: str
    points: int
    at: dt.datetime
    expires_at: dt.datetime | None
    actor: str
    note: str | None


@dataclass(frozen=True)
class NewEarning:
    """Points to credit; `key` (the source event's) makes crediting it idempotent."""

    key: str
    holder_kind: HolderKind
    holder_id: str
    rule: str
    points: int
    at: dt.datetime
    note: str | None = None


@dataclass(frozen=True)
class Lot:
    """An earned lot and what is left of it."""

    id: int
    points: int
    remaining: int
    at: dt.datetime
    expires_at: dt.datetime


def utc(t: Any) -> Any:
    """A stored timestamp as aware UTC (SQLite hands back naive ones, stored as UTC)."""
    if t is None:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def entry_of(r: Any) -> Entry:
    m = r._mapping
    return Entry(
        id=m["id"],
        key=m["key"],
        holder_kind=m["holder_kind"],
        holder_id=m["holder_id"],
        entry=m["entry"],
        rule=m["rule"],
        points=int(m["points"]),
        at=utc(m["at"]),
        expires_at=utc(m["expires_at"]),
        actor=m["actor"],
        note=m["note"],
    )


def _insert_ignoring(conn: Connection, table: sa.Table, keys: list[str]) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=keys)


def lock_holders(
    conn: Connection, holders: Sequence[tuple[str, str]], now: dt.datetime, *, create: bool
) -> set[tuple[str, str]]:
    """Lock the accounts of `holders` for this transaction (creating missing ones when
    `create`), in a fixed order so two writers never deadlock; return the holders locked."""
    a = points_accounts.c
    wanted = sorted(set(holders))
    if create and wanted:
        rows = [
            {"holder_kind": k, "holder_id": h, "balance": 0, "version": 0, "updated_at": now}
            for k, h in wanted
        ]
        conn.execute(_insert_ignoring(conn, points_accounts, ["holder_kind", "holder_id"]), rows)
    if create:  # every one exists now: lock them all in one executemany, in sorted order
        if wanted:
            conn.execute(
                sa.update(points_accounts)
                .where(a.holder_kind == sa.bindparam("k"), a.holder_id == sa.bindparam("h"))
                .values(version=a.version + 1, updated_at=now),
                [{"k": k, "h": h} for k, h in wanted],
            )
        return set(wanted)
    locked: set[tuple[str, str]] = set()
    for k, h in wanted:
        n = conn.execute(
            sa.update(points_accounts)
            .where(a.holder_kind == k, a.holder_id == h)
            .values(version=a.version + 1, updated_at=now)
        ).rowcount
        if n:
            locked.add((k, h))
    return locked


def existing(conn: Connection, keys: Sequence[str]) -> dict[str, Entry]:
    """The entries already stored under `keys`."""
    out: dict[str, Entry] = {}
    keys = list(dict.fromkeys(keys))
    for start in range(0, len(keys), 5000):
        q = sa.select(points_ledger).where(points_ledger.c.key.in_(keys[start : start + 5000]))
        out.update({e.key: e for e in map(entry_of, conn.execute(q))})
    return out


def credit(
    conn: Connection, items: Sequence[NewEarning], *, now: dt.datetime, expire_days: int, actor: str
) -> tuple[list[Entry], int]:
    """Credit the earnings whose key is new, in `conn`'s transaction; return the entry of every
    item (new or earlier, input order) and how many were new. A key already used for another
    holder, rule or amount is a `Conflict` (a forged replay), and nothing is written."""
    if not items:
        return [], 0
    have = existing(conn, [i.key for i in items])
    todo = [i for i in items if i.key not in have]
    if todo:  # lock the holders with something new, then look again (another writer may have)
        lock_holders(conn, [(i.holder_kind, i.holder_id) for i in todo], now, create=True)
        have = existing(conn, [i.key for i in items])
    fresh: dict[str, NewEarning] = {}
    for i in items:
        old = have.get(i.key)
        if old is not None:
            if (old.holder_kind, old.holder_id, old.rule, old.points) != (
                i.holder_kind,
                i.holder_id,
                i.rule,
                i.points,
            ):
                raise Conflict(
                    f"来源事件 {i.key!r} 已为 {old.holder_kind} {old.holder_id} 记过 {old.points} "
                    f"积分 / source event {i.key!r} already credited {old.points} points to "
                    f"{old.holder_kind} {old.holder_id}",
                    field="source",
                )
        elif i.key in fresh and fresh[i.key] != i:
            raise Conflict(f"同一批内来源事件 {i.key!r} 重复且不同 / {i.key!r} twice, differing")
        else:
            fresh.setdefault(i.key, i)
    if fresh:
        life = dt.timedelta(days=expire_days)
        rows = [
            {
                "key": i.key,
                "holder_kind": i.holder_kind,
                "holder_id": i.holder_id,
                "entry": "earn",
                "rule": i.rule,
                "points": i.points,
                "at": i.at,
                "expires_at": i.at + life,
                "created_at": now,
                "actor": actor[:128],
                "note": i.note,
            }
            for i in fresh.values()
        ]
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(points_ledger), rows[start : start + 5000])
        resync(conn, {(i.holder_kind, i.holder_id) for i in fresh.values()}, now)
        have = existing(conn, [i.key for i in items])
    return [have[i.key] for i in items], len(fresh)


def resync(conn: Connection, holders: set[tuple[str, str]], now: dt.datetime) -> None:
    """Set the locked holders' cached balance to the sum of their entries."""
    if not holders:
        return
    led, a = points_ledger.c, points_accounts.c
    total = sa.select(sa.func.coalesce(sa.func.sum(led.points), 0)).where(
        led.holder_kind == a.holder_kind, led.holder_id == a.holder_id
    )
    conn.execute(
        sa.update(points_accounts)
        .where(a.holder_kind == sa.bindparam("k"), a.holder_id == sa.bindparam("h"))
        .values(balance=total.scalar_subquery(), updated_at=now),
        [{"k": k, "h": h} for k, h in sorted(holders)],
    )


def lots(conn: Connection, kind: str, holder: str, until: dt.datetime | None = None) -> list[Lot]:
    """The holder's earned lots with points left, earliest expiry first (the FIFO order).
    `until`: as they stood then — lots earned by then, less what debits dated by then took."""
    led, al = points_ledger.c, points_allocations.c
    spent = sa.select(al.lot_id, sa.func.sum(al.points).label("used"))
    if until is not None:
        debits = points_ledger.alias("debits")
        spent = spent.join(debits, debits.c.id == al.debit_id).where(debits.c.at <= until)
    used = spent.group_by(al.lot_id).subquery()
    q = (
        sa.select(led.id, led.points, led.at, led.expires_at, sa.func.coalesce(used.c.used, 0))
        .select_from(points_ledger.outerjoin(used, used.c.lot_id == led.id))
        .where(led.holder_kind == kind, led.holder_id == holder, led.entry == "earn")
        .where(led.at <= until if until is not None else sa.true())
        .order_by(led.expires_at, led.id)
    )
    out = []
    for r in conn.execute(q):
        left = int(r[1]) - int(r[4])
        if left > 0:
            out.append(Lot(int(r[0]), int(r[1]), left, utc(r[2]), utc(r[3])))
    return out


def debit(
    conn: Connection,
    *,
    key: str,
    kind: str,
    holder: str,
    entry: EntryKind,
    rule: str,
    allocation: Sequence[tuple[Lot, int]],
    at: dt.datetime,
    now: dt.datetime,
    actor: str,
    note: str | None = None,
) -> int:
    """Write one debit paid by `allocation` ((lot, points) pairs); return its id. The holder's
    account must be locked by the caller."""
    total = sum(n for _, n in allocation)
    row = conn.execute(
        sa.insert(points_ledger)
        .values(
            key=key,
            holder_kind=kind,
            holder_id=holder,
            entry=entry,
            rule=rule,
            points=-total,
            at=at,
            expires_at=None,
            created_at=now,
            actor=actor[:128],
            note=note,
        )
        .returning(points_ledger.c.id)
    ).scalar_one()
    conn.execute(
        sa.insert(points_allocations),
        [{"debit_id": row, "lot_id": lot.id, "points": n} for lot, n in allocation if n > 0],
    )
    return int(row)


def expire_due(
    conn: Connection, kind: str, holder: str, at: dt.datetime, now: dt.datetime, actor: str
) -> int:
    """Expire what is left of the holder's lots whose expiry is at or before `at` (one `expire`
    entry per lot, key `expire:<lot id>`); return the points expired. Account locked by caller."""
    total = 0
    for lot in lots(conn, kind, holder):
        if lot.expires_at > at:
            break
        debit(
            conn,
            key=f"expire:{lot.id}",
            kind=kind,
            holder=holder,
            entry="expire",
            rule="expiry",
            allocation=[(lot, lot.remaining)],
            at=lot.expires_at,
            now=now,
            actor=actor,
        )
        total += lot.remaining
    return total


def fifo(available: Sequence[Lot], points: int) -> list[tuple[Lot, int]]:
    """Take `points` from the lots in order (the caller checked there are enough)."""
    out: list[tuple[Lot, int]] = []
    need = points
    for lot in available:
        if need <= 0:
            break
        take = min(lot.remaining, need)
        out.append((lot, take))
        need -= take
    return out


def due_lots(conn: Connection, at: dt.datetime, holders: Sequence[tuple[str, str]] | None = None):
    """(lot id, kind, holder, remaining, expires_at) of every lot due at `at` with points left
    (of `holders` only, when given)."""
    led, al = points_ledger.c, points_allocations.c
    used = sa.select(al.lot_id, sa.func.sum(al.points).label("used")).group_by(al.lot_id).subquery()
    left = led.points - sa.func.coalesce(used.c.used, 0)
    q = (
        sa.select(led.id, led.holder_kind, led.holder_id, left, led.expires_at)
        .select_from(points_ledger.outerjoin(used, used.c.lot_id == led.id))
        .where(led.entry == "earn", led.expires_at <= at, left > 0)
    )
    rows = conn.execute(q).all()
    if holders is not None:
        keep = set(holders)
        rows = [r for r in rows if (r[1], r[2]) in keep]
    return rows


def expire_batch(
    conn: Connection,
    holders: Sequence[tuple[str, str]],
    at: dt.datetime,
    now: dt.datetime,
    actor: str,
) -> int:
    """Expire, set-wise, what is left of the due lots of `holders` (locked here, in order):
    one `expire` entry per lot (key `expire:<lot id>`), paid by that lot. Returns the points."""
    lock_holders(conn, holders, now, create=True)
    rows = due_lots(conn, at, holders)
    if not rows:
        return 0
    conn.execute(
        sa.insert(points_ledger),
        [
            {
                "key": f"expire:{lot}",
                "holder_kind": kind,
                "holder_id": holder,
                "entry": "expire",
                "rule": "expiry",
                "points": -int(left),
                "at": utc(exp),
                "expires_at": None,
                "created_at": now,
                "actor": actor[:128],
                "note": None,
            }
            for lot, kind, holder, left, exp in rows
        ],
    )
    ids = {e.key: e.id for e in existing(conn, [f"expire:{r[0]}" for r in rows]).values()}
    conn.execute(
        sa.insert(points_allocations),
        [{"debit_id": ids[f"expire:{r[0]}"], "lot_id": r[0], "points": int(r[3])} for r in rows],
    )
    resync(conn, {(r[1], r[2]) for r in rows}, now)
    return sum(int(r[3]) for r in rows)

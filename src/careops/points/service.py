"""Growth points as services (SPEC §8): earn, redeem for consultation coupons, balance, ledger,
levels, expiry. Typed arguments and results; every write is audited in its own transaction.

Rules, all settings (`points.*`, docs/points.md):
- earning: points per rule (`patient_rules`, `doctor_rules`; check-up = 100). An earning is keyed
  by its source event (`order:o42`), so a replayed event credits nothing; the same key with other
  points or another holder is refused as a `Conflict`.
- expiry: each earning is a lot valid `expire_days` after the event; spending and expiry take the
  earliest-expiring lots first (FIFO). Expired points leave the balance at once (the available
  balance never counts them) and are written as `expire` entries the next time the holder's
  account is written or `expire_points` runs.
- levels: from the points *earned* in the last `level_window_days` (spending does not demote).
- redemption: a coupon costs `coupons[kind].points`; it needs that many available points, never
  leaves a balance below zero, and a `request_key` makes a retried request return the first
  coupon instead of spending twice.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from careops.errors import Conflict, InvalidInput, NotFound
from careops.points.store import (
    HOLDER_KINDS,
    Entry,
    NewEarning,
    coupons,
    credit,
    debit,
    entry_of,
    expire_due,
    fifo,
    lock_holders,
    lots,
    points_accounts,
    points_ledger,
    resync,
    utc,
)
from careops.service import Ops, now

ID = re.compile(r"[\w.:@+-]{1,128}")
SOURCE = re.compile(r"[\w.:/@+-]{1,160}")
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed


@dataclass(frozen=True)
class Earned:
    """The result of an earning: the entry, and whether it was already there (a replay)."""

    entry: Entry
    replayed: bool


@dataclass(frozen=True)
class Level:
    """Where a holder stands: level code, the points earned in the window, the next level."""

    code: str
    earned: int
    next_code: str | None
    to_next: int | None


@dataclass(frozen=True)
class Balance:
    """A holder's points at `at`: available now, expiring within 30 days, and the level."""

    holder_kind: str
    holder_id: str
    at: dt.datetime
    available: int
    expiring_30d: int
    level: Level


@dataclass(frozen=True)
class Coupon:
    """A consultation coupon bought with points."""

    code: str
    user_id: str
    kind: str
    value_cny: float
    points: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    balance_after: int
    replayed: bool = False


def check_holder(kind: str, holder_id: str) -> None:
    """Refuse an unknown holder kind or a malformed id before anything is read or written."""
    if kind not in HOLDER_KINDS:
        raise InvalidInput(f"持有人类型须为 {HOLDER_KINDS} / kind must be one of {HOLDER_KINDS}")
    if not isinstance(holder_id, str) or not ID.fullmatch(holder_id):
        raise InvalidInput(f"用户 ID 不合法 / bad user id {str(holder_id)[:60]!r}", field="user_id")


def _aware(at: dt.datetime | None, field: str = "at") -> dt.datetime:
    if at is None:
        return now()
    if at.tzinfo is None:
        raise InvalidInput(f"{field}: 须带时区 / must be timezone-aware", field=field)
    return at.astimezone(dt.UTC)


def _rules(ops: Ops, kind: str) -> dict[str, int]:
    p = ops.settings.points
    return p.patient_rules if kind == "patient" else p.doctor_rules


def _known_holder(ops: Ops, kind: str, holder_id: str) -> None:
    """`NotFound` unless the warehouse knows this patient (or doctor)."""
    table, column = ("patients", "user_id") if kind == "patient" else ("doctors", "doctor_id")
    with ops.warehouse(read_only=True) as con:
        t = con.table(table)
        n = t.filter(t[column] == holder_id).count().to_pyarrow().as_py()
    if not n:
        who = "患者" if kind == "patient" else "医生"
        raise NotFound(f"没有这位{who} / unknown {kind} {holder_id!r}", field="user_id")


def earning(
    ops: Ops,
    kind: str,
    holder_id: str,
    rule: str,
    source: str,
    at: dt.datetime | None = None,
    points: int | None = None,
    note: str | None = None,
) -> NewEarning:
    """Validate one earning (rule known, points positive and within `max_points`)."""
    check_holder(kind, holder_id)
    rules = _rules(ops, kind)
    if rule not in rules:
        close = difflib.get_close_matches(rule, list(rules), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidInput(
            f"没有积分规则 {rule!r} / unknown {kind} rule {rule!r}{hint} (rules: "
            f"{', '.join(rules)})",
            field="rule",
        )
    if not isinstance(source, str) or not SOURCE.fullmatch(source):
        raise InvalidInput(
            f"来源事件不合法 / bad source event {str(source)[:60]!r}", field="source"
        )
    amount = rules[rule] if points is None else points
    cap = ops.settings.points.max_points
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= cap:
        raise InvalidInput(
            f"积分须为 1–{cap} 的整数 / points must be a whole number in 1–{cap}, got {amount!r}"
            + (
                " (rule 'manual' needs the points given)"
                if rule == "manual" and points is None
                else ""
            ),
            field="points",
        )
    if points is not None and rules[rule] and points != rules[rule]:
        raise InvalidInput(
            f"规则 {rule} 固定 {rules[rule]} 分 / rule {rule} is worth {rules[rule]} points; "
            "use rule 'manual' for another amount",
            field="points",
        )
    if note is not None and (len(note) > 200 or not note.isprintable()):
        raise InvalidInput("备注须为 ≤200 个可打印字符 / note: ≤ 200 printable chars")
    return NewEarning(
        key=f"{kind}:{rule}:{source}",
        holder_kind=kind,  # type: ignore[arg-type]
        holder_id=holder_id,
        rule=rule,
        points=int(amount),
        at=_aware(at),
        note=note,
    )


def earn(
    ops: Ops,
    kind: str,
    holder_id: str,
    rule: str,
    source: str,
    *,
    at: dt.datetime | None = None,
    points: int | None = None,
    note: str | None = None,
    verify: bool = True,
) -> Earned:
    """Credit one earning, idempotent by (kind, rule, source event). `verify`: the holder must
    be a patient (doctor) of the warehouse."""
    ops.require("growth.write")
    item = earning(ops, kind, holder_id, rule, source, at, points, note)
    if verify:
        _known_holder(ops, kind, holder_id)
    t = now()
    with ops.state.begin() as conn:
        entries, new = credit(
            conn, [item], now=t, expire_days=ops.settings.points.expire_days, actor=ops.actor.label
        )
        if new:
            ops.audit(
                "points.earn",
                f"points:{kind}:{holder_id}",
                {"rule": rule, "points": item.points, "key": item.key},
                conn=conn,
                subject=holder_id if kind == "patient" else None,
            )
    return Earned(entries[0], replayed=not new)


def earn_many(ops: Ops, items: Sequence[NewEarning], *, source: str) -> int:
    """Credit many validated earnings in one transaction (a warehouse sync); return how many
    were new. One audit record names the batch."""
    ops.require("growth.write")
    t = now()
    total = 0
    with ops.state.begin() as conn:
        for start in range(0, len(items), 2000):
            _, new = credit(
                conn,
                items[start : start + 2000],
                now=t,
                expire_days=ops.settings.points.expire_days,
                actor=ops.actor.label,
            )
            total += new
        ops.audit(
            "points.earn_batch", f"points:{source}", {"new": total, "seen": len(items)}, conn=conn
        )
    return total


def level_of(ops: Ops, kind: str, earned: int) -> Level:
    """The level an amount of points earned in the window reaches."""
    p = ops.settings.points
    table = list((p.patient_levels if kind == "patient" else p.doctor_levels).items())
    idx = max(i for i, (_, lo) in enumerate(table) if earned >= lo)
    if idx + 1 < len(table):
        nxt, lo = table[idx + 1]
        return Level(table[idx][0], earned, nxt, lo - earned)
    return Level(table[idx][0], earned, None, None)


def _earned_since(conn, kind: str, holder_id: str, since: dt.datetime, until: dt.datetime) -> int:
    led = points_ledger.c
    q = sa.select(sa.func.coalesce(sa.func.sum(led.points), 0)).where(
        led.holder_kind == kind,
        led.holder_id == holder_id,
        led.entry == "earn",
        led.at > since,
        led.at <= until,
    )
    return int(conn.execute(q).scalar_one())


def _has_account(conn, kind: str, holder_id: str) -> bool:
    a = points_accounts.c
    q = sa.select(a.holder_id).where(a.holder_kind == kind, a.holder_id == holder_id)
    return conn.execute(q).first() is not None


def balance(ops: Ops, kind: str, holder_id: str, at: dt.datetime | None = None) -> Balance:
    """The holder's available points at `at` (lots earned by then and not yet expired, less what
    was spent by then — exact for a past `at` too), what expires in the next 30 days, and the
    level. A holder who never earned is `NotFound`."""
    ops.require("growth.read")
    check_holder(kind, holder_id)
    at = _aware(at)
    with ops.state.connect() as conn:
        if not _has_account(conn, kind, holder_id):
            raise NotFound(f"没有积分账户 / no points for {kind} {holder_id!r}", field="user_id")
        left = lots(conn, kind, holder_id, until=at)
        window = dt.timedelta(days=ops.settings.points.level_window_days)
        earned = _earned_since(conn, kind, holder_id, at - window, at)
    live = [lot for lot in left if lot.expires_at > at]
    soon = at + dt.timedelta(days=30)
    return Balance(
        holder_kind=kind,
        holder_id=holder_id,
        at=at,
        available=sum(lot.remaining for lot in live),
        expiring_30d=sum(lot.remaining for lot in live if lot.expires_at <= soon),
        level=level_of(ops, kind, earned),
    )


def ledger(ops: Ops, kind: str, holder_id: str, *, limit: int = 100) -> list[Entry]:
    """The holder's entries, newest first."""
    ops.require("growth.read")
    check_holder(kind, holder_id)
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit 须在 1–10000 / limit must be 1–10000", field="limit")
    led = points_ledger.c
    q = (
        sa.select(points_ledger)
        .where(led.holder_kind == kind, led.holder_id == holder_id)
        .order_by(led.at.desc(), led.id.desc())
        .limit(limit)
    )
    with ops.state.connect() as conn:
        if not _has_account(conn, kind, holder_id):
            raise NotFound(f"没有积分账户 / no points for {kind} {holder_id!r}", field="user_id")
        return [entry_of(r) for r in conn.execute(q)]


def new_code(n: int = 12) -> str:
    """An unguessable code: `n` characters of a 32-letter alphabet (5 bits each, from
    `secrets`), so 12 characters carry 60 bits."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(n))


def _coupon_of(r, balance_after: int, replayed: bool) -> Coupon:
    m = r._mapping
    return Coupon(
        code=m["code"],
        user_id=m["user_id"],
        kind=m["kind"],
        value_cny=float(m["value_cny"]),
        points=int(m["points"]),
        issued_at=utc(m["issued_at"]),
        expires_at=utc(m["expires_at"]),
        balance_after=balance_after,
        replayed=replayed,
    )


def redeem(
    ops: Ops,
    user_id: str,
    coupon: str,
    *,
    request_key: str | None = None,
    at: dt.datetime | None = None,
) -> Coupon:
    """Spend points on a consultation coupon, oldest lots first.

    The patient's account is locked first, then lots due are expired, then the coupon's cost is
    checked against the points left: too few is a `Conflict` and nothing is written (the
    expiries roll back with it). With `request_key`, a retry returns the coupon issued the
    first time (`replayed`), never a second one."""
    ops.require("growth.write")
    check_holder("patient", user_id)
    rules = ops.settings.points.coupons
    if coupon not in rules:
        close = difflib.get_close_matches(coupon, list(rules), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidInput(
            f"没有这种优惠券 / unknown coupon {coupon!r}{hint} (coupons: {', '.join(rules)})",
            field="coupon",
        )
    if request_key is not None and not SOURCE.fullmatch(request_key):
        raise InvalidInput(f"请求键不合法 / bad request key {request_key[:60]!r}")
    rule = rules[coupon]
    at = _aware(at)
    t = now()
    key = request_key or uuid.uuid4().hex
    with ops.state.begin() as conn:
        if not lock_holders(conn, [("patient", user_id)], t, create=False):
            raise NotFound(f"没有积分账户 / no points for patient {user_id!r}", field="user_id")
        prior = conn.execute(sa.select(coupons).where(coupons.c.request_key == key)).first()
        if prior is not None:
            if prior.user_id != user_id or prior.kind != coupon:
                raise Conflict(f"请求键 {key!r} 已用于另一次兑换 / request key already used")
            bal = conn.execute(
                sa.select(points_accounts.c.balance).where(
                    points_accounts.c.holder_kind == "patient",
                    points_accounts.c.holder_id == user_id,
                )
            ).scalar_one()
            return _coupon_of(prior, int(bal), replayed=True)
        expire_due(conn, "patient", user_id, at, t, ops.actor.label)
        live = [lot for lot in lots(conn, "patient", user_id) if lot.at <= at]
        have = sum(lot.remaining for lot in live)
        if have < rule.points:
            raise Conflict(
                f"积分不足: 可用 {have}, 需要 {rule.points} / not enough points: {have} "
                f"available, {coupon} costs {rule.points}"
            )
        debit_id = debit(
            conn,
            key=f"redeem:{key}",
            kind="patient",
            holder=user_id,
            entry="redeem",
            rule=coupon,
            allocation=fifo(live, rule.points),
            at=at,
            now=t,
            actor=ops.actor.label,
        )
        resync(conn, {("patient", user_id)}, t)
        code = new_code()
        conn.execute(
            sa.insert(coupons).values(
                code=code,
                request_key=key,
                user_id=user_id,
                kind=coupon,
                value_cny=rule.value_cny,
                points=rule.points,
                debit_id=debit_id,
                issued_at=at,
                expires_at=at + dt.timedelta(days=rule.valid_days),
            )
        )
        ops.audit(
            "points.redeem",
            f"points:patient:{user_id}",
            {"coupon": coupon, "points": rule.points, "request_key": key},
            conn=conn,
            subject=user_id,
        )
        row = conn.execute(sa.select(coupons).where(coupons.c.code == code)).one()
    return _coupon_of(row, have - rule.points, replayed=False)


def expire_points(ops: Ops, at: dt.datetime | None = None) -> int:
    """Write the expiry of every lot due at `at` (the daily job), set-wise, 2,000 holders per
    transaction; return the points expired. Running it again expires nothing more."""
    from careops.points.store import due_lots, expire_batch

    ops.require("growth.write")
    at = _aware(at)
    t = now()
    with ops.state.connect() as conn:
        holders = sorted({(r[1], r[2]) for r in due_lots(conn, at)})
    total = 0
    for start in range(0, len(holders), 2000):
        chunk = holders[start : start + 2000]
        with ops.state.begin() as conn:
            n = expire_batch(conn, chunk, at, t, ops.actor.label)
            ops.audit(
                "points.expire", "points:expiry", {"points": n, "holders": len(chunk)}, conn=conn
            )
        total += n
    return total


@dataclass(frozen=True)
class LevelCount:
    """How many holders stand at one level."""

    code: str
    min_points: int
    holders: int


def level_counts(ops: Ops, kind: str, at: dt.datetime | None = None) -> list[LevelCount]:
    """The level table (code, threshold) with how many holders of `kind` stand at each at `at`
    (from the points each earned in the `level_window_days` before)."""
    ops.require("growth.read")
    if kind not in HOLDER_KINDS:
        raise InvalidInput(f"持有人类型须为 {HOLDER_KINDS} / kind must be one of {HOLDER_KINDS}")
    at = _aware(at)
    p = ops.settings.points
    table = p.patient_levels if kind == "patient" else p.doctor_levels
    led, a = points_ledger.c, points_accounts.c
    since = at - dt.timedelta(days=p.level_window_days)
    earned = (
        sa.select(led.holder_id, sa.func.sum(led.points).label("pts"))
        .where(led.holder_kind == kind, led.entry == "earn", led.at > since, led.at <= at)
        .group_by(led.holder_id)
        .subquery()
    )
    q = (
        sa.select(sa.func.coalesce(earned.c.pts, 0))
        .select_from(points_accounts.outerjoin(earned, earned.c.holder_id == a.holder_id))
        .where(a.holder_kind == kind)
    )
    counts = dict.fromkeys(table, 0)
    with ops.state.connect() as conn:
        for (pts,) in conn.execute(q):
            counts[level_of(ops, kind, int(pts)).code] += 1
    return [LevelCount(code, table[code], counts[code]) for code in table]


def ledger_page(
    ops: Ops, kind: str, holder_id: str, *, limit: int = 50, offset: int = 0
) -> tuple[list[Entry], int]:
    """One page of the holder's entries, newest first, and how many entries there are."""
    ops.require("growth.read")
    check_holder(kind, holder_id)
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit 须在 1–10000 / limit must be 1–10000", field="limit")
    if offset < 0:
        raise InvalidInput("offset 不能为负 / offset must be ≥ 0", field="offset")
    led = points_ledger.c
    mine = (led.holder_kind == kind, led.holder_id == holder_id)
    q = (
        sa.select(points_ledger)
        .where(*mine)
        .order_by(led.at.desc(), led.id.desc())
        .limit(limit)
        .offset(offset)
    )
    with ops.state.connect() as conn:
        if not _has_account(conn, kind, holder_id):
            raise NotFound(f"没有积分账户 / no points for {kind} {holder_id!r}", field="user_id")
        total = conn.execute(sa.select(sa.func.count()).where(*mine)).scalar_one()
        return [entry_of(r) for r in conn.execute(q)], int(total)

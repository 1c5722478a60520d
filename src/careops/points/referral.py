"""Referral (裂变) as services: invite codes and links, attribution of a sign-up to its
inviter with fraud guards, rewards paid once after the invitee's first qualifying action, the
invitation tree, and the K-factor per generation and channel.

Decisions (settings `referral.*`, docs/points.md):
- codes are 10 characters of a 32-letter alphabet from `secrets` (50 bits), valid
  `code_valid_days`; a link is `link_base?code=…&ch=<channel>`.
- attribution: an unknown code is `NotFound`; an expired code, inviting oneself, or a malformed
  device/phone is refused and nothing is written. A sign-up is attributed once; the same again is
  a replay, another inviter a `Conflict`. A sign-up from a device already behind
  `max_per_device` sign-ups, from the inviter's own device, or the inviter's
  `max_per_phone_prefix + 1`-th sign-up sharing a phone prefix is attributed but marked
  `suspect` (with the reason) and earns no reward — the tree still shows it.
- rewards: when an invitee (not suspect) makes a paid order of `qualifying_categories` within
  `qualify_within_days` of sign-up, inviter and invitee get `reward_cny` each (invite 1 → ¥50
  each); an inviter's `checkup_after`-th qualified invitee earns one free check-up. Each reward
  has a key and is paid once.
- the K-factor is the metric `k_factor` (converted invites per active user, `careops.metrics`),
  broken down by invitation generation or by the inviter's acquisition channel; the tree adds
  the generation-over-generation ratio (sign-ups of generation g+1 / of generation g).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from careops.asof import AsOf
from careops.errors import Conflict, InvalidInput, NotFound
from careops.points.referral_store import referral_codes, referral_rewards, referral_signups
from careops.points.service import CODE_ALPHABET, _aware, _known_holder, check_holder, new_code
from careops.points.store import utc
from careops.service import Ops, now

CODE = re.compile(rf"[{CODE_ALPHABET}]{{10}}")
PHONE = re.compile(r"\+?(?:86)?(1\d{10})")
DEVICE = re.compile(r"[\w.:-]{4,128}")


@dataclass(frozen=True)
class InviteCode:
    """An invite code, its link and validity."""

    code: str
    user_id: str
    channel: str
    link: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class Attribution:
    """A sign-up attributed to its inviter; `suspect` ones earn no reward."""

    invitee_id: str
    inviter_id: str
    code: str | None
    channel: str
    signed_up_at: dt.datetime
    status: str
    reason: str | None
    replayed: bool = False


@dataclass(frozen=True)
class RewardRun:
    """What one reward run paid: rewards by kind, the yuan, and who is still waiting."""

    as_of: date
    cash_rewards: int
    cash_cny: float
    checkups: int
    waiting: int  # attributed, not suspect, no qualifying action yet
    lapsed: int  # no qualifying action within the window: never paid
    suspect: int


def _link(ops: Ops, code: str, channel: str) -> str:
    return f"{ops.settings.referral.link_base}?code={code}&ch={channel}"


def create_code(
    ops: Ops,
    user_id: str,
    channel: str = "link",
    *,
    at: dt.datetime | None = None,
    verify: bool = True,
) -> InviteCode:
    """A new invite code and link for `user_id` on `channel`."""
    ops.require("growth.write")
    check_holder("patient", user_id)
    chans = ops.settings.referral.channels
    if channel not in chans:
        raise InvalidInput(
            f"渠道须为 {', '.join(chans)} / channel must be one of {', '.join(chans)}",
            field="channel",
        )
    at = _aware(at)
    if verify:
        _known_holder(ops, "patient", user_id)
    expires = at + dt.timedelta(days=ops.settings.referral.code_valid_days)
    with ops.state.begin() as conn:
        for _ in range(5):  # 50 bits: a clash is astronomically rare, but never reused
            code = new_code(10)
            taken = conn.execute(
                sa.select(referral_codes.c.code).where(referral_codes.c.code == code)
            ).first()
            if taken is None:
                break
        conn.execute(
            sa.insert(referral_codes).values(
                code=code,
                user_id=user_id,
                channel=channel,
                created_at=at,
                expires_at=expires,
                uses=0,
            )
        )
        ops.audit(
            "referral.code", f"referral:{code}", {"channel": channel}, conn=conn, subject=user_id
        )
    return InviteCode(code, user_id, channel, _link(ops, code, channel), at, expires)


def _device_hash(device_id: str | None) -> str | None:
    if device_id is None:
        return None
    if not DEVICE.fullmatch(device_id):
        raise InvalidInput(f"设备号不合法 / bad device id {device_id[:40]!r}", field="device")
    return hashlib.sha256(device_id.encode()).hexdigest()


def _prefix(ops: Ops, phone: str | None) -> str | None:
    if phone is None:
        return None
    m = PHONE.fullmatch(phone.replace(" ", "").replace("-", ""))
    if not m:
        raise InvalidInput(
            "手机号须为 11 位 1 开头 / phone must be 11 digits starting with 1", field="phone"
        )
    return m[1][: ops.settings.referral.phone_prefix_digits]


def _attribution(r: Any, replayed: bool = False) -> Attribution:
    m = r._mapping
    return Attribution(
        invitee_id=m["invitee_id"],
        inviter_id=m["inviter_id"],
        code=m["code"],
        channel=m["channel"],
        signed_up_at=utc(m["signed_up_at"]),
        status=m["status"],
        reason=m["reason"],
        replayed=replayed,
    )


def attribute(
    ops: Ops,
    invitee_id: str,
    code: str,
    *,
    at: dt.datetime | None = None,
    device_id: str | None = None,
    phone: str | None = None,
) -> Attribution:
    """Attribute the sign-up of `invitee_id` (at `at`) to the owner of `code`."""
    ops.require("growth.write")
    check_holder("patient", invitee_id)
    code = code.strip().upper() if isinstance(code, str) else code
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise InvalidInput(
            f"邀请码格式不对 / malformed invite code {str(code)[:20]!r}", field="code"
        )
    at = _aware(at)
    device = _device_hash(device_id)
    prefix = _prefix(ops, phone)
    cfg = ops.settings.referral
    t = now()
    s = referral_signups.c
    with ops.state.begin() as conn:
        # first statement writes: the code's row is locked, so sign-ups of one inviter queue
        locked = conn.execute(
            sa.update(referral_codes)
            .where(referral_codes.c.code == code)
            .values(uses=referral_codes.c.uses + 1)
        ).rowcount
        if not locked:
            raise NotFound(f"没有这个邀请码 / unknown invite code {code}", field="code")
        row = conn.execute(sa.select(referral_codes).where(referral_codes.c.code == code)).one()
        if utc(row.expires_at) <= at:
            raise InvalidInput(
                f"邀请码已于 {utc(row.expires_at):%Y-%m-%d} 过期 / invite code expired on "
                f"{utc(row.expires_at):%Y-%m-%d}",
                field="code",
            )
        if utc(row.created_at) > at:
            raise InvalidInput(
                "注册早于邀请码 / the sign-up is before the code was made", field="at"
            )
        inviter = row.user_id
        if inviter == invitee_id:
            raise InvalidInput("不能邀请自己 / a user cannot invite themselves", field="code")
        prior = conn.execute(sa.select(referral_signups).where(s.invitee_id == invitee_id)).first()
        if prior is not None:
            if prior.inviter_id != inviter:
                raise Conflict(
                    f"{invitee_id} 已归属 {prior.inviter_id} 的邀请 / sign-up already attributed "
                    f"to {prior.inviter_id}"
                )
            return _attribution(prior, replayed=True)
        reason = None
        if device is not None:
            own = conn.execute(
                sa.select(s.invitee_id).where(s.invitee_id == inviter, s.device_hash == device)
            ).first()
            same = conn.execute(
                sa.select(sa.func.count())
                .select_from(referral_signups)
                .where(s.device_hash == device)
            ).scalar_one()
            if own is not None:
                reason = "own_device"
            elif same >= cfg.max_per_device:
                reason = "device"
        if reason is None and prefix is not None:
            same = conn.execute(
                sa.select(sa.func.count())
                .select_from(referral_signups)
                .where(s.inviter_id == inviter, s.phone_prefix == prefix)
            ).scalar_one()
            if same >= cfg.max_per_phone_prefix:
                reason = "phone_prefix"
        conn.execute(
            sa.insert(referral_signups).values(
                invitee_id=invitee_id,
                inviter_id=inviter,
                code=code,
                channel=row.channel,
                signed_up_at=at,
                device_hash=device,
                phone_prefix=prefix,
                status="suspect" if reason else "ok",
                reason=reason,
                created_at=t,
            )
        )
        ops.audit(
            "referral.attribute",
            f"referral:{code}",
            {"inviter": inviter, "status": "suspect" if reason else "ok", "reason": reason},
            conn=conn,
            subject=invitee_id,
        )
        got = conn.execute(sa.select(referral_signups).where(s.invitee_id == invitee_id)).one()
    return _attribution(got)


def import_signups(ops: Ops, as_of: date) -> int:
    """Attribute the warehouse's referred patients (`referrer_id`, registered before `as_of`)
    that are not attributed yet — sign-ups that came in through the app rather than a code.
    Returns how many were new."""
    ops.require("growth.write")
    with ops.warehouse(read_only=True) as con:
        f = AsOf(con, as_of, ops.settings)
        p = f.facts("patients", "registered_at")
        p = p.filter(p.referrer_id.notnull() & (p.referrer_id != p.user_id))
        rows = p.select("user_id", "referrer_id", "registered_at").to_pyarrow().to_pylist()
    t = now()
    if not rows:
        return 0
    from careops.points.store import _insert_ignoring

    with ops.state.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(referral_signups)).scalar()
        values = [
            {
                "invitee_id": r["user_id"],
                "inviter_id": r["referrer_id"],
                "code": None,
                "channel": "app",
                "signed_up_at": utc(r["registered_at"]),
                "device_hash": None,
                "phone_prefix": None,
                "status": "ok",
                "reason": None,
                "created_at": t,
            }
            for r in rows
        ]
        stmt = _insert_ignoring(conn, referral_signups, ["invitee_id"])
        for start in range(0, len(values), 5000):
            conn.execute(stmt, values[start : start + 5000])
        after = conn.execute(sa.select(sa.func.count()).select_from(referral_signups)).scalar()
        ops.audit("referral.import", "referral:warehouse", {"new": after - before}, conn=conn)
    return int(after - before)


def _first_actions(ops: Ops, pending: dict[str, dt.datetime], as_of: date) -> dict[str, tuple]:
    """Each pending invitee's first qualifying paid order at or after sign-up, before as_of."""
    import ibis

    cfg = ops.settings.referral
    if not pending:
        return {}
    with ops.warehouse(read_only=True) as con:
        f = AsOf(con, as_of, ops.settings)
        o = f.facts("orders", "ts")
        o = o.filter((o.status == "paid") & o.category.isin(list(cfg.qualifying_categories)))
        who = ibis.memtable({"uid": list(pending)})
        j = o.inner_join(who, o.user_id == who.uid)
        rows = j.select("user_id", "order_id", "ts").to_pyarrow().to_pylist()
    firsts: dict[str, tuple] = {}
    for r in sorted(rows, key=lambda r: (r["ts"], r["order_id"])):
        ts = utc(r["ts"])
        if ts >= pending[r["user_id"]] and r["user_id"] not in firsts:
            firsts[r["user_id"]] = (r["order_id"], ts)
    return firsts


def pay_rewards(ops: Ops, as_of: date) -> RewardRun:
    """Pay the rewards earned by qualifying actions before `as_of` (once each; idempotent)."""
    from careops.points.store import _insert_ignoring

    ops.require("growth.write")
    cfg = ops.settings.referral
    rw = referral_rewards.c
    with ops.state.connect() as conn:
        paid = {r[0] for r in conn.execute(sa.select(rw.invitee_id).where(rw.reason == "inviter"))}
        signups = conn.execute(sa.select(referral_signups)).all()
    ok = [r for r in signups if r.status == "ok"]
    pending = {r.invitee_id: utc(r.signed_up_at) for r in ok if r.invitee_id not in paid}
    firsts = _first_actions(ops, pending, as_of)
    window = dt.timedelta(days=cfg.qualify_within_days)
    end = dt.datetime.combine(as_of, dt.time(0), tzinfo=ops.settings.tz).astimezone(dt.UTC)
    t = now()
    rows: list[dict] = []
    lapsed = waiting = 0
    for r in ok:
        if r.invitee_id not in pending:
            continue
        first = firsts.get(r.invitee_id)
        start = pending[r.invitee_id]
        if first is None or first[1] >= start + window:
            if start + window <= end:
                lapsed += 1
            else:
                waiting += 1
            continue
        order_id, ts = first
        for who, reason in ((r.inviter_id, "inviter"), (r.invitee_id, "invitee")):
            rows.append(
                {
                    "key": f"invite:{r.invitee_id}:{reason}",
                    "user_id": who,
                    "kind": "cash",
                    "amount_cny": cfg.reward_cny,
                    "reason": reason,
                    "invitee_id": r.invitee_id,
                    "order_id": order_id,
                    "qualified_at": ts,
                    "paid_at": t,
                }
            )
    with ops.state.begin() as conn:
        before = dict(conn.execute(sa.select(rw.kind, sa.func.count()).group_by(rw.kind)).all())
        if rows:
            conn.execute(_insert_ignoring(conn, referral_rewards, ["key"]), rows)
        # the n-th qualified invitee of an inviter earns one free check-up
        q = (
            sa.select(rw.user_id, rw.qualified_at, rw.invitee_id, rw.order_id)
            .where(rw.reason == "inviter")
            .order_by(rw.user_id, rw.qualified_at, rw.invitee_id)
        )
        per: dict[str, list] = {}
        for uid, qat, inv, oid in conn.execute(q):
            per.setdefault(uid, []).append((qat, inv, oid))
        checks = [
            {
                "key": f"checkup:{uid}",
                "user_id": uid,
                "kind": "checkup",
                "amount_cny": 0.0,
                "reason": f"invite_{cfg.checkup_after}",
                "invitee_id": lst[cfg.checkup_after - 1][1],
                "order_id": lst[cfg.checkup_after - 1][2],
                "qualified_at": lst[cfg.checkup_after - 1][0],
                "paid_at": t,
            }
            for uid, lst in per.items()
            if len(lst) >= cfg.checkup_after
        ]
        if checks:
            conn.execute(_insert_ignoring(conn, referral_rewards, ["key"]), checks)
        after = dict(conn.execute(sa.select(rw.kind, sa.func.count()).group_by(rw.kind)).all())
        cash = after.get("cash", 0) - before.get("cash", 0)
        checkups = after.get("checkup", 0) - before.get("checkup", 0)
        ops.audit(
            "referral.rewards",
            "referral:rewards",
            {"cash": cash, "checkups": checkups, "as_of": str(as_of)},
            conn=conn,
        )
    return RewardRun(
        as_of=as_of,
        cash_rewards=int(cash),
        cash_cny=float(cash * cfg.reward_cny),
        checkups=int(checkups),
        waiting=waiting,
        lapsed=lapsed,
        suspect=sum(r.status == "suspect" for r in signups),
    )


@dataclass(frozen=True)
class Generation:
    """One generation of the invitation tree: sign-ups in it, and the ratio to the one before."""

    generation: int
    users: int
    ratio: float | None  # users of this generation / users of the previous one


@dataclass(frozen=True)
class Tree:
    """The invitation tree: each attributed user's generation (1 = invited by someone nobody
    invited), the generations' sizes, and a root's descendants when one was asked for."""

    generation_of: dict[str, int]
    generations: list[Generation]
    seeds: int  # inviters nobody invited (generation 0)
    descendants: list[tuple[str, str, int]] = field(default_factory=list)  # (user, inviter, depth)


def tree(ops: Ops, root: str | None = None, *, max_depth: int = 20) -> Tree:
    """The invitation tree of all attributed sign-ups (suspect ones included)."""
    ops.require("growth.read")
    with ops.state.connect() as conn:
        edges = conn.execute(
            sa.select(referral_signups.c.invitee_id, referral_signups.c.inviter_id)
        ).all()
    parent = dict(edges)
    gen: dict[str, int] = {}

    def depth(u: str) -> None:
        path: list[str] = []
        seen: set[str] = set()
        while u in parent and u not in gen and u not in seen:  # a cycle is cut where it closes
            seen.add(u)
            path.append(u)
            u = parent[u]
        g = gen.get(u, 0)
        for v in reversed(path):
            g += 1
            gen[v] = g

    for u in parent:
        depth(u)
    seeds = {p for p in parent.values() if p not in parent}
    sizes: dict[int, int] = {0: len(seeds)}
    for g in gen.values():
        sizes[g] = sizes.get(g, 0) + 1
    gens = [
        Generation(g, sizes[g], (sizes[g] / sizes[g - 1]) if g and sizes.get(g - 1) else None)
        for g in sorted(sizes)
    ]
    desc: list[tuple[str, str, int]] = []
    if root is not None:
        check_holder("patient", root)
        children: dict[str, list[str]] = {}
        for child, par in edges:
            children.setdefault(par, []).append(child)
        if root not in children and root not in parent:
            raise NotFound(f"{root} 不在邀请树中 / {root!r} is in no invitation", field="root")
        frontier, seen = [(root, 0)], {root}
        while frontier:
            u, d = frontier.pop(0)
            for c in sorted(children.get(u, [])):
                if c not in seen and d + 1 <= max_depth:
                    seen.add(c)
                    desc.append((c, u, d + 1))
                    frontier.append((c, d + 1))
    return Tree(gen, gens, len(seeds), desc)


@dataclass(frozen=True)
class KGroup:
    """The K-factor of one group: converted invites / active users."""

    group: str
    k: float | None
    converted: float
    active: float


def kfactor(
    ops: Ops, as_of: date, *, by: str = "generation", window_days: int | None = None
) -> tuple[float | None, list[KGroup]]:
    """The `k_factor` metric as of `as_of`, overall and per group: `generation` (of the
    invitation tree in the state store; users in no invitation are generation 0), or any
    breakdown the metrics know (`channel`: the inviter's acquisition channel)."""
    import ibis

    from careops.metrics.compute import compute
    from careops.metrics.context import MetricContext

    ops.require("metrics.read")
    groups: Any = by
    if by == "generation":
        gens = tree(ops).generation_of
        g = ibis.memtable(
            {"uid": list(gens), "gen": [str(v) for v in gens.values()]},
            schema={"uid": "string", "gen": "string"},
        )
    with ops.warehouse(read_only=True) as con:
        ctx = MetricContext(con, as_of)
        ctx.validate()
        if by == "generation":
            p = ctx.patients()
            j = p.left_join(g, p.user_id == g.uid)
            groups = j.select(user_id=j.user_id, generation=ibis.coalesce(j.gen, ibis.literal("0")))
        result = compute(con, "k_factor", as_of, by=groups, ctx=ctx, window_days=window_days)
    rows = [
        KGroup(str(v.group), v.value, float(v.numerator or 0), float(v.denominator or 0))
        for v in result.groups
    ]
    if by == "generation":
        rows.sort(key=lambda r: int(r.group) if r.group.isdigit() else 10**9)
    return result.value, rows


@dataclass(frozen=True)
class CodeInfo:
    """What an invite code is: its owner, channel, validity and how often it was used."""

    code: str
    user_id: str
    channel: str
    link: str
    created_at: dt.datetime
    expires_at: dt.datetime
    uses: int
    expired: bool


def code_info(ops: Ops, code: str, *, at: dt.datetime | None = None) -> CodeInfo:
    """Look an invite code up (a malformed code is `InvalidInput`, an unknown one `NotFound`);
    audited with the owner as subject."""
    ops.require("growth.read")
    code = code.strip().upper() if isinstance(code, str) else code
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise InvalidInput(
            f"邀请码格式不对 / malformed invite code {str(code)[:20]!r}", field="code"
        )
    at = _aware(at)
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(referral_codes).where(referral_codes.c.code == code)).first()
    if row is None:
        raise NotFound(f"没有这个邀请码 / unknown invite code {code}", field="code")
    ops.audit("referral.lookup", f"referral:{code}", {}, subject=row.user_id)
    expires = utc(row.expires_at)
    return CodeInfo(
        code,
        row.user_id,
        row.channel,
        _link(ops, code, row.channel),
        utc(row.created_at),
        expires,
        int(row.uses),
        expires <= at,
    )

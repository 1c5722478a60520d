"""Patients and referral chains: who invited whom, and the patients table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from careops.sim import arrow_util as au
from careops.sim import vocab
from careops.sim.context import Chunk


def assign_referrers(ch: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give each referral sign-up an inviter who used the app in the 3 days before sign-up.

    Inviters are drawn from active user-days of personas that invite, so chains form (a
    referred user may invite later). Referral sign-ups with no possible inviter become organic.
    Returns (invitee index, inviter index, inviter's day) for the invite events; sets
    `ch.referrer` (-1 = none).
    """
    cfg, pop, act = ch.cfg, ch.pop, ch.trace.active
    names = list(cfg.channels)
    referrer = np.full(pop.n, -1, dtype=np.int64)
    ch.referrer = referrer
    if "referral" not in names:
        return (np.array([], np.int64),) * 3  # type: ignore[return-value]
    ref_code = names.index("referral")
    rate = np.array([p.invite_rate for p in cfg.personas.values()])[pop.persona]
    has = len(act.get("u", [])) > 0
    keep = rate[act["u"]] > 0 if has else np.array([], bool)
    cand = act["u"][keep] if has else np.array([], np.int64)  # active user-days, day-sorted
    cand_t = act["t"][keep] if has else np.array([], np.int64)
    who = np.flatnonzero(pop.channel == ref_code)
    # strictly before the sign-up day, so the invite precedes it and nobody invites themselves
    lo = np.searchsorted(cand_t, pop.reg_day[who] - 3, side="left")
    hi = np.searchsorted(cand_t, pop.reg_day[who] - 1, side="right")
    ok = hi > lo
    pick = np.minimum(
        lo + (ch.rng.random(len(who)) * (hi - lo)).astype(np.int64), np.maximum(hi - 1, 0)
    )
    organic = names.index("organic") if "organic" in names else 0
    pop.channel[who[~ok]] = organic
    who, pick = who[ok], pick[ok]
    referrer[who] = cand[pick]
    return who, cand[pick], cand_t[pick]


def lost_invites(
    ch: Chunk, converted: int, u: np.ndarray, ts: np.ndarray
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Invites whose invitee never signs up, so that `invite_conversion` of all invites convert.

    About `converted × (1 − p) / p` of them (p = `invite_conversion`), each at the time of an
    app event (`u`, `ts`) of a user of a persona that invites, to an invitee id no patient has
    (`N` + chunk + row). They add no active day, and come from a random stream of their own,
    so every other table and calibration figure is as without them.
    Returns (invitee ids, inviter index, UTC microseconds).
    """
    cfg, pop = ch.cfg, ch.pop
    rng = np.random.default_rng([cfg.seed, ch.index + 1, 1])
    rate = np.array([p.invite_rate for p in cfg.personas.values()])[pop.persona]
    keep = np.flatnonzero(rate[u] > 0)
    n = int(rng.poisson(converted * (1 - cfg.invite_conversion) / cfg.invite_conversion))
    if n == 0 or len(keep) == 0:
        return pa.array([], pa.string()), np.array([], np.int64), np.array([], np.int64)
    k = keep[rng.integers(0, len(keep), n)]
    return ch.ids("N", n), u[k], ts[k]


def patients(ch: Chunk) -> pa.Table:
    """The patients table of the chunk."""
    cfg, pop = ch.cfg, ch.pop
    idx = np.arange(pop.n)
    reg_us = ch.ts(pop.reg_day, pop.reg_sod)
    reg_date = au.day_number(cfg.start) + pop.reg_day
    birth = reg_date - np.round(pop.age * 365.25).astype(np.int64) - ch.rng.integers(0, 365, pop.n)
    birth = np.minimum(birth, reg_date)
    managed = pop.managed_by >= 0
    ref = ch.referrer if ch.referrer is not None else np.full(pop.n, -1)
    return au.table(
        "patients",
        {
            "user_id": ch.uid(idx),
            "registered_at": au.ts_array(reg_us),
            "birth_date": au.date_array(birth),
            "sex": au.take(("M", "F"), pop.female.astype(np.int64)),
            "region": au.take(tuple(vocab.REGIONS), pop.region),
            "city": pa.array(pop.city, type=pa.string()),
            "source_channel": au.take(tuple(cfg.channels), pop.channel),
            "referrer_id": pa.array(
                np.where(
                    ref >= 0,
                    np.asarray(ch.uid(np.maximum(ref, 0)).to_numpy(zero_copy_only=False)),
                    None,
                )
            ),
            "managed_by": pa.array(
                np.where(
                    managed,
                    np.asarray(
                        ch.uid(np.maximum(pop.managed_by, 0)).to_numpy(zero_copy_only=False)
                    ),
                    None,
                )
            ),
        },
    )


RING_SIZE = 12  # fake accounts of the planted referral-fraud ring (per simulation)
RING_DEVICES = 3
RING_LEADERS = 2


def referral_signups(
    ch: Chunk, invites: tuple[np.ndarray, np.ndarray, np.ndarray], phones: pa.Array | None
) -> tuple[pa.Table, pa.Table]:
    """What the app records at each referral sign-up — invitee, inviter, time, device id and
    phone — and, in the first chunk, a planted fraud ring: `RING_SIZE` fake accounts (ids `R…`,
    never patients) signed up on `RING_DEVICES` shared devices with consecutive numbers of one
    phone block, invited by `RING_LEADERS` real inviters over a few days.

    Honest invitees sign up on a device of their own (a stable id from the seed and their id)
    with their contact phone (`phones`, the chunk's `contacts.phone`, synthetic 12x numbers;
    none when the simulation writes no contacts).
    Uses a random stream of its own, so every other table is as without it.
    Returns (sign-ups, ring truth: invitee_id, inviter_id, ring)."""
    cfg, pop = ch.cfg, ch.pop
    rng = np.random.default_rng([cfg.seed, ch.index + 1, 3])
    who, inviter, _ = invites
    ids = ch.uid(who)
    device = pa.array([f"dev-{d:016x}" for d in rng.integers(0, 2**63, len(who))], pa.string())
    rows = {
        "invitee_id": ids,
        "inviter_id": ch.uid(inviter),
        "signed_up_at": au.ts_array(ch.ts(pop.reg_day[who], pop.reg_sod[who])),
        "device_id": device,
        "phone": (
            phones.take(pa.array(who, pa.int64()))
            if phones is not None
            else pa.nulls(len(who), pa.string())
        ),
    }
    table = pa.table(rows)
    ring = np.zeros(len(who), bool)
    if ch.index == 0 and len(who) >= RING_LEADERS:
        leaders = rng.choice(np.unique(inviter), size=RING_LEADERS, replace=False)
        day = int(rng.integers(cfg.days // 3, max(cfg.days // 3 + 1, cfg.days - 7)))
        n = RING_SIZE
        block = int(rng.integers(10_000, 99_999))
        fake = pa.table(
            {
                "invitee_id": ch.ids("R", n),
                "inviter_id": ch.uid(leaders[np.arange(n) % RING_LEADERS]),
                "signed_up_at": au.ts_array(
                    ch.ts(day + np.arange(n) // 4, 36_000 + 600 * np.arange(n))
                ),
                "device_id": pa.array(
                    [f"dev-ring-{block:05d}-{i % RING_DEVICES}" for i in range(n)], pa.string()
                ),
                "phone": pa.array([f"12{block:05d}{7000 + i:04d}" for i in range(n)], pa.string()),
            }
        )
        table = pa.concat_tables([table, fake.cast(table.schema)])
        ring = np.concatenate([ring, np.ones(n, bool)])
    truth = pa.table(
        {
            "invitee_id": table["invitee_id"],
            "inviter_id": table["inviter_id"],
            "ring": pa.array(ring),
        }
    )
    return table.sort_by("signed_up_at"), truth

"""Erasure (PIPL) of a patient's points and referral rows held under other columns than
`user_id`: the ledger and balance of the holder, their allocations, their sign-up as an
invitee; as an inviter their id is cut from others' sign-ups and rewards (those stay the
invitees' own records). Runs inside the erasure's state-store transaction."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from careops.points.referral_store import referral_rewards, referral_signups
from careops.points.store import points_accounts, points_allocations, points_ledger
from careops.privacy.erase import eraser

#: what an erased inviter is called in the sign-ups of the patients they invited
ERASED = "<erased>"


@eraser("points")
def erase_points(conn: Connection, user_id: str) -> dict[str, int]:
    """Remove `user_id`'s points and referral traces; rows per table."""
    led = points_ledger.c
    mine = sa.select(led.id).where(led.holder_kind == "patient", led.holder_id == user_id)
    alloc = points_allocations.c
    out = {
        "points_allocations": conn.execute(
            points_allocations.delete().where(
                sa.or_(alloc.debit_id.in_(mine), alloc.lot_id.in_(mine))
            )
        ).rowcount,
        "points_ledger": conn.execute(
            points_ledger.delete().where(led.holder_kind == "patient", led.holder_id == user_id)
        ).rowcount,
        "points_accounts": conn.execute(
            points_accounts.delete().where(
                points_accounts.c.holder_kind == "patient", points_accounts.c.holder_id == user_id
            )
        ).rowcount,
        "referral_signups": conn.execute(
            referral_signups.delete().where(referral_signups.c.invitee_id == user_id)
        ).rowcount,
    }
    out["referral_signups"] += conn.execute(
        referral_signups.update()
        .where(referral_signups.c.inviter_id == user_id)
        .values(inviter_id=ERASED)
    ).rowcount
    out["referral_rewards"] = conn.execute(
        referral_rewards.update()
        .where(referral_rewards.c.invitee_id == user_id)
        .values(invitee_id=None)
    ).rowcount
    return out

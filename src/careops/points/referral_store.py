"""Referral tables in the state store: invite codes, sign-up attributions, rewards paid.

A sign-up is attributed once (`invitee_id` is the key); a reward is paid once (its `key`:
`invite:<invitee>:inviter`, `invite:<invitee>:invitee`, `checkup:<inviter>`), so running the
reward job twice, or two at once, pays nothing twice. Device ids are stored only as a SHA-256
digest; phones only as their prefix (号段, the first `phone_prefix_digits` digits).
"""

from __future__ import annotations

import sqlalchemy as sa

from careops.state.models import metadata

referral_codes = sa.Table(
    "referral_codes",
    metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Index("ix_referral_codes_user", "user_id"),
)

referral_signups = sa.Table(
    "referral_signups",
    metadata,
    sa.Column("invitee_id", sa.String(128), primary_key=True),
    sa.Column("inviter_id", sa.String(128), nullable=False),
    sa.Column("code", sa.String(16)),  # None: imported from the warehouse's referrer_id
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("device_hash", sa.String(64)),
    sa.Column("phone_prefix", sa.String(11)),
    sa.Column("status", sa.String(8), nullable=False),  # ok | suspect
    sa.Column("reason", sa.String(32)),  # why suspect: device, phone_prefix, own_device
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_referral_signups_inviter", "inviter_id"),
    sa.Index("ix_referral_signups_device", "device_hash"),
)

referral_rewards = sa.Table(
    "referral_rewards",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False),  # who is paid
    sa.Column("kind", sa.String(16), nullable=False),  # cash | checkup
    sa.Column("amount_cny", sa.Float, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),  # inviter | invitee | invite_n
    sa.Column("invitee_id", sa.String(128)),
    sa.Column("order_id", sa.String(128)),  # the qualifying action
    sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_referral_rewards_user", "user_id"),
)

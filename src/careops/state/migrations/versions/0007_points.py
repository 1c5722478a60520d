"""points and referral: the append-only points ledger with its FIFO allocations, accounts,
coupons; referral codes, sign-up attributions and rewards

Revision ID: 0007
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "points_accounts",
        sa.Column("holder_kind", sa.String(8), primary_key=True),
        sa.Column("holder_id", sa.String(128), primary_key=True),
        sa.Column("balance", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(240), nullable=False, unique=True),
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(128), nullable=False),
        sa.Column("entry", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("note", sa.String(200)),
    )
    op.create_index("ix_points_ledger_holder", "points_ledger", ["holder_kind", "holder_id", "at"])
    op.create_table(
        "points_allocations",
        sa.Column("debit_id", sa.Integer, sa.ForeignKey("points_ledger.id"), primary_key=True),
        sa.Column("lot_id", sa.Integer, sa.ForeignKey("points_ledger.id"), primary_key=True),
        sa.Column("points", sa.Integer, nullable=False),
    )
    op.create_index("ix_points_allocations_lot", "points_allocations", ["lot_id"])
    op.create_table(
        "coupons",
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
    )
    op.create_index("ix_coupons_user", "coupons", ["user_id"])

    op.create_table(
        "referral_codes",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
    )
    op.create_index("ix_referral_codes_user", "referral_codes", ["user_id"])
    op.create_table(
        "referral_signups",
        sa.Column("invitee_id", sa.String(128), primary_key=True),
        sa.Column("inviter_id", sa.String(128), nullable=False),
        sa.Column("code", sa.String(16)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_hash", sa.String(64)),
        sa.Column("phone_prefix", sa.String(11)),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_referral_signups_inviter", "referral_signups", ["inviter_id"])
    op.create_index("ix_referral_signups_device", "referral_signups", ["device_hash"])
    op.create_table(
        "referral_rewards",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_cny", sa.Float, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("invitee_id", sa.String(128)),
        sa.Column("order_id", sa.String(128)),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_referral_rewards_user", "referral_rewards", ["user_id"])


def downgrade() -> None:
    op.drop_table("referral_rewards")
    op.drop_table("referral_signups")
    op.drop_table("referral_codes")
    op.drop_table("coupons")
    op.drop_table("points_allocations")
    op.drop_table("points_ledger")
    op.drop_table("points_accounts")

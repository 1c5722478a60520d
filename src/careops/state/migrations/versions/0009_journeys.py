"""journeys: enrolments with their timers, the outbox keyed by idempotency key, the decision
log and the trigger cursors of the journey engine

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_enrolments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("journey", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("entry_no", sa.Integer, nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(64)),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("step_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waiting", sa.Boolean, nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True)),
        sa.Column("arm", sa.String(64)),
        sa.Column("exit_reason", sa.String(64)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("journey", "user_id", "entry_no", name="uq_journey_enrolments_entry"),
    )
    op.create_index("ix_journey_enrolments_due", "journey_enrolments", ["status", "next_due"])
    op.create_index("ix_journey_enrolments_user", "journey_enrolments", ["journey", "user_id"])
    op.create_table(
        "journey_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("enrolment_id", sa.Integer, nullable=False),
        sa.Column("journey", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("purpose", sa.String(16)),
        sa.Column("payload", sa.JSON),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_try", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("provider_id", sa.String(128)),
        sa.Column("error", sa.String(500)),
    )
    op.create_index("ix_journey_outbox_status", "journey_outbox", ["status", "next_try"])
    op.create_index("ix_journey_outbox_user", "journey_outbox", ["user_id", "decided_at"])
    op.create_table(
        "journey_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolment_id", sa.Integer, nullable=False),
        sa.Column("journey", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64)),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("channel", sa.String(16)),
        sa.Column("purpose", sa.String(16)),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("key", sa.String(200)),
    )
    op.create_index("ix_journey_decisions_journey", "journey_decisions", ["journey", "at"])
    op.create_table(
        "journey_cursors",
        sa.Column("journey", sa.String(64), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for name in ("journey_cursors", "journey_decisions", "journey_outbox", "journey_enrolments"):
        op.drop_table(name)

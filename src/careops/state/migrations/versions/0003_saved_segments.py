"""saved segments (current version and history) and a record of carried-over data

Saved segment definitions move from the warehouse (`segment_definitions`, append-only) to the
state store, where experiments and journeys refer to them by name in the same transactions.
Membership snapshots stay in the warehouse (`segment_members`): patient-level and analytical.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _definition_columns() -> list[sa.Column]:
    return [
        sa.Column("rule", sa.JSON, nullable=False),
        sa.Column("rule_text", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.String(128), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "saved_segments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        *_definition_columns(),
    )
    op.create_table(
        "saved_segment_versions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        *_definition_columns(),
    )
    op.create_table(
        "carried_over",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("carried_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("carried_over")
    op.drop_table("saved_segment_versions")
    op.drop_table("saved_segments")

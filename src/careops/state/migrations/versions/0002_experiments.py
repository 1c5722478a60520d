"""experiments and their exposures

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "experiment_exposures",
        sa.Column(
            "experiment_key", sa.String(64), sa.ForeignKey("experiments.key"), primary_key=True
        ),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("exposed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("experiment_exposures")
    op.drop_table("experiments")

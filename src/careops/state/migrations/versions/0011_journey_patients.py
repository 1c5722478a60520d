"""journeys: one lock row per enrolled patient (two workers never decide one patient at once)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_patients",
        sa.Column("user_id", sa.String(128), primary_key=True),
    )
    op.execute(
        "INSERT INTO journey_patients (user_id) SELECT DISTINCT user_id FROM journey_enrolments"
    )


def downgrade() -> None:
    op.drop_table("journey_patients")

"""tasks: work for health managers, doctors and operations, raised idempotently by key

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("assignee_role", sa.String(32), nullable=False),
        sa.Column("assignee", sa.String(64)),
        sa.Column("department", sa.String(64)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("outcome", sa.String(500)),
    )
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_at"])
    op.create_index("ix_tasks_user", "tasks", ["user_id"])


def downgrade() -> None:
    op.drop_table("tasks")

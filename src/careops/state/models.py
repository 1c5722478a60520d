"""State-store tables (SQLAlchemy Core metadata; Alembic migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(512)),
    sa.Column("detail", sa.JSON),
)

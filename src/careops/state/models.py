"""State-store tables (SQLAlchemy Core metadata; Alembic migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(512)),
    sa.Column("detail", sa.JSON),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

experiment_exposures = sa.Table(
    "experiment_exposures",
    metadata,
    sa.Column("experiment_key", sa.String(64), sa.ForeignKey("experiments.key"), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("exposed_at", sa.DateTime(timezone=True), nullable=False),
)

saved_segments = sa.Table(
    "saved_segments",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("rule", sa.JSON, nullable=False),
    sa.Column("rule_text", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("saved_by", sa.String(128), nullable=False),
)
"""The current version of each saved segment (journeys and experiments name them)."""

saved_segment_versions = sa.Table(
    "saved_segment_versions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("rule", sa.JSON, nullable=False),
    sa.Column("rule_text", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("saved_by", sa.String(128), nullable=False),
)
"""Every version ever saved (also of deleted segments): which rule a segment meant when."""

carried_over = sa.Table(
    "carried_over",
    metadata,
    sa.Column("source", sa.String(512), primary_key=True),
    sa.Column("carried_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
)
"""Data once kept elsewhere and copied into the state store, one row per source, so that a copy
happens once (a segment deleted afterwards does not come back)."""

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
    sa.Column("role", sa.String(128)),
    sa.Column("subject", sa.String(128)),  # the patient concerned, if any
    sa.Column("purpose", sa.String(256)),
    sa.Column("source_ip", sa.String(64)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("prev_hash", sa.String(64)),  # hash chain: tampering with a row breaks it
    sa.Column("hash", sa.String(64)),
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

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("departments", sa.JSON, nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
)
"""Staff accounts: one role each, departments for object-level checks, Argon2 password hashes."""

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),  # public part, shown in lists
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),  # SHA-256 of the secret part
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("departments", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
)
"""Keys of the hospital's apps and systems: scoped, revocable, the secret shown once."""

revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
"""Access tokens ended before their expiry (logout, disabled account); purged once expired."""

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_login_failures_address_at", "address", "at"),
    sa.Index("ix_login_failures_at", "at"),
)
"""Failed logins per client address (`identity.throttle`), kept for `api.login_window_s`: one
window for every service process of a deployment; `at` is seconds since the epoch."""

service_secrets = sa.Table(
    "service_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
"""Secrets a deployment generates once and all its processes share (the token signing key when
none is configured)."""

care_assignments = sa.Table(
    "care_assignments",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),  # the health manager
    sa.Column("user_id", sa.String(128), primary_key=True),  # the patient
    sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("assigned_by", sa.String(128), nullable=False),
)
"""Which patients each health manager looks after (their object-level scope)."""

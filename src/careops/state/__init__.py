"""The transactional state store (SQLAlchemy 2 + Alembic): audit log now; journeys, sends,
consents, experiments and accounts join it as they are built. SQLite by default, PostgreSQL in
production and CI."""

from careops.state.store import audit, connect_state, migrate, read_audit, write_audit

__all__ = ["audit", "connect_state", "migrate", "read_audit", "write_audit"]

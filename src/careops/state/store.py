"""Open the state store, bring its schema up to date, and write the audit trail."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from careops.errors import ConfigError
from careops.privacy.redact import redact, redact_value
from careops.state.models import audit_log

MIGRATIONS = Path(__file__).parent / "migrations"


def connect_state(url: str | None = None) -> Engine:
    """An engine for the state store at `url` (default: the `state` setting, else beside the
    default warehouse)."""
    if url is None:
        from careops.config import get_settings
        from careops.service import state_url_for

        url = state_url_for(get_settings().warehouse)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"bad state-store URL {redact(url)!r}: {exc}; use "
            "sqlite:///path/state.db or postgresql://user@host/db"
        ) from None


def migrate(engine: Engine) -> str:
    """Apply every Alembic migration; return the revision the store is now at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # one migrating process at a time
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('careops.migrate'))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or ""


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Two processes opening a new SQLite state store at once must not both create its tables:
    they take turns on a lock of the store's folder (no lock file is left behind; PostgreSQL
    uses an advisory lock instead)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def audit(
    engine: Engine,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Record who did what to which data (PIPL audit trail), in a transaction of its own."""
    with engine.begin() as conn:
        write_audit(conn, action, target, detail, actor)


def write_audit(
    conn: Connection,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
    *,
    role: str | None = None,
    subject: str | None = None,
    purpose: str | None = None,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> None:
    """Add an audit entry inside `conn`'s transaction, so it commits or rolls back with the
    change it records. Credentials in the target and detail are redacted. `subject` is the
    patient concerned; `purpose`, `source_ip` and `request_id` come from an API request."""
    conn.execute(
        audit_log.insert().values(
            at=dt.datetime.now(dt.UTC),
            actor=actor or whoami(),
            action=action,
            target=redact(target) if target else target,
            detail=redact_value(detail),
            role=role,
            subject=subject,
            purpose=purpose,
            source_ip=source_ip,
            request_id=request_id,
        )
    )


def read_audit(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The latest audit entries, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def whoami() -> str:
    """The actor of audit entries made without one: the OS login, marked as such (`os:alice`),
    since nothing has verified it (LOGNAME can be set to anything)."""
    from careops.service import Actor

    return Actor.os_user().label

"""Open the state store, bring its schema up to date, and write the audit trail.

The audit trail is a hash chain: each row's `hash` is SHA-256 over a canonical serialisation of
its fields and `prev_hash`, the hash of the row written before it (`GENESIS` for the first), so
an edited, deleted or reordered row breaks the chain at that row
(`careops.state.audit_trail.verify_chain` finds it). Writers take turns: on PostgreSQL a
transaction-level advisory lock is taken before the last hash is read (held until the writing
transaction ends, so two writers never both extend the same row); on SQLite the transaction takes
the database's write lock (`BEGIN IMMEDIATE`) before reading. Both stores also refuse UPDATE,
DELETE (and on PostgreSQL TRUNCATE) of audit rows with a trigger: the application never changes
the trail; someone who drops the trigger is caught by the chain.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
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
        _protect_audit(conn)
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


#: `prev_hash` of the first chained row
GENESIS = "0" * 64
#: the PostgreSQL advisory lock audit writers take in turn (a fixed 64-bit number: 'careaudi')
AUDIT_LOCK = 0x6361726561756469

_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION careops_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only (%% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql
"""
_APPEND_ONLY_PG = {
    "audit_log_append_only": "BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW",
    "audit_log_no_truncate": "BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT",
}
_APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)'); END",
)


def _protect_audit(conn: Connection) -> None:
    """Make `audit_log` append-only (idempotent; run after every migration). Triggers, not a
    migration, so that a store migrated by any version gets them; an owner of the table can still
    drop them, which is why the hash chain exists."""
    if conn.dialect.name == "postgresql":
        have = set(
            conn.execute(
                sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")
            ).scalars()
        )
        if set(_APPEND_ONLY_PG) - have:
            conn.exec_driver_sql(_APPEND_ONLY_FUNCTION)
        for name, when in _APPEND_ONLY_PG.items():
            if name not in have:
                conn.exec_driver_sql(
                    f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION careops_audit_append_only()"
                )
    elif conn.dialect.name == "sqlite":
        for statement in _APPEND_ONLY_SQLITE:
            conn.exec_driver_sql(statement)


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
    change it records, chained to the entry before it. Credentials in the target and detail are
    redacted. `subject` is the patient concerned; `purpose`, `source_ip` and `request_id` come
    from an API request. Values longer than their column are cut to fit (the hash covers what is
    stored)."""
    _take_chain_lock(conn)  # first: times then follow the chain's order
    row = {
        "at": _utc(dt.datetime.now(dt.UTC)),
        "actor": _fit(actor or whoami(), "actor"),
        "action": _fit(action, "action"),
        "target": _fit(redact(target) if target else target, "target"),
        "detail": _json_safe(redact_value(detail)),
        "role": _fit(role, "role"),
        "subject": _fit(subject, "subject"),
        "purpose": _fit(purpose, "purpose"),
        "source_ip": _fit(source_ip, "source_ip"),
        "request_id": _fit(request_id, "request_id"),
    }
    prev = conn.execute(
        sa.select(audit_log.c.hash)
        .where(audit_log.c.hash.is_not(None))
        .order_by(audit_log.c.id.desc())
        .limit(1)
    ).scalar()
    row["prev_hash"] = prev or GENESIS
    row["hash"] = row_hash(row)
    conn.execute(audit_log.insert().values(**row))


#: the fields a row's hash covers, in this order
HASHED = (
    "at",
    "actor",
    "action",
    "target",
    "detail",
    "role",
    "subject",
    "purpose",
    "source_ip",
    "request_id",
    "prev_hash",
)


def row_hash(row: Any) -> str:
    """SHA-256 (hex) of an audit row's canonical form: a JSON array of the `HASHED` fields, the
    time as UTC ISO text with microseconds, the detail with sorted keys."""
    values = []
    for name in HASHED:
        value = row[name]
        if name == "at":
            value = _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        values.append(value)
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _take_chain_lock(conn: Connection) -> None:
    """Make this transaction the only audit writer until it ends, before it reads the last hash
    (else two writers would both extend the same row: a fork)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
    elif conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        # pysqlite opens a transaction only before the first write; one already open has written
        # and so holds the write lock. Otherwise take it now (waits up to the busy timeout).
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC (SQLite gives back naive times: they were stored in UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _fit(value: str | None, column: str) -> str | None:
    size = audit_log.c[column].type.length
    return value[:size] if value is not None and size else value


def _json_safe(value: Any) -> Any:
    """`value` as it reads back from a JSON column (tuples become lists, dates text), so the hash
    of what was written equals the hash of what is read."""
    if value is None:
        return None
    return json.loads(json.dumps(_finite(value), ensure_ascii=False, default=str))


def _finite(value: Any) -> Any:
    """NaN and infinities as text (JSON has no such numbers; PostgreSQL refuses them)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


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

"""The journey engine's tables in the state store: enrolments (with their timer), the outbox
(one row per side effect, unique by idempotency key), the decision log, and the trigger cursor.

An enrolment is one patient's pass through one journey: its current `step`, `seq` (how many
steps it has run, so a step visited twice gets a new key), `next_due` (the timer: when the
engine looks at it again) and, while it waits, `wait_until` / `wait_event`. A step's progress,
its outbox rows and its decisions are written in one transaction, so a crash and a restart
neither lose nor repeat a side effect: the key `j:<journey>:<enrolment>:<seq>:<step>` is the same
on the rerun and the outbox refuses a second row with it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from careops.state.models import metadata

STATUSES = ("active", "completed", "exited")
OUTBOX_STATUSES = ("pending", "sending", "sent", "delivered", "failed", "unknown")

enrolments = sa.Table(
    "journey_enrolments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("journey", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("entry_no", sa.Integer, nullable=False),
    sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("step", sa.String(64)),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("step_at", sa.DateTime(timezone=True), nullable=False),  # arrived at `step`
    sa.Column("waiting", sa.Boolean, nullable=False),  # a wait step has started
    sa.Column("next_due", sa.DateTime(timezone=True)),  # None: finished
    sa.Column("arm", sa.String(64)),
    sa.Column("exit_reason", sa.String(64)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("journey", "user_id", "entry_no", name="uq_journey_enrolments_entry"),
    sa.Index("ix_journey_enrolments_due", "status", "next_due"),
    sa.Index("ix_journey_enrolments_user", "journey", "user_id"),
)

outbox = sa.Table(
    "journey_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),  # idempotency key
    sa.Column("enrolment_id", sa.Integer, nullable=False),
    sa.Column("journey", sa.String(64), nullable=False),
    sa.Column("step", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # message|coupon|points|task|webhook
    sa.Column("channel", sa.String(16)),
    sa.Column("purpose", sa.String(16)),
    sa.Column("payload", sa.JSON),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_try", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("provider_id", sa.String(128)),
    sa.Column("error", sa.String(500)),
    sa.Index("ix_journey_outbox_status", "status", "next_try"),
    sa.Index("ix_journey_outbox_user", "user_id", "decided_at"),
)

decisions = sa.Table(
    "journey_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("enrolment_id", sa.Integer, nullable=False),
    sa.Column("journey", sa.String(64), nullable=False),
    sa.Column("step", sa.String(64)),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # enter|send|defer|suppress|exit|…
    sa.Column("reason", sa.String(64)),
    sa.Column("channel", sa.String(16)),
    sa.Column("purpose", sa.String(16)),
    sa.Column("until", sa.DateTime(timezone=True)),
    sa.Column("key", sa.String(200)),  # the outbox key of a send
    sa.Index("ix_journey_decisions_journey", "journey", "at"),
)

cursors = sa.Table(
    "journey_cursors",
    metadata,
    sa.Column("journey", sa.String(64), primary_key=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
)


patients = sa.Table(
    "journey_patients",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),
)
"""One row per patient ever enrolled: the row a worker locks (`lock_patients`) so that two
workers never decide sends for one patient at once (caps and quiet hours count the outbox)."""


def utc(t: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite hands back naive datetimes stored as UTC)."""
    if t is None:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def insert_ignoring_duplicates(conn: Connection, table: sa.Table, index: list[str]) -> Any:
    """An INSERT that skips rows whose unique `index` another transaction wrote meanwhile."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=index)


def skip_locked(conn: Connection, query: sa.Select) -> sa.Select:
    """`FOR UPDATE SKIP LOCKED` on PostgreSQL (several workers claim disjoint rows); SQLite runs
    one writer at a time anyway."""
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def writer_lock(conn: Connection) -> None:
    """On SQLite, take the database's write lock now (`BEGIN IMMEDIATE`), before the reads a
    batch decides on: two processes then take turns instead of deciding on the same snapshot.
    PostgreSQL locks rows instead (`lock_patients`)."""
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def add_patients(conn: Connection, users: list[str]) -> None:
    """Make sure each of `users` has its lock row (sorted: two writers insert in one order)."""
    rows = [{"user_id": u} for u in sorted(set(users))]
    stmt = insert_ignoring_duplicates(conn, patients, ["user_id"])
    for start in range(0, len(rows), 5000):
        conn.execute(stmt, rows[start : start + 5000])


def lock_patients(conn: Connection, users: list[str]) -> None:
    """Hold every patient of `users` for this transaction (PostgreSQL `FOR UPDATE`, in user
    order so two workers cannot deadlock): a second worker that claimed another journey's
    enrolment of the same patient waits here until the first commits, and then counts the
    first one's sends against the caps. Row locks, unlike advisory locks, do not fill the
    server's lock table however large the batch. SQLite: `writer_lock` already serialises."""
    if conn.dialect.name != "postgresql" or not users:
        return
    wanted = sorted(set(users))
    p = patients.c
    got: set[str] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        q = sa.select(p.user_id).where(p.user_id.in_(chunk)).order_by(p.user_id).with_for_update()
        got.update(conn.execute(q).scalars())
    missing = [u for u in wanted if u not in got]
    if missing:  # enrolled before the lock rows existed: add, then lock them too
        add_patients(conn, missing)
        q = sa.select(p.user_id).where(p.user_id.in_(missing)).order_by(p.user_id)
        conn.execute(q.with_for_update()).all()


# ------------------------------------------------------------------ bulk writes of a batch
# A batch writes thousands of rows; SQLAlchemy's per-row parameter processing cost more than
# the database's work, so these hand prepared tuples to the driver's executemany (SQLite) or
# one statement over arrays (PostgreSQL `unnest`).

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite (UTC here)


def _converter(dialect: str, column: sa.Column) -> Any:
    """A function turning a Python value into what the driver takes for `column`; None when
    the value goes as it is. Times on SQLite are memoised (a batch shares a few moments)."""
    if isinstance(column.type, sa.JSON):
        if dialect == "postgresql":
            from psycopg.types.json import Json

            return lambda v: None if v is None else Json(v)
        return lambda v: None if v is None else json.dumps(v)
    if dialect == "sqlite" and isinstance(column.type, sa.DateTime):
        memo: dict[dt.datetime, str] = {}

        def text(v: dt.datetime | None) -> str | None:
            if v is None:
                return None
            out = memo.get(v)
            if out is None:
                t = v.astimezone(dt.UTC) if v.tzinfo is not None else v
                out = memo[v] = t.strftime(_SQLITE_TIME)
            return out

        return text
    return None


def _tuples(dialect: str, columns: list[sa.Column], rows: list[dict], extra: str = "") -> list:
    convert = [(c.name, _converter(dialect, c)) for c in columns]
    out = []
    for r in rows:
        values = [r[n] if f is None else f(r[n]) for n, f in convert]
        if extra:
            values.append(r[extra])
        out.append(tuple(values))
    return out


def bulk_insert(
    conn: Connection, table: sa.Table, rows: list[dict], conflict: str | None = None
) -> None:
    """Insert `rows` (dicts with the same keys) in one driver call; with `conflict` (a unique
    column) a row whose value is already stored is skipped."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        stmt = insert_ignoring_duplicates(conn, table, [conflict]) if conflict else table.insert()
        conn.execute(stmt, rows)
        return
    names = list(rows[0])
    cols = [table.c[n] for n in names]
    mark = "?" if dialect == "sqlite" else "%s"
    quoted = ", ".join(f'"{n}"' for n in names)
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join([mark] * len(names))})"
    if conflict:
        sql += f' ON CONFLICT ("{conflict}") DO NOTHING'
    conn.exec_driver_sql(sql, _tuples(dialect, cols, rows))


_ENROLMENT_UPDATE = ("status", "step", "seq", "step_at", "waiting", "next_due", "arm",
                     "exit_reason", "ended_at")  # fmt: skip
_PG_TYPES = {"status": "text", "step": "text", "seq": "int", "step_at": "timestamptz",
             "waiting": "boolean", "next_due": "timestamptz", "arm": "text",
             "exit_reason": "text", "ended_at": "timestamptz"}  # fmt: skip


def update_enrolments(conn: Connection, rows: list[dict]) -> None:
    """Write the progress of a batch's enrolments (`id` and every field of
    `_ENROLMENT_UPDATE`): one `UPDATE … FROM unnest(arrays)` on PostgreSQL, one executemany on
    SQLite."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        sets = ", ".join(f'"{n}" = v."{n}"' for n in _ENROLMENT_UPDATE)
        arrays = ", ".join(f"%s::{_PG_TYPES[n]}[]" for n in _ENROLMENT_UPDATE)
        names = ", ".join(f'"{n}"' for n in _ENROLMENT_UPDATE)
        sql = (
            f"UPDATE {enrolments.name} AS e SET {sets} "
            f"FROM unnest(%s::int[], {arrays}) AS v(id, {names}) WHERE e.id = v.id"
        )
        params = [[r["id"] for r in rows]] + [[r[n] for r in rows] for n in _ENROLMENT_UPDATE]
        conn.exec_driver_sql(sql, tuple(params))
        return
    if dialect != "sqlite":
        stmt = (
            sa.update(enrolments)
            .where(enrolments.c.id == sa.bindparam("_id"))
            .values({n: sa.bindparam(n) for n in _ENROLMENT_UPDATE})
        )
        conn.execute(stmt, [{"_id": r["id"], **{n: r[n] for n in _ENROLMENT_UPDATE}} for r in rows])
        return
    sets = ", ".join(f'"{n}" = ?' for n in _ENROLMENT_UPDATE)
    sql = f"UPDATE {enrolments.name} SET {sets} WHERE id = ?"
    cols = [enrolments.c[n] for n in _ENROLMENT_UPDATE]
    conn.exec_driver_sql(sql, _tuples("sqlite", cols, rows, extra="id"))

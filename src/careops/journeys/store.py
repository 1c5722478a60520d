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
    for start in range(0, len(rows), 50_000):
        bulk_insert(conn, patients, rows[start : start + 50_000], conflict="user_id")


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

    def lock(some: list[str]) -> set[str]:  # one statement, the users as one array
        q = sa.select(p.user_id).where(in_list(conn, p.user_id, some)).order_by(p.user_id)
        return set(conn.execute(q.with_for_update()).scalars())

    got = lock(wanted)
    missing = [u for u in wanted if u not in got]
    if missing:  # enrolled before the lock rows existed: add, then lock them too
        add_patients(conn, missing)
        lock(missing)


# ------------------------------------------------------------------ bulk writes of a batch
# A batch writes thousands of rows. They are kept as columns (`Rows`): a run of rows added at
# once shares one list per column, and a value the whole run shares (the batch's moment, a
# step's payload, a status) is kept — and converted for the driver — once. Writes hand the
# driver whole columns: SQLite one `executemany` over zipped columns; PostgreSQL `COPY`
# (through a temporary table when duplicates must be skipped). SQLAlchemy's per-row parameter
# processing cost more than the database's own work.

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite (UTC here)
COPY_FROM = 500  # PostgreSQL: fewer rows go as one INSERT executemany (COPY's set-up costs more)


class Same:
    """A value every row of a run shares (kept once)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Rows:
    """Rows for one table, kept as columns in runs (see above). `append` adds one row (a dict,
    missing names None); `extend(n, name=list | Same(v), …)` adds n rows at once."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.runs: list[tuple[int, dict[str, Any]]] = []
        self._open: dict[str, list] | None = None  # the run `append` is filling
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def append(self, row: dict[str, Any]) -> None:
        if self._open is None:
            self._open = {k: [] for k in self.names}
            self.runs.append((-1, self._open))  # -1: length read off its lists
        for k in self.names:
            self._open[k].append(row.get(k))
        self.n += 1

    def extend(self, n: int, **cols: Any) -> None:
        if n <= 0:
            return
        self._open = None
        run = {k: cols.get(k, Same(None)) for k in self.names}
        for k, v in run.items():
            if not isinstance(v, Same) and len(v) != n:
                raise ValueError(f"column {k}: {len(v)} values for {n} rows")
        self.runs.append((n, run))
        self.n += n

    def _runs(self) -> list[tuple[int, dict[str, Any]]]:
        return [(len(next(iter(c.values()))) if n < 0 else n, c) for n, c in self.runs]

    def column(self, name: str) -> list:
        """Every value of column `name`, in row order."""
        out: list = []
        for n, cols in self._runs():
            v = cols[name]
            out.extend([v.value] * n if isinstance(v, Same) else v)
        return out

    def columns(self, dialect: str, table: sa.Table) -> list[list]:
        """Every column converted for the driver (`_converter`), in `names` order."""
        runs = self._runs()
        out = []
        for name in self.names:
            f = _converter(dialect, table.c[name])
            col: list = []
            for n, cols in runs:
                v = cols[name]
                if isinstance(v, Same):
                    col.extend([v.value if f is None else f(v.value)] * n)
                else:
                    col.extend(v if f is None else map(f, v))
            out.append(col)
        return out


def _converter(dialect: str, column: sa.Column) -> Any:
    """A function turning a Python value into what the driver takes for `column`; None when
    the value goes as it is. Times on SQLite are memoised (a batch shares a few moments)."""
    if isinstance(column.type, sa.JSON):  # as text (cast to json in the SQL on PostgreSQL)
        texts: dict[int, tuple[Any, str]] = {}  # rows of one step share their payload

        def dumped(v: Any) -> str | None:
            if v is None:
                return None
            hit = texts.get(id(v))
            if hit is None or hit[0] is not v:
                hit = texts[id(v)] = (v, json.dumps(v))
            return hit[1]

        return dumped
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


def bulk_insert(
    conn: Connection, table: sa.Table, rows: list[dict] | Rows, conflict: str | None = None
) -> None:
    """Insert `rows` (dicts with the same keys, or `Rows`) in one driver call; with `conflict`
    (a unique column) a row whose value is already stored is skipped."""
    if not rows:
        return
    if not isinstance(rows, Rows):
        given = Rows(tuple(rows[0]))
        given.extend(len(rows), **{k: [r[k] for r in rows] for k in given.names})
        rows = given
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        names = rows.names
        cols = [rows.column(n) for n in names]
        dicts = [dict(zip(names, t, strict=True)) for t in zip(*cols, strict=True)]
        stmt = insert_ignoring_duplicates(conn, table, [conflict]) if conflict else table.insert()
        conn.execute(stmt, dicts)
        return
    cols = rows.columns(dialect, table)
    quoted = ", ".join(f'"{n}"' for n in rows.names)
    if dialect == "postgresql" and len(rows) >= COPY_FROM:
        _copy(conn, table, quoted, cols, conflict)
        return
    if dialect == "postgresql":
        marks = ", ".join(
            "%s::json" if isinstance(table.c[n].type, sa.JSON) else "%s" for n in rows.names
        )
    else:
        marks = ", ".join("?" * len(cols))
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES ({marks})"
    if conflict:
        sql += f' ON CONFLICT ("{conflict}") DO NOTHING'
    conn.exec_driver_sql(sql, list(zip(*cols, strict=True)))


def _copy(
    conn: Connection, table: sa.Table, quoted: str, cols: list[list], conflict: str | None
) -> None:
    """PostgreSQL: `COPY … FROM STDIN` in the caller's transaction; with `conflict`, into a
    temporary table first, then one `INSERT … SELECT … ON CONFLICT DO NOTHING`."""
    raw = conn.connection.driver_connection
    target = table.name
    with raw.cursor() as cur:
        if conflict:
            target = f"_copy_{table.name}"
            cur.execute(
                f"CREATE TEMP TABLE {target} ON COMMIT DROP AS "
                f"SELECT {quoted} FROM {table.name} WITH NO DATA"
            )
        with cur.copy(f"COPY {target} ({quoted}) FROM STDIN") as copy:
            for row in zip(*cols, strict=True):
                copy.write_row(row)
        if conflict:
            cur.execute(
                f"INSERT INTO {table.name} ({quoted}) SELECT {quoted} FROM {target} "
                f'ON CONFLICT ("{conflict}") DO NOTHING'
            )
            cur.execute(f"DROP TABLE {target}")


def in_list(conn: Connection, column: Any, values: list, kind: str = "text") -> Any:
    """`column IN values` as one bound parameter however many values: PostgreSQL
    `= ANY(array)`, SQLite `IN (SELECT value FROM json_each(text))` — instead of one bound
    parameter per value (thousands in a batch, each processed by SQLAlchemy)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        item = sa.Integer() if kind == "int" else sa.Text()
        return column == sa.any_(sa.cast(sa.literal(list(values), ARRAY(item)), ARRAY(item)))
    if conn.dialect.name == "sqlite":
        each = sa.func.json_each(sa.literal(json.dumps(list(values)), sa.Text())).table_valued(
            "value"
        )
        return column.in_(sa.select(each.c.value))
    return column.in_(list(values))


_ENROLMENT_UPDATE = ("status", "step", "seq", "step_at", "waiting", "next_due", "arm",
                     "exit_reason", "ended_at")  # fmt: skip
_PG_TYPES = {"status": "text", "step": "text", "seq": "int", "step_at": "timestamptz",
             "waiting": "boolean", "next_due": "timestamptz", "arm": "text",
             "exit_reason": "text", "ended_at": "timestamptz"}  # fmt: skip


def update_enrolments(conn: Connection, rows: list[dict]) -> None:
    """Write the progress of a batch's enrolments (`id` and every field of
    `_ENROLMENT_UPDATE`): one `UPDATE … WHERE id IN (ids as one parameter)` per distinct set
    of values when they are few (a batch mostly moves its enrolments alike); else PostgreSQL
    `COPY` into a temporary table and one `UPDATE … FROM` it, SQLite one executemany."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        stmt = (
            sa.update(enrolments)
            .where(enrolments.c.id == sa.bindparam("_id"))
            .values({n: sa.bindparam(n) for n in _ENROLMENT_UPDATE})
        )
        conn.execute(stmt, [{"_id": r["id"], **{n: r[n] for n in _ENROLMENT_UPDATE}} for r in rows])
        return
    cols = [enrolments.c[n] for n in _ENROLMENT_UPDATE]
    convert = [(n, _converter(dialect, c)) for n, c in zip(_ENROLMENT_UPDATE, cols, strict=True)]
    groups: dict[tuple, list[int]] = {}
    for r in rows:
        values = tuple(r[n] if f is None else f(r[n]) for n, f in convert)
        groups.setdefault(values, []).append(r["id"])
    names = ", ".join(f'"{n}"' for n in _ENROLMENT_UPDATE)
    if dialect == "postgresql":
        if len(groups) * 50 <= len(rows):
            sets = ", ".join(f'"{n}" = %s::{_PG_TYPES[n]}' for n in _ENROLMENT_UPDATE)
            sql = f"UPDATE {enrolments.name} SET {sets} WHERE id = ANY(%s::int[])"
            for v, ids in groups.items():
                conn.exec_driver_sql(sql, (*v, ids))
            return
        raw = conn.connection.driver_connection
        types = ", ".join(f'"{n}" {_PG_TYPES[n]}' for n in _ENROLMENT_UPDATE)
        sets = ", ".join(f'"{n}" = v."{n}"' for n in _ENROLMENT_UPDATE)
        with raw.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE _progress (id int, {types}) ON COMMIT DROP")
            with cur.copy(f"COPY _progress (id, {names}) FROM STDIN") as copy:
                for v, ids in groups.items():
                    for i in ids:
                        copy.write_row((i, *v))
            cur.execute(
                f"UPDATE {enrolments.name} AS e SET {sets} FROM _progress AS v WHERE e.id = v.id"
            )
            cur.execute("DROP TABLE _progress")
        return
    sets = ", ".join(f'"{n}" = ?' for n in _ENROLMENT_UPDATE)
    if len(groups) * 50 <= len(rows):
        sql = f"UPDATE {enrolments.name} SET {sets} WHERE id IN (SELECT value FROM json_each(?))"
        conn.exec_driver_sql(sql, [(*v, json.dumps(ids)) for v, ids in groups.items()])
        return
    sql = f"UPDATE {enrolments.name} SET {sets} WHERE id = ?"
    conn.exec_driver_sql(sql, [(*v, i) for v, ids in groups.items() for i in ids])

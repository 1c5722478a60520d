"""Append a validated batch to the warehouse atomically, through each engine's fast path.

A batch is everything one source file yields: rows for one or more canonical tables, the
quarantined records, flags, extra columns, and the ledger rows that describe it. Rows whose key
is already in the table are skipped (counted as duplicates), so loading the same data twice adds
nothing. DuckDB and PostgreSQL apply a batch in one transaction: visible whole or not at all,
also after a kill -9. Spark has no multi-table transactions; its writes are per-table job commits
(a killed job leaves no partial files visible) and the ledger row is written last.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from ibis.backends import BaseBackend

from careops.schema import TABLES
from careops.warehouse.connect import backend_kind
from careops.warehouse.tables import LOAD_ID, SYSTEM_TABLES


@dataclass
class TablePart:
    """The rows of one canonical table in a batch, and what was set aside."""

    table: str
    rows: pa.Table
    rows_in: int
    duplicates_in_batch: int = 0
    quarantined: int = 0
    flags: pa.Table | None = None
    extras: pa.Table | None = None
    contacts: pa.Table | None = None  # direct identifiers, sealed (careops.privacy.contacts)
    loaded: int = 0  # set by the loader
    replaced: int = 0  # rows of earlier loads removed first (Batch.replaces); set by the loader
    duplicates: int = 0  # in batch + already in the warehouse; set by the loader


@dataclass
class Batch:
    """One source's load: table parts, quarantine rows and the ledger entry."""

    load_id: str
    source: str
    content_hash: str
    started_at: dt.datetime
    parts: list[TablePart] = field(default_factory=list)
    quarantine: pa.Table | None = None
    status: str = "loaded"  # or "rejected", "unreadable"; "already_loaded" set by the loader
    message: str = ""
    replaces: list[str] = field(default_factory=list)  # earlier loads this one corrects
    path: str = ""  # the file's canonical (absolute, resolved) path
    removed: dict[str, int] = field(default_factory=dict)  # table -> rows of `replaces` removed
    previous: str | None = None  # status "already_loaded": the load that has the same content


def _system(name: str) -> pa.Schema:
    return SYSTEM_TABLES[name].to_pyarrow()


def apply_batch(con: BaseBackend, batch: Batch) -> Batch:
    """Write `batch` (rows unless rejected, quarantine, flags, extras, ledger) atomically.

    Concurrency: the batch first takes a lock on its file's content hash (PostgreSQL: a
    transaction-level advisory lock; DuckDB has one writer per file anyway), then looks in the
    ledger again: a second load of the same file waits for the first and finds it loaded
    (`status` becomes "already_loaded", `previous` names the load, nothing is written). Rows are
    inserted only where their key is new (PostgreSQL: `ON CONFLICT DO NOTHING` on the table's
    primary key), and the counts are what the engine actually inserted.
    """
    kind = backend_kind(con)
    writer = {"duckdb": _DuckDB, "postgres": _Postgres, "pyspark": _Spark}[kind](con)
    for attempt in range(1, 4):
        try:
            return _apply(writer, batch)
        except Exception as exc:
            # keys taken in one order make this rare; PostgreSQL still may pick a victim
            if (
                type(exc).__name__ not in ("DeadlockDetected", "SerializationFailure")
                or attempt == 3
            ):
                raise
            batch.removed.clear()
    raise AssertionError("unreachable")


def _apply(writer, batch: Batch) -> Batch:
    with writer.transaction():
        writer.lock(batch.content_hash)
        if batch.status == "loaded" and not batch.replaces:
            previous = writer.loaded_by(batch.content_hash)
            if previous:
                batch.status, batch.previous = "already_loaded", previous
                return batch
        if batch.status == "loaded" and batch.replaces:
            _remove_replaced(writer, batch)
        for part in sorted(batch.parts, key=lambda p: p.table):  # one lock order for all loads
            if batch.status == "loaded" and len(part.rows):
                part.loaded = writer.insert_new(part.table, part.rows, batch.load_id)
            part.duplicates = part.duplicates_in_batch + (
                len(part.rows) - part.loaded if batch.status == "loaded" else 0
            )
            if batch.status == "loaded":
                for name, extra in (
                    ("ingest_flags", part.flags),
                    ("ingest_extras", part.extras),
                    ("contacts", part.contacts),
                ):
                    if extra is not None and len(extra):
                        extra = _with(extra, load_id=batch.load_id, table_name=part.table)
                        writer.append(name, extra.select(_system(name).names).cast(_system(name)))
        if batch.quarantine is not None and len(batch.quarantine):
            writer.append("quarantine", batch.quarantine.cast(_system("quarantine")))
        writer.append("_loads", _ledger(batch))
    return batch


def _remove_replaced(writer, batch: Batch) -> None:
    """Remove, whole, what the loads this batch corrects inserted: their rows in every table
    (by `_load_id`), their flags and extra columns. Rows stored before rows carried their load
    (`_load_id` empty) are found by the keys the batch holds instead."""
    loads = pa.table({"load_id": pa.array(batch.replaces, pa.string())})
    for name in ("ingest_flags", "ingest_extras", "contacts"):
        writer.delete_matching(name, loads)
    ledger = writer.ledger_tables(batch.replaces)  # table -> rows those loads inserted
    parts = {p.table: p for p in batch.parts}
    for table in sorted(set(ledger) | set(parts)):
        if table not in TABLES:
            continue
        removed = writer.delete_loads(table, batch.replaces)
        part = parts.get(table)
        if not removed and ledger.get(table) and part is not None and len(part.rows):
            removed = writer.delete_matching(table, part.rows.select(list(TABLES[table].key)))
        if removed:
            batch.removed[table] = removed
        if part is not None:
            part.replaced = removed


def _with(table: pa.Table, **constants: str) -> pa.Table:
    for name, value in constants.items():
        table = table.append_column(name, pa.array([value] * len(table), pa.string()))
    return table


def _ledger(batch: Batch) -> pa.Table:
    now = dt.datetime.now(dt.UTC)
    parts = batch.parts or [TablePart(table="", rows=pa.table({}), rows_in=0)]
    rows = [
        {
            "load_id": batch.load_id,
            "source": batch.source,
            "content_hash": batch.content_hash,
            "table_name": p.table,
            "rows_in": p.rows_in,
            "loaded": p.loaded,
            "duplicates": p.duplicates,
            "quarantined": p.quarantined,
            "flagged": 0 if p.flags is None or batch.status != "loaded" else len(p.flags),
            "status": batch.status,
            "message": batch.message,
            "started_at": batch.started_at,
            "finished_at": now,
            "path": batch.path or None,
            "replaced": batch.removed.get(p.table, 0) if batch.status == "loaded" else 0,
            "replaces": ",".join(batch.replaces) or None,
        }
        for p in parts
    ]
    if batch.status == "loaded":  # tables the replaced loads had and this file has not
        rows += [
            {
                **rows[0],
                "table_name": t,
                "rows_in": 0,
                "loaded": 0,
                "duplicates": 0,
                "quarantined": 0,
                "flagged": 0,
                "replaced": n,
            }
            for t, n in batch.removed.items()
            if t not in {p.table for p in parts}
        ]
    return pa.Table.from_pylist(rows, schema=_system("_loads"))


# Fact tables stored in time order on DuckDB: each load's rows are inserted sorted by this
# column, so a table loaded over time keeps narrow min/max per row group and a query for the
# last N days (tags, segments) skips older row groups instead of scanning all of history.
TIME_ORDER = {"events": "ts", "orders": "ts", "observations": "ts", "consultations": "started_at"}


def in_time_order(rows: pa.Table, column: str) -> bool:
    """Whether `rows` are already sorted by `column` (one vectorised pass, no sort)."""
    values = rows[column]
    if len(values) < 2:
        return True
    ordered = pc.less_equal(values.slice(0, len(values) - 1), values.slice(1))
    return pc.all(ordered).as_py() is not False  # nulls compare as unknown: ignored


class _DuckDB:
    """One writer per file (DuckDB's own lock), so a plain anti-join inserts each key once."""

    def __init__(self, con: BaseBackend):
        self.raw = con.con
        self._owned: dict[str, bool] = {}

    def transaction(self):
        return _Tx(
            lambda: self.raw.execute("BEGIN TRANSACTION"),
            lambda: self.raw.execute("COMMIT"),
            lambda: self.raw.execute("ROLLBACK"),
        )

    def lock(self, content_hash: str) -> None:
        """Nothing to take: the process holds the file's only write lock."""

    def loaded_by(self, content_hash: str) -> str | None:
        hit = self.raw.execute(
            "SELECT load_id FROM _loads WHERE content_hash = ? AND status = 'loaded' LIMIT 1",
            [content_hash],
        ).fetchone()
        return hit[0] if hit else None

    def ledger_tables(self, loads: list[str]) -> dict[str, int]:
        return dict(
            self.raw.execute(
                "SELECT table_name, sum(loaded) FROM _loads WHERE load_id IN (SELECT unnest(?)) "
                "GROUP BY 1",
                [loads],
            ).fetchall()
        )

    def owns(self, table: str) -> bool:
        if table not in self._owned:
            self._owned[table] = bool(
                self.raw.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = ? AND "
                    "column_name = ? AND table_schema = current_schema()",
                    [table, LOAD_ID],
                ).fetchone()
            )
        return self._owned[table]

    def insert_new(self, table: str, rows: pa.Table, load_id: str) -> int:
        keys = TABLES[table].key
        cond = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        owned = self.owns(table)
        # sort only what is not in time order already (a sorted export costs one compare)
        order = (
            f' ORDER BY s."{TIME_ORDER[table]}"'
            if table in TIME_ORDER and not in_time_order(rows, TIME_ORDER[table])
            else ""
        )
        self.raw.register("_careops_stage", rows)
        try:
            n = self.raw.execute(
                f'INSERT INTO "{table}" ({cols}{f", {LOAD_ID}" if owned else ""}) '
                f"SELECT {cols}{', ?' if owned else ''} FROM _careops_stage s "
                f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" t WHERE {cond}){order}',
                [load_id] if owned else [],
            ).fetchone()[0]
        finally:
            self.raw.unregister("_careops_stage")
        return int(n)

    def append(self, table: str, rows: pa.Table) -> None:
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        self.raw.register("_careops_stage", rows)
        try:
            self.raw.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM _careops_stage')
        finally:
            self.raw.unregister("_careops_stage")

    def delete_loads(self, table: str, loads: list[str]) -> int:
        if not self.owns(table):
            return 0
        return int(
            self.raw.execute(
                f'DELETE FROM "{table}" WHERE "{LOAD_ID}" IN (SELECT unnest(?))', [loads]
            ).fetchone()[0]
        )

    def delete_matching(self, table: str, rows: pa.Table) -> int:
        cond = " AND ".join(f't."{c}" = s."{c}"' for c in rows.column_names)
        self.raw.register("_careops_stage", rows)
        try:
            return int(
                self.raw.execute(
                    f'DELETE FROM "{table}" t WHERE EXISTS (SELECT 1 FROM _careops_stage s '
                    f"WHERE {cond})"
                ).fetchone()[0]
            )
        finally:
            self.raw.unregister("_careops_stage")


class _Postgres:
    """Many writers: keys are PRIMARY KEYs (tables.create_tables), rows go in with
    `ON CONFLICT DO NOTHING` in key order (two loads sharing keys wait on each other instead of
    deadlocking), and one load per file content at a time (advisory lock on its hash). Staging
    tables are TEMP tables, dropped at commit and gone with the session if it is killed."""

    def __init__(self, con: BaseBackend):
        self.raw = con.con
        self._n = 0
        self._owned: dict[str, bool] = {}

    def transaction(self):
        return self.raw.transaction()

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.raw.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def lock(self, content_hash: str) -> None:
        """Wait until no other transaction is loading a file with this content."""
        self._rows("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (content_hash,))

    def loaded_by(self, content_hash: str) -> str | None:
        hit = self._rows(
            "SELECT load_id FROM _loads WHERE content_hash = %s AND status = 'loaded' LIMIT 1",
            (content_hash,),
        )
        return hit[0][0] if hit else None

    def ledger_tables(self, loads: list[str]) -> dict[str, int]:
        return {
            t: int(n)
            for t, n in self._rows(
                "SELECT table_name, sum(loaded) FROM _loads WHERE load_id = ANY(%s) GROUP BY 1",
                (loads,),
            )
        }

    def owns(self, table: str) -> bool:
        if table not in self._owned:
            self._owned[table] = bool(
                self._rows(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND "
                    "column_name = %s AND table_schema = current_schema()",
                    (table, LOAD_ID),
                )
            )
        return self._owned[table]

    def _copy(self, target: str, rows: pa.Table) -> None:
        buf = io.BytesIO()
        pacsv.write_csv(rows, buf, write_options=pacsv.WriteOptions(include_header=False))
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        with (
            self.raw.cursor() as cur,
            cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy,
        ):
            view = buf.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])

    def _stage(self, table: str, rows: pa.Table) -> str:
        self._n += 1
        stage = f"_careops_stage_{self._n}"
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        with self.raw.cursor() as cur:
            cur.execute(
                f'CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM "{table}" LIMIT 0'
            )
        self._copy(stage, rows)
        return stage

    def insert_new(self, table: str, rows: pa.Table, load_id: str) -> int:
        stage = self._stage(table, rows)
        keys = ", ".join(f'"{k}"' for k in TABLES[table].key)
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        owned = self.owns(table)
        with self.raw.cursor() as cur:
            cur.execute(
                f'INSERT INTO "{table}" ({cols}{f", {LOAD_ID}" if owned else ""}) '
                f"SELECT {cols}{', %s' if owned else ''} FROM {stage} ORDER BY {keys} "
                "ON CONFLICT DO NOTHING",
                (load_id,) if owned else (),
            )
            return cur.rowcount

    def append(self, table: str, rows: pa.Table) -> None:
        self._copy(f'"{table}"', rows)

    def delete_loads(self, table: str, loads: list[str]) -> int:
        if not self.owns(table):
            return 0
        with self.raw.cursor() as cur:
            cur.execute(f'DELETE FROM "{table}" WHERE "{LOAD_ID}" = ANY(%s)', (loads,))
            return cur.rowcount

    def delete_matching(self, table: str, rows: pa.Table) -> int:
        stage = self._stage(table, rows)
        cond = " AND ".join(f't."{c}" = s."{c}"' for c in rows.column_names)
        with self.raw.cursor() as cur:
            cur.execute(f'DELETE FROM "{table}" t USING {stage} s WHERE {cond}')
            return cur.rowcount


class _Spark:
    """No transactions and no constraints: per-table job commits, the ledger row last."""

    def __init__(self, con: BaseBackend):
        self.session = con._session

    def transaction(self):
        return _Tx(lambda: None, lambda: None, lambda: None)

    def lock(self, content_hash: str) -> None:
        """Spark has no locks: run one load of a file at a time."""

    def loaded_by(self, content_hash: str) -> str | None:
        from pyspark.sql import functions as F

        loads = self.session.table("_loads")
        hit = (
            loads.filter((F.col("content_hash") == content_hash) & (F.col("status") == "loaded"))
            .select("load_id")
            .limit(1)
            .collect()
        )
        return hit[0][0] if hit else None

    def _frame(self, table: str, rows: pa.Table):
        target = self.session.table(table)
        rows = rows.select([c for c in target.columns if c in rows.column_names])
        frame = self.session.createDataFrame(rows)
        from pyspark.sql import functions as F

        return frame.select(
            *[
                (frame[c] if c in rows.column_names else F.lit(None))
                .cast(target.schema[c].dataType)
                .alias(c)
                for c in target.columns
            ]
        )

    def insert_new(self, table: str, rows: pa.Table, load_id: str) -> int:
        keys = list(TABLES[table].key)
        frame = self._frame(table, rows)
        new = frame.join(self.session.table(table).select(*keys), on=keys, how="left_anti")
        # a join on column names puts the key columns first, and insertInto is by position:
        # back to the table's order (consents' key ends with ts, after granted)
        new = new.select(*frame.columns).localCheckpoint()
        n = new.count()
        if n:
            new.write.insertInto(table)
        return n

    def append(self, table: str, rows: pa.Table) -> None:
        self._frame(table, rows).write.insertInto(table)


class _Tx:
    def __init__(self, begin, commit, rollback):
        self.begin, self.commit, self.rollback = begin, commit, rollback

    def __enter__(self):
        self.begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False

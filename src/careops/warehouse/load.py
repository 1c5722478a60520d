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
import pyarrow.csv as pacsv
from ibis.backends import BaseBackend

from careops.schema import TABLES
from careops.warehouse.connect import backend_kind
from careops.warehouse.tables import SYSTEM_TABLES


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
    status: str = "loaded"  # or "rejected"
    message: str = ""
    replaces: list[str] = field(default_factory=list)  # earlier loads this one corrects


def _system(name: str) -> pa.Schema:
    return SYSTEM_TABLES[name].to_pyarrow()


def apply_batch(con: BaseBackend, batch: Batch) -> Batch:
    """Write `batch` (rows unless rejected, quarantine, flags, extras, ledger) atomically."""
    kind = backend_kind(con)
    writer = {"duckdb": _DuckDB, "postgres": _Postgres, "pyspark": _Spark}[kind](con)
    with writer.transaction():
        if batch.status == "loaded" and batch.replaces:
            _remove_replaced(writer, batch)
        for part in batch.parts:
            if batch.status == "loaded" and len(part.rows):
                part.loaded = writer.insert_new(part.table, part.rows)
            part.duplicates = part.duplicates_in_batch + (len(part.rows) - part.loaded
                                                          if batch.status == "loaded" else 0)
            if batch.status == "loaded":
                for name, extra in (("ingest_flags", part.flags), ("ingest_extras", part.extras),
                                    ("contacts", part.contacts)):
                    if extra is not None and len(extra):
                        extra = _with(extra, load_id=batch.load_id, table_name=part.table)
                        writer.append(name, extra.select(_system(name).names)
                                      .cast(_system(name)))
        if batch.quarantine is not None and len(batch.quarantine):
            writer.append("quarantine", batch.quarantine.cast(_system("quarantine")))
        writer.append("_loads", _ledger(batch))
    return batch


def _remove_replaced(writer, batch: Batch) -> None:
    """Delete what the batch's rows replace: rows with their keys, and the flags and extra
    columns of the loads it corrects."""
    loads = pa.table({"load_id": pa.array(batch.replaces, pa.string())})
    for name in ("ingest_flags", "ingest_extras", "contacts"):
        writer.delete_matching(name, loads)
    for part in batch.parts:
        if len(part.rows):
            part.replaced = writer.delete_matching(part.table,
                                                   part.rows.select(list(TABLES[part.table].key)))


def _with(table: pa.Table, **constants: str) -> pa.Table:
    for name, value in constants.items():
        table = table.append_column(name, pa.array([value] * len(table), pa.string()))
    return table


def _ledger(batch: Batch) -> pa.Table:
    now = dt.datetime.now(dt.UTC)
    parts = batch.parts or [TablePart(table="", rows=pa.table({}), rows_in=0)]
    rows = [{
        "load_id": batch.load_id, "source": batch.source, "content_hash": batch.content_hash,
        "table_name": p.table, "rows_in": p.rows_in, "loaded": p.loaded,
        "duplicates": p.duplicates, "quarantined": p.quarantined,
        "flagged": 0 if p.flags is None or batch.status != "loaded" else len(p.flags),
        "status": batch.status, "message": batch.message,
        "started_at": batch.started_at, "finished_at": now,
    } for p in parts]
    return pa.Table.from_pylist(rows, schema=_system("_loads"))


# Fact tables stored in time order on DuckDB: each load's rows are inserted sorted by this
# column, so a table loaded over time keeps narrow min/max per row group and a query for the
# last N days (tags, segments) skips older row groups instead of scanning all of history.
TIME_ORDER = {"events": "ts", "orders": "ts", "observations": "ts",
              "consultations": "started_at"}


class _DuckDB:
    def __init__(self, con: BaseBackend):
        self.raw = con.con

    def transaction(self):
        return _Tx(lambda: self.raw.execute("BEGIN TRANSACTION"),
                   lambda: self.raw.execute("COMMIT"), lambda: self.raw.execute("ROLLBACK"))

    def insert_new(self, table: str, rows: pa.Table) -> int:
        keys = TABLES[table].key
        cond = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        self.raw.register("_careops_stage", rows)
        try:
            n = self.raw.execute(
                f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM _careops_stage s '
                f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" t WHERE {cond})'
                + (f' ORDER BY s."{TIME_ORDER[table]}"' if table in TIME_ORDER else '')
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

    def delete_matching(self, table: str, rows: pa.Table) -> int:
        cond = " AND ".join(f't."{c}" = s."{c}"' for c in rows.column_names)
        self.raw.register("_careops_stage", rows)
        try:
            return int(self.raw.execute(
                f'DELETE FROM "{table}" t WHERE EXISTS (SELECT 1 FROM _careops_stage s '
                f'WHERE {cond})').fetchone()[0])
        finally:
            self.raw.unregister("_careops_stage")


class _Postgres:
    def __init__(self, con: BaseBackend):
        self.raw = con.con
        self._n = 0

    def transaction(self):
        return self.raw.transaction()

    def _copy(self, target: str, rows: pa.Table) -> None:
        buf = io.BytesIO()
        pacsv.write_csv(rows, buf, write_options=pacsv.WriteOptions(include_header=False))
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        with self.raw.cursor() as cur, cur.copy(
                f'COPY {target} ({cols}) FROM STDIN (FORMAT csv)') as copy:
            view = buf.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start:start + (1 << 20)])

    def insert_new(self, table: str, rows: pa.Table) -> int:
        self._n += 1
        stage = f"_careops_stage_{self._n}"
        keys = TABLES[table].key
        cond = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        with self.raw.cursor() as cur:
            cur.execute(f'CREATE TEMP TABLE {stage} (LIKE "{table}") ON COMMIT DROP')
        self._copy(stage, rows)
        with self.raw.cursor() as cur:
            cur.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM {stage} s '
                        f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" t WHERE {cond})')
            return cur.rowcount

    def append(self, table: str, rows: pa.Table) -> None:
        self._copy(f'"{table}"', rows)

    def delete_matching(self, table: str, rows: pa.Table) -> int:
        self._n += 1
        stage = f"_careops_stage_{self._n}"
        cols = ", ".join(f'"{c}"' for c in rows.column_names)
        cond = " AND ".join(f't."{c}" = s."{c}"' for c in rows.column_names)
        with self.raw.cursor() as cur:
            cur.execute(f'CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} '
                        f'FROM "{table}" LIMIT 0')
        self._copy(stage, rows)
        with self.raw.cursor() as cur:
            cur.execute(f'DELETE FROM "{table}" t USING {stage} s WHERE {cond}')
            return cur.rowcount


class _Spark:
    def __init__(self, con: BaseBackend):
        self.session = con._session

    def transaction(self):
        return _Tx(lambda: None, lambda: None, lambda: None)

    def _frame(self, table: str, rows: pa.Table):
        target = self.session.table(table)
        rows = rows.select(target.columns)
        frame = self.session.createDataFrame(rows)
        return frame.select(*[frame[c].cast(target.schema[c].dataType) for c in target.columns])

    def insert_new(self, table: str, rows: pa.Table) -> int:
        keys = list(TABLES[table].key)
        frame = self._frame(table, rows)
        new = frame.join(self.session.table(table).select(*keys), on=keys, how="left_anti")
        new = new.localCheckpoint()
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

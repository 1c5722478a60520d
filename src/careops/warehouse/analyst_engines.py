"""The first wall of the analyst SQL door: each engine set up so analyst SQL can only read.

- DuckDB: the warehouse file is opened read-only, then external access is switched off
  (`enable_external_access = false`: no file, no other database, no extension, no COPY or
  ATTACH; the already attached warehouse stays readable), extension auto-install and auto-load
  off, Python replacement scans off, and the configuration locked so the query cannot switch any
  of it back.
- PostgreSQL: a READ ONLY transaction, `statement_timeout` set, as the analyst role (see
  `analyst_role`): either logged in as it through the `sql.analyst_url` setting (production),
  or, from the warehouse URL, with `SET LOCAL ROLE` inside the transaction; the statement check
  refuses SET/RESET and `set_config`, so the query cannot switch back. Before running, the
  session checks that it is not a superuser and owns no table.
- Spark has no such switch: the statement check is the wall, and the SQL run is the text
  regenerated from the checked tree (`Checked.canonical`).

Each session streams Arrow record batches and can be interrupted from another thread.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import suppress
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse, urlunparse

import pyarrow as pa

from careops.config import Settings
from careops.errors import ConfigError, Forbidden

DUCKDB_LOCKDOWN = (
    "SET enable_progress_bar = false",  # stdout carries the rows (--csv, --json)
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",
    "SET lock_configuration = true",
)


class Session(Protocol):
    """One analyst query on one engine."""

    def start(self, text: str) -> pa.Schema: ...

    def batches(self) -> Iterator[pa.RecordBatch]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique (`count`, `count` → `count`, `count_2`): PostgreSQL names both
    aggregates of `SELECT count(*), count(DISTINCT x)` `count`, and JSON rows need distinct keys."""
    seen: dict[str, int] = {}
    taken = set(names)
    result = []
    for name in names:
        if name not in seen:
            seen[name] = 1
            result.append(name)
            continue
        n = seen[name]
        while f"{name}_{n + 1}" in taken:
            n += 1
        seen[name] = n + 1
        taken.add(f"{name}_{n + 1}")
        result.append(f"{name}_{n + 1}")
    return result


class DuckDBSession:
    """Analyst SQL on the warehouse's own read-only DuckDB connection, locked down first."""

    def __init__(self, con, batch_rows: int) -> None:
        self.raw = con.con
        self.batch_rows = batch_rows
        self.reader: pa.RecordBatchReader | None = None
        self.relation = None
        for statement in DUCKDB_LOCKDOWN:
            self.raw.execute(statement)
        locked = self.raw.execute(
            "SELECT current_setting('enable_external_access'), "
            "current_setting('lock_configuration')"
        ).fetchone()
        if locked != (False, True):  # never run analyst SQL on an open connection
            raise Forbidden(
                "无法为分析查询锁定 DuckDB / DuckDB could not be locked down for analyst SQL"
            )

    def start(self, text: str) -> pa.Schema:
        # a relation: its columns are known before the query runs, so the caller can be
        # answered (and can cancel) while the engine works
        self.relation = self.raw.sql(text)
        if self.relation is None:  # a statement that is not a query ran and returned nothing
            raise ConfigError("查询失败: 不是查询 / query failed: not a query")
        schema = self.relation.limit(0).to_arrow_table().schema
        return pa.schema(
            [f.with_name(n) for f, n in zip(schema, unique_names(schema.names), strict=True)]
        )

    def batches(self) -> Iterator[pa.RecordBatch]:
        assert self.relation is not None
        self.reader = self.relation.to_arrow_reader(self.batch_rows)
        for batch in self.reader:
            if batch.num_rows:
                yield batch

    def interrupt(self) -> None:
        self.raw.interrupt()

    def close(self) -> None:
        self.reader = self.relation = None


# PostgreSQL type oids → Arrow types; anything else is shown as text
_PG_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    26: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1700: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    1042: pa.string(),
    19: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    17: pa.binary(),
}


def _pg_value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == pa.float64() and isinstance(value, Decimal):
        return float(value)
    if kind == pa.string() and not isinstance(value, str):
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return str(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


def pg_conninfo(url: str) -> tuple[str, str | None]:
    """A libpq URL from a warehouse URL, and its `?schema=` (not a libpq parameter)."""
    parsed = urlparse(url)
    schema = parse_qs(parsed.query).get("schema", [None])[-1]
    scheme = "postgresql"
    return urlunparse(parsed._replace(scheme=scheme, query="")), schema


class PostgresSession:
    """Analyst SQL in a READ ONLY transaction as the analyst role, through a server-side cursor
    (rows arrive `batch_rows` at a time; the whole result is never held)."""

    def __init__(
        self, warehouse_url: str, settings: Settings, timeout_s: float, batch_rows: int
    ) -> None:
        import psycopg
        from psycopg import sql

        from careops.warehouse.analyst_role import verify_analyst

        self.batch_rows = batch_rows
        analyst_url = settings.sql.analyst_url
        conninfo, schema = pg_conninfo(analyst_url or warehouse_url)
        _, warehouse_schema = pg_conninfo(warehouse_url)
        schema = schema or warehouse_schema
        try:
            self.conn = psycopg.connect(
                conninfo, autocommit=False, connect_timeout=10, application_name="careops sql"
            )
        except psycopg.Error as exc:
            from careops.errors import WarehouseError

            raise WarehouseError(f"cannot connect for analyst SQL: {exc}".splitlines()[0]) from None
        self.conn.read_only = True  # BEGIN READ ONLY for every transaction of this connection
        self.cursor_name = f"careops_sql_{uuid.uuid4().hex[:8]}"
        self.cur = None
        self.types: list[pa.DataType] = []
        try:
            with self.conn.cursor() as cur:
                ms = str(max(1, int(timeout_s * 1000)))
                cur.execute(
                    "SELECT set_config('statement_timeout', %s, true), "
                    "set_config('idle_in_transaction_session_timeout', %s, true), "
                    "set_config('TimeZone', 'UTC', true)",
                    (ms, ms),
                )
                if schema:
                    cur.execute(
                        "SELECT set_config('search_path', %s, true)",
                        (sql.Identifier(schema).as_string(self.conn),),
                    )
                if not analyst_url:
                    _set_role(cur, settings.sql.analyst_role)
                verify_analyst(cur, settings.sql.analyst_role if not analyst_url else None)
        except BaseException:
            self.close()
            raise

    def start(self, text: str) -> pa.Schema:
        self.cur = self.conn.cursor(name=self.cursor_name)
        self.cur.itersize = self.batch_rows
        self.cur.execute(text)
        description = self.cur.description or []
        self.types = [_PG_TYPES.get(d.type_code, pa.string()) for d in description]
        names = unique_names([d.name for d in description])
        return pa.schema(list(zip(names, self.types, strict=True)))

    def batches(self) -> Iterator[pa.RecordBatch]:
        assert self.cur is not None
        schema = None
        while True:
            rows = self.cur.fetchmany(self.batch_rows)
            if not rows:
                return
            columns = [[_pg_value(r[i], kind) for r in rows] for i, kind in enumerate(self.types)]
            arrays = [pa.array(c, type=kind) for c, kind in zip(columns, self.types, strict=True)]
            if schema is None:
                schema = pa.schema([(str(i), a.type) for i, a in enumerate(arrays)])
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    def interrupt(self) -> None:
        cancel = getattr(self.conn, "cancel_safe", None) or self.conn.cancel
        with suppress(Exception):  # the connection is already gone: nothing left to cancel
            cancel()

    def close(self) -> None:
        with suppress(Exception):  # read-only: nothing to keep
            self.conn.rollback()
        self.conn.close()


def _set_role(cur, role: str) -> None:
    from psycopg import errors, sql

    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is None:
        raise ConfigError(
            f"PostgreSQL 中没有分析角色 {role} / the analyst role {role} does not exist in this "
            "PostgreSQL cluster: run `careops init` as the warehouse owner, or have the DBA "
            "create it (docs/sql.md)"
        )
    try:
        cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    except errors.InsufficientPrivilege:
        raise ConfigError(
            f"仓库账号不能切换到分析角色 {role} / the warehouse login may not SET ROLE {role}: "
            f"GRANT {role} TO the warehouse login, or set sql.analyst_url to a login of the "
            "analyst role (docs/sql.md)"
        ) from None


class SparkSession:
    """Analyst SQL on the process' Spark session, as one job group that can be cancelled."""

    def __init__(self, con, batch_rows: int) -> None:
        self.session = con._session
        self.batch_rows = batch_rows
        self.group = f"careops-sql-{uuid.uuid4().hex[:8]}"
        self.frame = None
        self.schema: pa.Schema | None = None

    def start(self, text: str) -> pa.Schema:
        from pyspark.sql.pandas.types import to_arrow_schema

        self.session.sparkContext.setJobGroup(self.group, "careops sql", True)
        self.frame = self.session.sql(text)
        arrow = to_arrow_schema(self.frame.schema)
        self.schema = pa.schema(
            [f.with_name(n) for f, n in zip(arrow, unique_names(arrow.names), strict=True)]
        )
        return self.schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        assert self.frame is not None and self.schema is not None
        self.session.sparkContext.setJobGroup(self.group, "careops sql", True)
        rows: list[tuple] = []
        for row in self.frame.toLocalIterator():
            rows.append(tuple(row))
            if len(rows) >= self.batch_rows:
                yield self._batch(rows)
                rows = []
        if rows:
            yield self._batch(rows)

    def _batch(self, rows: list[tuple]) -> pa.RecordBatch:
        assert self.schema is not None
        columns = []
        for i, field in enumerate(self.schema):
            values = [r[i] for r in rows]
            if pa.types.is_timestamp(field.type) and field.type.tz:
                # PySpark hands timestamps back as naive local time of this process
                values = [v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for v in values]
            columns.append(pa.array(values, type=field.type))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def interrupt(self) -> None:
        self.session.sparkContext.cancelJobGroup(self.group)

    def close(self) -> None:
        self.frame = None

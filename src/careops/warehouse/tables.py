"""Create the canonical tables and the ingestion bookkeeping tables in a warehouse.

Keys: on PostgreSQL every canonical table carries its key (`TABLES[name].key`) as a real PRIMARY
KEY constraint, so two loads running at once can never store a row twice (the loader inserts
with `ON CONFLICT DO NOTHING`). On DuckDB one process writes a file at a time and the loader's
anti-join is exact; a primary key there would cost the load an index of every key (measured in
benchmarks/results/ingest.json), so DuckDB tables are left without one. Spark tables have no
constraints at all. Warehouses created before the keys get them from `create_tables` (run by
`careops init` and `careops ingest`); existing duplicates are named, never silently dropped.

Row ownership: on DuckDB and PostgreSQL each canonical row records the load that inserted it
(`_load_id`), so `careops ingest --replace` removes exactly the rows of the load it corrects.
Rows loaded before the column existed have none (NULL); the loader then falls back to the keys.
"""

from __future__ import annotations

import ibis
from ibis.backends import BaseBackend

from careops.errors import Conflict
from careops.schema import TABLES

TS = "timestamp('UTC')"
LOAD_ID = "_load_id"  # the load that inserted a canonical row (DuckDB, PostgreSQL)

SYSTEM_TABLES: dict[str, ibis.Schema] = {
    # one row per (load, table): the ledger that makes loads auditable and idempotent.
    # `path`: the file's canonical (absolute, resolved) path; `replaced`: rows of earlier loads
    # (`replaces`, comma-separated load ids) removed by this one; unreadable files are recorded
    # too (status `unreadable`, the reason in `message`)
    "_loads": ibis.schema(
        {
            "load_id": "string",
            "source": "string",
            "content_hash": "string",
            "table_name": "string",
            "rows_in": "int64",
            "loaded": "int64",
            "duplicates": "int64",
            "quarantined": "int64",
            "flagged": "int64",
            "status": "string",
            "message": "string",
            "started_at": TS,
            "finished_at": TS,
            "path": "string",
            "replaced": "int64",
            "replaces": "string",
        }
    ),
    # bad records kept aside for repair, with where they came from and why
    "quarantine": ibis.schema(
        {
            "load_id": "string",
            "source": "string",
            "table_name": "string",
            "record": "string",
            "field": "string",
            "reason": "string",
            "raw": "string",
            "quarantined_at": TS,
        }
    ),
    # quarantined records fixed by a later load (of the same file, or of a repaired export)
    "quarantine_resolved": ibis.schema(
        {
            "load_id": "string",
            "record": "string",
            "resolved_by": "string",
            "resolved_at": TS,
        }
    ),
    # loaded rows worth a second look (events or orders of a user_id not among the patients)
    "ingest_flags": ibis.schema(
        {
            "load_id": "string",
            "table_name": "string",
            "record_id": "string",
            "user_id": "string",
            "flag": "string",
        }
    ),
    # columns a file had beyond the canonical ones: kept, not silently dropped
    "ingest_extras": ibis.schema(
        {
            "load_id": "string",
            "table_name": "string",
            "record_id": "string",
            "data": "string",
        }
    ),
    # direct identifiers (DESIGN §2 contacts), AES-GCM sealed: see careops.privacy.contacts
    "contacts": ibis.schema(
        {
            "load_id": "string",
            "table_name": "string",
            "record_id": "string",
            "user_id": "string",
            "name": "string",
            "phone": "string",
            "email": "string",
            "wechat_openid": "string",
            "id_number": "string",
            "key_id": "string",
        }
    ),
}

# one number for every process that creates or migrates tables in a PostgreSQL database
_DDL_LOCK = 0x0CA6E0B5


def owns_rows(con: BaseBackend) -> bool:
    """Whether canonical rows carry the load that inserted them (`_load_id`)."""
    return con.name in ("duckdb", "postgres")


def create_tables(con: BaseBackend) -> list[str]:
    """Create every canonical and system table that does not exist yet; return those created.

    Also brings older warehouses up to date: the `_load_id` column, the ledger's newer columns
    and, on PostgreSQL, the key constraints (`Conflict` naming the table if duplicates already
    stored prevent one). Safe to run from several processes at once on PostgreSQL.
    """
    if con.name == "postgres":
        with con.con.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_DDL_LOCK,))
        try:
            return _create(con)
        finally:
            with con.con.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_DDL_LOCK,))
    return _create(con)


def _create(con: BaseBackend) -> list[str]:
    existing = set(con.list_tables())
    created = []
    owned = owns_rows(con)
    wanted = {name: spec.ibis_schema() for name, spec in TABLES.items()} | SYSTEM_TABLES
    for name, schema in wanted.items():
        if name in TABLES and owned:
            schema = ibis.schema({**dict(schema.items()), LOAD_ID: "string"})
        if name not in existing:
            con.create_table(name, schema=schema)
            created.append(name)
        elif con.name != "pyspark":
            _add_missing_columns(con, name, schema)
    if con.name == "postgres":
        from careops.warehouse.analyst_role import grant_new_tables

        for name in TABLES:
            _ensure_key(con, name)
        grant_new_tables(con, created)  # analyst tables only, never contacts
    return created


def _add_missing_columns(con: BaseBackend, name: str, schema: ibis.Schema) -> None:
    have = set(con.get_schema(name).names)
    for column, dtype in schema.items():
        if column in have:
            continue
        sql_type = {"string": "VARCHAR", "int64": "BIGINT"}[str(dtype).removesuffix("!")]
        _execute(con, f'ALTER TABLE "{name}" ADD COLUMN "{column}" {sql_type}')


def _execute(con: BaseBackend, sql: str, params: tuple = ()) -> list[tuple]:
    if con.name == "postgres":
        with con.con.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        con.con.commit() if not con.con.autocommit else None
        return rows
    return con.con.execute(sql, list(params)).fetchall()


def _ensure_key(con: BaseBackend, name: str) -> None:
    """Give a PostgreSQL table its key as a PRIMARY KEY, unless it has one already."""
    has = _execute(
        con,
        "SELECT 1 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE t.relname = %s AND t.relnamespace = current_schema()::regnamespace "
        "AND c.contype IN ('p', 'u')",
        (name,),
    )
    if has:
        return
    keys = TABLES[name].key
    cols = ", ".join(f'"{k}"' for k in keys)
    import psycopg

    try:
        with con.con.transaction(), con.con.cursor() as cur:
            cur.execute(f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_key" PRIMARY KEY ({cols})')
    except (psycopg.errors.UniqueViolation, psycopg.errors.NotNullViolation) as exc:
        find = (
            f"SELECT {cols}, count(*) FROM {name} GROUP BY {cols} HAVING count(*) > 1"
            if isinstance(exc, psycopg.errors.UniqueViolation)
            else f"SELECT * FROM {name} WHERE " + " OR ".join(f"{k} IS NULL" for k in keys)
        )
        what = "重复的键" if isinstance(exc, psycopg.errors.UniqueViolation) else "空的键"
        why = "duplicate keys" if what == "重复的键" else "empty keys"
        raise Conflict(
            f"表 {name} 已有{what}, 无法加上主键 ({', '.join(keys)}) / table {name} already holds "
            f"{why}, so its key ({', '.join(keys)}) cannot be made a PRIMARY KEY, and loads "
            f'running at once could store rows twice. Find them with: careops sql "{find}"; '
            "remove the extra rows, then run careops init again"
        ) from None

"""Remove one patient from every warehouse table, in one transaction (DuckDB, PostgreSQL).

The domain side (`careops.privacy.erase`) decides *what* erasure means; this module is the
backend-specific *how*, kept in the warehouse package like the loaders. What goes:

- every row of every table with a `user_id` column: the canonical tables, `contacts`,
  `ingest_flags`, tag snapshots, `segment_members`, and whatever later modules add (model scores)
  — found by looking at the tables, not from a list that could fall behind;
- `ingest_extras` rows of the patient's records (matched by the record's key);
- `quarantine` rows whose raw text holds the id as a whole token (a bad row of this patient);
- references to the patient in other patients' rows are cut, not the rows: `patients.referrer_id`
  and `managed_by` become NULL, an `invite` event's `invitee_id` property is removed.

State-store tables that share a PostgreSQL database with the warehouse are left to the state
store's eraser. Spark has no transactions: erasure there is refused with a clear message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ibis.backends import BaseBackend

from careops.errors import InvalidInput
from careops.schema import TABLES

#: columns of other patients' rows that may point at the patient: set to NULL
REFERENCES: dict[str, tuple[str, ...]] = {"patients": ("referrer_id", "managed_by")}
#: event properties that may hold another patient's id: removed from the JSON
EVENT_PROPERTIES: tuple[str, ...] = ("invitee_id", "inviter_id", "referrer_id")
#: characters an id token is made of (the quarantine match needs a non-id character around it)
_ID_CHARS = "A-Za-z0-9_.-"

Run = Callable[[str, tuple], int]


def erase_user(
    con: BaseBackend, user_id: str, skip: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Remove `user_id` from every table of `con` except those in `skip`, in one transaction;
    return rows removed (or changed, `table.column`) per table, zero counts left out."""
    if con.name not in ("duckdb", "postgres"):
        raise InvalidInput(
            f"{con.name} 仓库不支持删除患者 / erasure needs a transactional warehouse (DuckDB or "
            "PostgreSQL); on Spark, rewrite the tables without the patient"
        )
    tables = {name: _columns(con, name) for name in _base_tables(con) if name not in skip}
    report: dict[str, int] = {}
    with _transaction(con) as run:
        for name, key in _extras_keys(tables):
            n = run(
                f"DELETE FROM ingest_extras WHERE table_name = ? AND ({_key_match(name, key)})",
                (name, user_id),
            )
            report["ingest_extras"] = report.get("ingest_extras", 0) + n
        if "quarantine" in tables:
            pattern = f"(^|[^{_ID_CHARS}]){re.escape(user_id)}($|[^{_ID_CHARS}])"
            match = "regexp_matches(raw, ?)" if con.name == "duckdb" else "raw ~ ?"
            report["quarantine"] = run(f"DELETE FROM quarantine WHERE {match}", (pattern,))
        for name, columns in tables.items():
            if "user_id" in columns:
                report[name] = run(f'DELETE FROM "{name}" WHERE user_id = ?', (user_id,))
        for name, columns in REFERENCES.items():
            for column in columns:
                if name in tables and column in tables[name]:
                    report[f"{name}.{column}"] = run(
                        f'UPDATE "{name}" SET "{column}" = NULL WHERE "{column}" = ?', (user_id,)
                    )
        if "events" in tables:
            for prop in EVENT_PROPERTIES:
                report[f"events.properties.{prop}"] = run(*_drop_property(con.name, prop, user_id))
    return {k: v for k, v in report.items() if v}


def _base_tables(con: BaseBackend) -> list[str]:
    """The tables of the current schema, views left out (a view cannot be deleted from; the
    rows it shows are erased in its tables)."""
    sql = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    if con.name == "duckdb":
        return [r[0] for r in con.con.execute(sql).fetchall()]
    with con.con.cursor() as cur:
        cur.execute(sql)
        names = [r[0] for r in cur.fetchall()]
    if not con.con.autocommit:
        con.con.commit()
    return names


def _columns(con: BaseBackend, name: str) -> frozenset[str]:
    return frozenset(con.get_schema(name).names)


def _extras_keys(tables: dict[str, frozenset[str]]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Canonical tables whose rows may have extras, with their keys."""
    if "ingest_extras" not in tables:
        return
    for name, spec in TABLES.items():
        if name in tables and spec.user_column == "user_id":
            yield name, spec.key


def _key_match(table: str, key: tuple[str, ...]) -> str:
    """SQL matching `ingest_extras.record_id` of the patient's rows of `table` (its key as text,
    composite keys joined by '|'); the one parameter is the user id."""
    if key == ("user_id",):
        return "record_id = ?"
    if key[0] == "user_id":  # user_id|channel|…: the id and a separator start the record id
        return "substr(record_id, 1, length(?) + 1) = ? || '|'".replace("?", "{u}")
    return f'record_id IN (SELECT CAST("{key[0]}" AS VARCHAR) FROM "{table}" WHERE user_id = ?)'


def _drop_property(backend: str, prop: str, user_id: str) -> tuple[str, tuple]:
    if backend == "duckdb":
        return (
            "UPDATE events SET properties = json_merge_patch(properties, ?) WHERE CASE WHEN "
            "json_valid(properties) THEN json_extract_string(properties, ?) END = ?",
            (f'{{"{prop}": null}}', f"$.{prop}", user_id),
        )
    return (
        "UPDATE events SET properties = (properties::jsonb - ?)::text "
        "WHERE CASE WHEN properties LIKE '{%%' THEN properties::jsonb ->> ? END = ?",
        (prop, prop, user_id),
    )


@contextmanager
def _transaction(con: BaseBackend) -> Iterator[Run]:
    """One transaction on the engine; `run(sql, params)` with `?` placeholders → row count."""
    raw = con.con
    if con.name == "duckdb":

        def run(sql: str, params: tuple) -> int:
            sql, params = _expand(sql, params)
            return int(raw.execute(sql, list(params)).fetchone()[0])

        raw.execute("BEGIN TRANSACTION")
        try:
            yield run
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
        return

    def run_pg(sql: str, params: tuple) -> int:
        sql, params = _expand(sql, params)
        with raw.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return cur.rowcount

    with raw.transaction():
        yield run_pg


def _expand(sql: str, params: tuple) -> tuple[str, tuple]:
    """`{u}` stands for the last parameter (the user id) used once more per occurrence."""
    n = sql.count("{u}")
    if not n:
        return sql, params
    return sql.replace("{u}", "?"), (*params[:-1], *([params[-1]] * n))

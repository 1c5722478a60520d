"""Read-only SQL for analysts: one SELECT, checked before it runs."""

from __future__ import annotations

import pyarrow as pa
import sqlglot
from ibis.backends import BaseBackend
from sqlglot import exp

from careops.errors import ConfigError
from careops.warehouse.connect import backend_kind

_DIALECT = {"duckdb": "duckdb", "postgres": "postgres", "pyspark": "spark"}
_FILE_READERS = {"read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto",
                 "read_text", "read_blob", "parquet_scan", "glob", "pg_read_file",
                 "pg_read_binary_file", "lo_import"}


def read_only_sql(con: BaseBackend, query: str) -> pa.Table:
    """Run one SELECT (or WITH … SELECT) and return the rows; refuse anything else."""
    dialect = _DIALECT[backend_kind(con)]
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ConfigError("give exactly one statement (a SELECT)")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ConfigError(f"only SELECT queries are allowed here, not {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, exp.DML | exp.DDL | exp.Command):
            raise ConfigError(f"only reading is allowed; found {node.key.upper()}")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FILE_READERS:
                raise ConfigError(f"{name}() reads files; query warehouse tables only")
    try:
        return con.sql(query, dialect=dialect).to_pyarrow()
    except Exception as exc:
        raise ConfigError(f"query failed: {str(exc).splitlines()[0]}") from None

"""The value of one key of a JSON text column, per backend: a warehouse capability.

`events.properties` is JSON text (`{"query": "头痛"}`). Conditions on it must read the *value* of
a key: matching the text would find `query` in every search (the key) and miss values written
with `\\u` escapes. Each engine's own JSON function does the reading:

- DuckDB: `json_extract_string(p, '$."key"')`
- PostgreSQL: `json_extract_path_text(CAST(p AS JSON), 'key')`
- Spark: `get_json_object(p, '$.key')`

A string comes back unquoted and unescaped, a number as its text; an absent key, a JSON null, or
a document that is not an object gives null. Ingestion refuses properties that are not JSON.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends import BaseBackend

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json_string(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """DuckDB: the value at `path` as text."""


@ibis.udf.scalar.builtin(name="json_extract_path_text")
def _postgres_json_text(doc: dt.JSON, key: str) -> str:  # type: ignore[empty-body]
    """PostgreSQL: the value of `key` as text."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json_object(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """Spark: the value at `path` as text."""


def json_value(con: BaseBackend, column: ir.StringValue, key: str) -> ir.StringValue:
    """The text of top-level `key` in the JSON text `column` (null when absent)."""
    if not _KEY.match(key):
        raise ValueError(f"JSON key {key!r}: use letters, digits and _")
    name = getattr(con, "name", None)  # None: an unbound expression (schema probing)
    if name == "postgres":
        return _postgres_json_text(column.cast("json"), key)
    if name == "pyspark":
        return _spark_json_object(column, f"$.{key}")
    return _duckdb_json_string(column, f'$."{key}"')


def json_field(con: BaseBackend, column: ir.StringValue, key: str) -> ir.StringValue:
    """`json_value`, trimmed, with an empty text as null (what metrics count as "absent")."""
    value = json_value(con, column, key).strip()
    return ibis.ifelse(value == "", ibis.null(dt.string), value)

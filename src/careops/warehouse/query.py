"""The statement check of the analyst SQL door: one SELECT over the analyst's tables, nothing else.

This is the *second* wall. The first is the engine itself (see `careops.warehouse.analyst`):
DuckDB runs analyst SQL with external access off and its configuration locked, PostgreSQL in a
READ ONLY transaction as a role that can only SELECT the analyst tables. On Spark, which has no
such switch, this check is the wall, and the SQL that runs there is the text regenerated from the
checked syntax tree, so what the engine parses is what was checked.

The check is an allow-list, not a list of bad things to look for:

- exactly one statement, and it is a query (SELECT / WITH … SELECT / UNION …);
- no statement of any other kind anywhere inside it (no DML, DDL, SET, COPY, ATTACH, PRAGMA…);
- every table it reads is an analyst table (`ANALYST_TABLES`) or a CTE visible at that point,
  named plainly: no schema or catalog prefix (`main.x`, `other_db.x`, ``csv.`/path` ``), no string
  literal or path (`FROM 'file.csv'`), no table function (`FROM read_csv(…)`, `query_table(…)`);
- and, as a last net, no function whose name is known to reach outside the warehouse or to run
  a string as SQL (`FORBIDDEN_FUNCTIONS`, `FORBIDDEN_PREFIXES`), however it is quoted or prefixed.

Problems with the text itself (does not parse, nested too deeply, too long) are `InvalidInput`;
a statement that tries to do more than read the analyst tables is `Forbidden`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from careops.errors import ConfigError, Forbidden
from careops.schema import TABLES

Kind = str  # "duckdb" | "postgres" | "pyspark"

DIALECT = {"duckdb": "duckdb", "postgres": "postgres", "pyspark": "spark"}

MAX_CHARS = 100_000
"""Longest query text accepted (a long analysis is a few thousand characters)."""

ANALYST_TABLES: frozenset[str] = frozenset(name for name in TABLES if name != "contacts")
"""The tables analyst SQL may read: the canonical facts. Not `contacts` (direct identifiers:
names, phone numbers, id numbers), and none of the ingestion bookkeeping tables: `quarantine`
and `ingest_extras` hold raw records as they arrived, before validation and masking, so they may
carry identifiers the canonical tables never keep; `_loads` and `ingest_flags` name source files
and paths. Those are read through `careops quarantine` and `careops ingest`, which show them
masked and audited."""

DERIVED_ANALYST_TABLES = re.compile(r"tag_snapshot_\d{8}|segment_members")
"""Tables CareOps derives from the canonical facts that analysts may read too: a day's tag
snapshot (`careops.tags.snapshot`) and the members of saved segments (user ids and tags, no
direct identifiers)."""


def is_analyst_table(name: str) -> bool:
    """Whether analyst SQL may read table `name` (and the analyst role is granted SELECT on it)."""
    name = name.lower()
    return name in ANALYST_TABLES or DERIVED_ANALYST_TABLES.fullmatch(name) is not None


FORBIDDEN_FUNCTIONS: frozenset[str] = frozenset(
    {
        # read or list files, other databases, the environment, the configuration
        "glob",
        "getenv",
        "current_setting",
        "set_config",
        "sniff_csv",
        "read_text",
        "read_blob",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "which_secret",
        "load",
        "install",
        "attach",
        "detach",
        "checkpoint",
        "force_checkpoint",
        "enable_profiling",
        # run a string as SQL
        "query",
        "query_table",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "table_to_xml",
        "table_to_xmlschema",
        "table_to_xml_and_xmlschema",
        "schema_to_xml",
        "schema_to_xmlschema",
        "schema_to_xml_and_xmlschema",
        "database_to_xml",
        "database_to_xmlschema",
        "database_to_xml_and_xmlschema",
        "xmlparse",
        "ts_stat",
        "ts_rewrite",
        # Spark: call any Java method
        "reflect",
        "java_method",
        "try_reflect",
        "input_file_name",
        "input_file_block_start",
        "input_file_block_length",
    }
)
FORBIDDEN_PREFIXES: tuple[str, ...] = (
    "read_",
    "pg_",
    "lo_",
    "dblink",
    "duckdb_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "iceberg_",
    "delta_",
    "ducklake_",
    "http_",
    "s3_",
    "json_execute",
    "txid_",
    "currval",
    "nextval",
    "setval",
)
FORBIDDEN_SUFFIXES: tuple[str, ...] = ("_scan", "_attach", "_query", "_execute")

# sqlglot's own names for functions it knows, where they differ from what was written
_KNOWN_AS = {exp.ReadCSV: "read_csv"}


@dataclass(frozen=True)
class Checked:
    """A statement that passed the check: the text as given and as regenerated from its tree."""

    text: str
    canonical: str
    tables: tuple[str, ...]


def check_statement(text: str, kind: Kind) -> Checked:
    """Check one analyst statement for an engine; raise `InvalidInput` or `Forbidden`."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("查询为空 / the query is empty: give one SELECT")
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"查询过长 / the query is {len(text):,} characters long; at most "
            f"{MAX_CHARS:,} are accepted"
        )
    if "\x00" in text:
        raise ConfigError("查询含有空字符 / the query contains a NUL character")
    dialect = DIALECT[kind]
    statements = _parse(text, dialect)
    if len(statements) != 1:
        raise ConfigError("只能给一条语句 / give exactly one statement (a SELECT)")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise Forbidden(
            f"只允许查询 / only SELECT queries are allowed here, not {_what(statement)}"
        )
    tables: list[str] = []
    try:
        for node in statement.walk():
            if isinstance(
                node,
                exp.DML
                | exp.DDL
                | exp.Command
                | exp.Set
                | exp.Pragma
                | exp.Use
                | exp.Copy
                | exp.Into
                | exp.LoadData
                | exp.Transaction
                | exp.Commit
                | exp.Rollback
                | exp.Describe,
            ):
                raise Forbidden(f"只允许读取 / only reading is allowed; found {_what(node)}")
            if isinstance(node, exp.Table):
                tables.append(_check_table(node))
            elif isinstance(node, exp.Func):
                _check_function(node)
            elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
                _check_function(node.expression)
        canonical = statement.sql(dialect=dialect, comments=False)
    except RecursionError:
        raise _too_deep() from None
    return Checked(text=text, canonical=canonical, tables=tuple(dict.fromkeys(tables)))


def _parse(text: str, dialect: str) -> list[exp.Expression]:
    try:
        return [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except RecursionError:
        raise _too_deep() from None
    except sqlglot.errors.SqlglotError as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError(f"SQL 无法解析 / SQL does not parse: {first}") from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        # sqlglot's tokenizer and parser raise these on some malformed input
        raise ConfigError(f"SQL 无法解析 / SQL does not parse: {type(exc).__name__}") from None


def _too_deep() -> ConfigError:
    return ConfigError(
        "查询嵌套过深 / the query is nested too deeply (about 40 levels of "
        "parentheses at most); flatten it with WITH … AS (…)"
    )


def _what(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()[:40]
    return node.key.upper()


def _check_table(table: exp.Table) -> str:
    """A table reference must name an analyst table or a visible CTE, plainly."""
    target = table.this
    if not isinstance(target, exp.Identifier):
        if isinstance(target, exp.Func):
            _check_function(target)
        what = function_name(target) if isinstance(target, exp.Func) else target.key
        raise Forbidden(
            f"只能读取仓库表 / only warehouse tables can be read here; "
            f"{what}(…) in FROM is not allowed"
        )
    name = target.name
    if table.args.get("db") or table.args.get("catalog"):
        raise Forbidden(
            f"只能读取本仓库的表 / only this warehouse's tables can be read, by "
            f"their plain name; {table.sql()[:80]!r} names another schema, "
            "database or file"
        )
    if is_analyst_table(name) or _is_visible_cte(table, name):
        return name.lower()
    raise Forbidden(
        f"不能读取 {name[:80]!r} / {name[:80]!r} is not a table analysts may read; "
        f"the analyst tables are: {', '.join(sorted(ANALYST_TABLES))}, the tag snapshots "
        "(tag_snapshot_YYYYMMDD) and segment_members"
    )


def _is_visible_cte(table: exp.Table, name: str) -> bool:
    """Whether `name` at this place refers to a CTE rather than a table of the database.

    A CTE is visible in the body of its query; inside a CTE's own definition only the CTEs
    before it are (all of them under WITH RECURSIVE), so a later CTE named like a forbidden
    table cannot hide a read of the real one."""
    key = name.lower()
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = list(node.expressions)
            position = ctes.index(child) if child in ctes else len(ctes)
            visible = ctes if node.args.get("recursive") else ctes[:position]
            if any(c.alias_or_name.lower() == key for c in visible):
                return True
        elif isinstance(node, exp.Query):
            with_ = node.args.get("with_") or node.args.get("with")
            if (
                with_ is not None
                and child is not with_
                and any(c.alias_or_name.lower() == key for c in with_.expressions)
            ):
                return True
        child, node = node, node.parent
    return False


def function_name(node: exp.Func) -> str:
    """The name a function call resolves to, without quotes or schema prefix, lower-case."""
    if isinstance(node, exp.Anonymous):
        this = node.this
        name = this.name if isinstance(this, exp.Expression) else str(this)
    else:
        name = _KNOWN_AS.get(type(node)) or node.sql_name()
    return name.rsplit(".", 1)[-1].strip('"`[]').lower()


def _check_function(node: exp.Func) -> None:
    name = function_name(node)
    if (
        name in FORBIDDEN_FUNCTIONS
        or name.startswith(FORBIDDEN_PREFIXES)
        or name.endswith(FORBIDDEN_SUFFIXES)
    ):
        raise Forbidden(
            f"不允许的函数 / {name}() reads files or reaches outside the warehouse "
            "tables; query warehouse tables only"
        )

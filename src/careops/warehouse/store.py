"""Replace a derived table (a tag snapshot) all at once: a killed run leaves nothing behind.

Ibis's `create_table(..., overwrite=True)` creates a table under a generated name, fills it, then
swaps it in, in separate statements. On DuckDB, a process killed while filling leaves an empty
`ibis_duckdb_table_…` behind; here the whole replacement is one transaction, and leftovers of
earlier killed runs are dropped first (DuckDB has a single writer, so none can be in progress).
PostgreSQL's `create_table` already runs in one transaction; Spark writes its files then swaps.
"""

from __future__ import annotations

import ibis.expr.types as ir
from ibis.backends import BaseBackend

#: the prefix of Ibis's generated names for an overwrite in progress on DuckDB
DUCKDB_LEFTOVER = "ibis_duckdb_table_"


def drop_leftovers(con: BaseBackend) -> list[str]:
    """Drop the half-made tables of killed overwrites (DuckDB); return their names."""
    if con.name != "duckdb":
        return []
    names = [n for n in con.list_tables() if n.startswith(DUCKDB_LEFTOVER)]
    for name in names:
        con.drop_table(name, force=True)
    return names


def replace_table(con: BaseBackend, name: str, obj: ir.Table) -> ir.Table:
    """Create or replace table `name` from `obj` atomically; return the stored table. On
    PostgreSQL the new table is granted to the analyst role again when it is an analyst table
    (a replaced table is a new table, without the old one's grants)."""
    if con.name != "duckdb":
        stored = con.create_table(name, obj=obj, overwrite=True)
        from careops.warehouse.analyst_role import grant_new_tables

        grant_new_tables(con, [name])
        return stored
    drop_leftovers(con)
    raw = con.con  # the DuckDB connection Ibis runs its statements on
    raw.begin()
    try:
        con.create_table(name, obj=obj, overwrite=True)
    except BaseException:
        raw.rollback()
        raise
    raw.commit()
    return con.table(name)

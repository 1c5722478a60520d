"""Tables made after `careops init` on PostgreSQL: the analyst role can read those that are
analyst tables (a new day's tag snapshot, also after it is recomputed; segment_members; a
canonical table added later) and never one that is not (contacts, the quarantine)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from careops.errors import Forbidden
from careops.warehouse.analyst import run_query

pytestmark = pytest.mark.postgres

ROLE = "careops_analyst"


def _can_read(con, table: str) -> bool:
    with con.con.cursor() as cur:
        cur.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (ROLE, table))
        return bool(cur.fetchone()[0])


def _rows(ops, text) -> list[dict]:
    with run_query(ops, text) as run:
        return pa.Table.from_batches(list(run), schema=run.schema).to_pylist()


def test_tables_created_after_init_are_granted_only_when_analyst_tables(analyst_ops):
    from careops.segments.saved import MEMBERS, _ensure_members
    from careops.tags.snapshot import snapshot_name, store_snapshot
    from careops.warehouse.tables import create_tables

    ops = analyst_ops("postgres")
    day = dt.date(2025, 3, 10)
    with ops.warehouse() as con:
        # the state of a warehouse initialised by an older CareOps: no contacts table, and a
        # canonical table that arrives with the upgrade
        con.drop_table("contacts", force=True)
        con.drop_table("observations", force=True)
        assert sorted(create_tables(con)) == ["contacts", "observations"]
        assert _can_read(con, "observations")
        assert not _can_read(con, "contacts")
        assert not _can_read(con, "quarantine")
        store_snapshot(con, day, ["lifecycle"], settings=ops.settings)
        assert _can_read(con, snapshot_name(day))
        store_snapshot(con, day, ["lifecycle"], settings=ops.settings)  # replaced: a new table
        assert _can_read(con, snapshot_name(day))
        _ensure_members(con)
        assert _can_read(con, MEMBERS)
    # through the analyst door, as the analyst role
    got = _rows(ops, f"SELECT count(*) AS n FROM {snapshot_name(day)}")
    assert got == [{"n": 3}]
    assert _rows(ops, "SELECT count(*) AS n FROM segment_members") == [{"n": 0}]
    with pytest.raises(Forbidden):
        _rows(ops, "SELECT * FROM contacts")


def test_the_role_cannot_read_contacts_without_the_statement_check(analyst_ops):
    """The database itself refuses: SET ROLE to the analyst and read contacts directly."""
    import psycopg

    from careops.warehouse.tables import create_tables

    ops = analyst_ops("postgres")
    with ops.warehouse() as con:
        con.drop_table("contacts", force=True)
        create_tables(con)
        raw = con.con
        with raw.cursor() as cur:
            cur.execute(f"SET ROLE {ROLE}")
            try:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    cur.execute("SELECT count(*) FROM contacts")
            finally:
                cur.execute("RESET ROLE")

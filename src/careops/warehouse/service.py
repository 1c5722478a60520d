"""Warehouse services behind `careops init` and `careops tables` (the CLI and API call these)."""

from __future__ import annotations

from dataclasses import dataclass

from careops.service import Ops
from careops.warehouse.analyst_role import RoleSetup


@dataclass(frozen=True)
class InitResult:
    """What `init_warehouse` did: tables created, the analyst role (PostgreSQL only), and the
    state store's schema revision."""

    created: tuple[str, ...]
    revision: str
    analyst: RoleSetup | None = None


def init_warehouse(ops: Ops) -> InitResult:
    """Create the canonical and system tables, the analyst role on PostgreSQL (docs/sql.md),
    and the state store; audited. Safe to run again."""
    from careops.state.store import migrate
    from careops.warehouse.analyst_role import ensure_analyst_role
    from careops.warehouse.connect import backend_kind
    from careops.warehouse.tables import create_tables

    analyst = None
    with ops.warehouse() as con:
        created = create_tables(con)
        if backend_kind(con) == "postgres":
            analyst = ensure_analyst_role(con, ops.settings.sql.analyst_role)
    revision = migrate(ops.state)
    detail = {"created": created}
    if analyst is not None:
        detail["analyst_role"] = {
            "role": analyst.role,
            "created": analyst.created,
            "granted": list(analyst.granted),
            "problem": analyst.problem,
        }
    ops.audit("init", target=ops.warehouse_url, detail=detail)
    return InitResult(created=tuple(created), revision=revision, analyst=analyst)


def table_counts(ops: Ops) -> dict[str, int]:
    """Rows in each canonical table present in the warehouse, in the schema's order."""
    from careops.schema import TABLES

    with ops.warehouse(read_only=True) as con:
        present = set(con.list_tables())
        return {name: int(con.table(name).count().execute()) for name in TABLES if name in present}

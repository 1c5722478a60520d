"""Create the canonical tables and the ingestion bookkeeping tables in a warehouse."""

from __future__ import annotations

import ibis
from ibis.backends import BaseBackend

from careops.schema import TABLES

TS = "timestamp('UTC')"

SYSTEM_TABLES: dict[str, ibis.Schema] = {
    # one row per (load, table): the ledger that makes loads auditable and idempotent
    "_loads": ibis.schema({
        "load_id": "string", "source": "string", "content_hash": "string",
        "table_name": "string", "rows_in": "int64", "loaded": "int64", "duplicates": "int64",
        "quarantined": "int64", "flagged": "int64", "status": "string", "message": "string",
        "started_at": TS, "finished_at": TS,
    }),
    # bad records kept aside for repair, with where they came from and why
    "quarantine": ibis.schema({
        "load_id": "string", "source": "string", "table_name": "string", "record": "string",
        "field": "string", "reason": "string", "raw": "string", "quarantined_at": TS,
    }),
    # quarantined records fixed by a later load (of the same file, or of a repaired export)
    "quarantine_resolved": ibis.schema({
        "load_id": "string", "record": "string", "resolved_by": "string", "resolved_at": TS,
    }),
    # loaded rows worth a second look (events or orders of a user_id not among the patients)
    "ingest_flags": ibis.schema({
        "load_id": "string", "table_name": "string", "record_id": "string",
        "user_id": "string", "flag": "string",
    }),
    # columns a file had beyond the canonical ones: kept, not silently dropped
    "ingest_extras": ibis.schema({
        "load_id": "string", "table_name": "string", "record_id": "string", "data": "string",
    }),
    # direct identifiers (DESIGN §2 contacts), AES-GCM sealed: see careops.privacy.contacts
    "contacts": ibis.schema({
        "load_id": "string", "table_name": "string", "record_id": "string", "user_id": "string",
        "name": "string", "phone": "string", "email": "string", "wechat_openid": "string",
        "id_number": "string", "key_id": "string",
    }),
}


def create_tables(con: BaseBackend) -> list[str]:
    """Create every canonical and system table that does not exist yet; return those created."""
    existing = set(con.list_tables())
    created = []
    wanted = {name: spec.ibis_schema() for name, spec in TABLES.items()} | SYSTEM_TABLES
    for name, schema in wanted.items():
        if name not in existing:
            con.create_table(name, schema=schema)
            created.append(name)
    return created

"""Rotate the contacts key: re-seal every row of the warehouse's `contacts` table under a new key.

The old key is the configured one (`privacy.contacts_key`); the new one is handed in (from an
environment variable or stdin, never a command-line argument). Every row sealed under the old
key is opened and sealed again under the new key, and its `key_id` changes with it, in one
transaction on DuckDB and PostgreSQL: after a crash the table is wholly under the old key or
wholly under the new one. Rows already under the new key (a rotation run twice, or a load made
with the new key meanwhile) are left as they are. A row under any other key stops the rotation
before anything changes: its key is not known, so it cannot be re-sealed (mixed state).

`key_usage` tells how many rows each key sealed: one key id that is the configured one is the
healthy state; anything else is a rotation not finished or a wrong key (see docs/privacy.md).
Spark warehouses have no multi-row transactions and are not supported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa

from careops.errors import ConfigError, Conflict, InvalidInput
from careops.privacy.contacts import FIELDS, ContactsKey, configured_key
from careops.service import Ops
from careops.warehouse import backend_kind
from careops.warehouse.tables import SYSTEM_TABLES

COLUMNS = tuple(SYSTEM_TABLES["contacts"].names)


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: rows re-sealed, rows already under the new key, the two key ids."""

    resealed: int
    already: int
    old_key_id: str
    new_key_id: str


@dataclass(frozen=True)
class KeyUsage:
    """Rows of `contacts` per key id, and the configured key's id (None: no key set)."""

    configured: str | None
    rows: dict[str, int]

    @property
    def mixed(self) -> bool:
        """Whether some row is sealed under a key other than the configured one."""
        return any(k != self.configured for k in self.rows)


def key_usage(ops: Ops) -> KeyUsage:
    """How many contacts rows each key sealed (needs `users.manage`)."""
    ops.require("users.manage")
    key = configured_key(ops.settings)
    with ops.warehouse(read_only=True) as con:
        c = con.table("contacts")
        counts = c.group_by("key_id").aggregate(n=c.count()).to_pyarrow().to_pylist()
    return KeyUsage(key.key_id if key else None, {str(r["key_id"]): int(r["n"]) for r in counts})


def rotate_key(ops: Ops, new_secret: str) -> Rotation:
    """Re-seal every contacts row under `new_secret` in one transaction; audited. Set
    `privacy.contacts_key` to the new key afterwards (until then reads are refused by name)."""
    ops.require("users.manage")
    old = configured_key(ops.settings)
    if old is None:
        raise ConfigError(
            "privacy.contacts_key: 未配置当前密钥 / the current key is not set; rotation needs "
            "it to open the rows"
        )
    if not new_secret or not new_secret.strip():
        raise ConfigError("new key: 新密钥为空 / the new key is empty")
    new = ContactsKey(new_secret)
    if new.key_id == old.key_id:
        raise InvalidInput("new key: 新密钥与当前密钥相同 / the new key is the current key")
    with ops.warehouse(existing=True) as con:
        kind = backend_kind(con)
        if kind not in ("duckdb", "postgres"):
            raise InvalidInput(
                f"轮换密钥仅支持 DuckDB 与 PostgreSQL / key rotation needs DuckDB or "
                f"PostgreSQL, not {kind}"
            )
        store = _DuckDB(con.con) if kind == "duckdb" else _Postgres(con.con)
        with store.transaction():
            rows = store.read()
            resealed, already = reseal(rows, old, new)
            if resealed is not None:
                store.replace(old.key_id, resealed)
    n = 0 if resealed is None else len(resealed)
    ops.audit(
        "privacy.rotate_key",
        target="contacts",
        detail={"resealed": n, "already": already, "from": old.key_id, "to": new.key_id},
    )
    return Rotation(n, already, old.key_id, new.key_id)


def reseal(rows: pa.Table, old: ContactsKey, new: ContactsKey) -> tuple[pa.Table | None, int]:
    """The rows sealed under `old`, sealed again under `new` (None when there are none), and
    how many were under `new` already. Rows under another key: `Conflict`, nothing done."""
    key_ids = rows["key_id"].to_pylist()
    unknown = sorted({str(k) for k in key_ids if k not in (old.key_id, new.key_id)})
    if unknown:
        raise Conflict(
            f"contacts 中有以未知密钥加密的行 / rows sealed under unknown key(s) "
            f"{', '.join(unknown)}: neither the current ({old.key_id}) nor the new key "
            f"({new.key_id}); nothing was changed"
        )
    mine = [i for i, k in enumerate(key_ids) if k == old.key_id]
    already = len(key_ids) - len(mine)
    if not mine:
        return None, already
    part = rows.take(pa.array(mine, pa.int64()))
    columns: dict[str, pa.Array] = {}
    for name in COLUMNS:
        if name in FIELDS:
            columns[name] = pa.array(
                [
                    None if v is None else new.seal(name, old.open(name, v))
                    for v in part[name].to_pylist()
                ],
                pa.string(),
            )
        elif name == "key_id":
            columns[name] = pa.array([new.key_id] * len(part), pa.string())
        else:
            columns[name] = part[name].combine_chunks().cast(pa.string())
    return pa.table(columns), already


_COLS = ", ".join(f'"{c}"' for c in COLUMNS)


class _DuckDB:
    def __init__(self, raw) -> None:
        self.raw = raw

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def read(self) -> pa.Table:
        return self.raw.execute(f"SELECT {_COLS} FROM contacts").fetch_arrow_table()

    def replace(self, old_key_id: str, rows: pa.Table) -> None:
        self.raw.execute("DELETE FROM contacts WHERE key_id = ?", [old_key_id])
        self.raw.register("_careops_rotate", rows)
        try:
            self.raw.execute(f"INSERT INTO contacts ({_COLS}) SELECT {_COLS} FROM _careops_rotate")
        finally:
            self.raw.unregister("_careops_rotate")


class _Postgres:
    """Takes the table in EXCLUSIVE mode first: loads appending contacts wait for the commit."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def transaction(self):
        return self.raw.transaction()

    def read(self) -> pa.Table:
        with self.raw.cursor() as cur:
            cur.execute("LOCK TABLE contacts IN EXCLUSIVE MODE")
            cur.execute(f"SELECT {_COLS} FROM contacts")
            data = cur.fetchall()
        return pa.Table.from_pylist(
            [dict(zip(COLUMNS, r, strict=True)) for r in data],
            schema=pa.schema([(c, pa.string()) for c in COLUMNS]),
        )

    def replace(self, old_key_id: str, rows: pa.Table) -> None:
        with self.raw.cursor() as cur:
            cur.execute("DELETE FROM contacts WHERE key_id = %s", (old_key_id,))
            with cur.copy(f"COPY contacts ({_COLS}) FROM STDIN") as copy:
                for r in rows.to_pylist():
                    copy.write_row([r[c] for c in COLUMNS])

"""A patient's contact details as a capability: masked for every role, plain only for senders.

`contact_of` answers the masked form (138****5678, 张*, a***@x.com, 1101**********002X) to any
caller allowed to see the patient's portrait (`patients.portrait`, within the caller's patient
scope); `reveal` answers the plain values only to an actor holding `patients.contacts` (an API
key of a channel sender, or the OS/system actor of the journey worker), with a stated purpose,
and records who read which patient's details and why before anything is returned. Plain values
are never written to the audit trail or any log, and a `Contact`'s repr never shows them.

The store is the warehouse table `contacts`: one row per loaded record that had identifier
columns (user_id, name, phone, email, wechat_openid, id_number, each AES-GCM sealed, and the
key_id it was sealed under). A patient loaded several times has several rows; the latest load
wins field by field: for each field the value of the most recent load (by the load's start in
`_loads`, then load id, then record id) that has one. A later load without an e-mail column does
not erase an e-mail loaded before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import ibis

from careops.errors import Conflict, InvalidInput
from careops.privacy.contacts import FIELDS, ContactsKey, configured_key, masked
from careops.service import Ops

MAX_PURPOSE = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Contact:
    """One patient's contact details, masked unless `masked` is False. The repr names only the
    fields present, never a value."""

    user_id: str
    name: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    wechat_openid: str | None = field(default=None, repr=False)
    id_number: str | None = field(default=None, repr=False)
    masked: bool = True

    def __repr__(self) -> str:
        present = [f for f in FIELDS if getattr(self, f) is not None]
        return f"Contact(user_id={self.user_id!r}, fields={present}, masked={self.masked})"

    __str__ = __repr__


def contact_of(ops: Ops, user_id: str) -> Contact:
    """The patient's contact details, masked (every role; needs `patients.portrait`)."""
    ops.require("patients.portrait")
    user_id = _user_id(user_id)
    values = _open(ops, user_id, "patients.portrait")
    ops.audit("contacts.view", target="contacts", detail={"masked": True}, subject=user_id)
    return Contact(user_id, **{f: masked(f, v) for f, v in values.items()}, masked=True)


def reveal(ops: Ops, user_id: str, purpose: str) -> Contact:
    """The patient's plain contact details for a channel sender (`patients.contacts`), with
    the purpose recorded in the audit trail before they are returned."""
    ops.require("patients.contacts")
    user_id = _user_id(user_id)
    purpose = _purpose(purpose)
    values = _open(ops, user_id, "patients.contacts")
    ops.audit(  # the record first: no audit, no plain values
        "contacts.reveal",
        target="contacts",
        detail={"fields": sorted(f for f, v in values.items() if v is not None)},
        subject=user_id,
        purpose=purpose,
    )
    return Contact(user_id, **values, masked=False)


def _user_id(user_id: str) -> str:
    v = (user_id or "").strip()
    if not v or len(v) > 128 or _CONTROL.search(v):
        raise InvalidInput("user_id: 无效的患者ID / not a valid patient id (1–128 characters)")
    return v


def _purpose(purpose: str) -> str:
    v = (purpose or "").strip()
    if not v:
        raise InvalidInput("purpose: 必须说明用途 / a purpose is required to read plain contacts")
    if len(v) > MAX_PURPOSE or _CONTROL.search(v):
        raise InvalidInput(
            f"purpose: 用途过长或含控制字符 / at most {MAX_PURPOSE} characters, no control "
            "characters"
        )
    return v


def _open(ops: Ops, user_id: str, permission: str) -> dict[str, str | None]:
    """The patient's plain values (latest load wins per field), after the object-level check
    of `careops.privacy.access` for `permission`."""
    from careops.privacy.access import check_patient_access

    key = configured_key(ops.settings)
    with ops.warehouse(read_only=True) as con:
        check_patient_access(ops, user_id, permission, con=con)
        rows = latest_rows(con, user_id)
    if rows and key is None:
        raise Conflict(
            "联系方式已加密, 但未配置密钥 / contacts are sealed but privacy.contacts_key is not set"
        )
    return merge(rows, key) if rows else dict.fromkeys(FIELDS)


def latest_rows(con, user_id: str) -> list[dict]:
    """The patient's contacts rows, latest load first (by its start, load id, record id)."""
    c = con.table("contacts").filter(lambda t: t.user_id == user_id)
    loads = con.table("_loads")
    starts = loads.group_by("load_id").aggregate(started=loads.started_at.min())
    j = c.left_join(starts, c.load_id == starts.load_id).select(
        *[c[f] for f in FIELDS], c.key_id, c.load_id, c.record_id, starts.started
    )
    ordered = j.order_by(
        [ibis.desc("started", nulls_first=False), ibis.desc("load_id"), ibis.desc("record_id")]
    )
    return ordered.to_pyarrow().to_pylist()


def merge(rows: list[dict], key: ContactsKey) -> dict[str, str | None]:
    """The plain value of each field from the first row (latest first) that has one. A row
    sealed under another key (a rotation not finished, a wrong key) is refused, named."""
    stale = sorted({r["key_id"] for r in rows if r["key_id"] != key.key_id}, key=str)
    if stale:
        raise Conflict(
            f"联系方式以其他密钥加密 / contacts sealed under key(s) {', '.join(map(str, stale))}, "
            f"not the configured key {key.key_id}: finish `careops privacy rotate-key` or set "
            "the key they were sealed under"
        )
    out: dict[str, str | None] = dict.fromkeys(FIELDS)
    for f in FIELDS:
        for r in rows:
            if r[f] is not None:
                out[f] = key.open(f, r[f])
                break
    return out


# ---- de-identified data for analysts (`data.deidentified`) ---------------------------------


@dataclass(frozen=True)
class DeidentifiedPage:
    """One page of a de-identified table, in the order of its key."""

    table: str
    rows: list[dict]
    total: int


@dataclass(frozen=True)
class Export:
    """What `export` wrote: folder, rows per table, the settings that shaped the copy."""

    out: str
    rows: dict[str, int]
    date_mode: str
    as_of: str


def deidentified_page(ops: Ops, table: str, limit: int, offset: int) -> DeidentifiedPage:
    """Rows `offset`..`offset + limit` of `table`, de-identified; audited."""
    from careops.privacy.deidentify import Deidentifier, check_table
    from careops.schema import TABLES

    ops.require("data.deidentified")
    check_table(table)
    d = Deidentifier.from_settings(ops.settings)
    with ops.warehouse(read_only=True) as con:
        t = con.table(table)
        total = int(t.count().execute())
        rows = t.order_by(list(TABLES[table].key)).limit(limit, offset=offset).to_pyarrow()
    out = d.table(table, rows)
    ops.audit(
        "deidentified.read",
        target=table,
        detail={"offset": offset, "rows": out.num_rows, "date_mode": d.mode},
    )
    return DeidentifiedPage(table, out.to_pylist(), total)


def export(ops: Ops, tables: list[str], out_dir: str) -> Export:
    """Write each of `tables`, de-identified, to `out_dir/<table>.parquet` (new files only,
    written whole or not at all) with a `manifest.json`; audited."""
    import json
    from pathlib import Path

    import pyarrow.parquet as pq

    from careops.errors import AlreadyExists, ConfigError
    from careops.privacy.deidentify import Deidentifier, check_table
    from careops.schema import TABLES

    ops.require("data.deidentified")
    if not tables:
        raise InvalidInput("tables: 至少一个表 / name at least one table")
    names = list(dict.fromkeys(check_table(t) for t in tables))
    d = Deidentifier.from_settings(ops.settings)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} 不是目录 / is not a folder")
    targets = {n: out / f"{n}.parquet" for n in names}
    taken = [str(p) for p in [*targets.values(), out / "manifest.json"] if p.exists()]
    if taken:
        raise AlreadyExists(f"out: 文件已存在 / would overwrite {', '.join(taken)}")
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with ops.warehouse(read_only=True) as con:
        for name in names:
            expr = con.table(name).order_by(list(TABLES[name].key))
            tmp = targets[name].with_suffix(".parquet.part")
            writer = None
            n = 0
            try:
                for part in d.batches(name, expr.to_pyarrow_batches(chunk_size=100_000)):
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, part.schema, compression="zstd")
                    writer.write_table(part)
                    n += part.num_rows
                if writer is None:  # an empty table still gets its (empty) file
                    empty = d.table(name, expr.limit(0).to_pyarrow())
                    writer = pq.ParquetWriter(tmp, empty.schema, compression="zstd")
                writer.close()
                writer = None
                tmp.replace(targets[name])
            finally:
                if writer is not None:
                    writer.close()
                tmp.unlink(missing_ok=True)
            counts[name] = n
    manifest = {
        "tables": counts,
        "date_mode": d.mode,
        "date_shift_days": d.shift_days if d.mode == "shift" else None,
        "age_bands": list(d.age_bands),
        "as_of": d.as_of.isoformat(),
        "pseudonyms": "HMAC-SHA256(privacy.pseudonym_key)",
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    ops.audit(
        "deidentified.export",
        target=str(out),
        detail={"tables": counts, "date_mode": d.mode},
    )
    return Export(str(out), counts, d.mode, d.as_of.isoformat())

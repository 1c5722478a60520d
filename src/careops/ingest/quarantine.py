"""The quarantine round trip: list bad records, export them with their own columns, take the
repaired file back in, and mark what a later load fixed.

A quarantined record is *resolved* once a later load of the same source file succeeded, or a
repaired export holding it was loaded (rows still bad there are quarantined again, under the new
load). Resolutions are appended to `quarantine_resolved`; nothing is updated in place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend

from careops.config import Lang
from careops.i18n import translate
from careops.ingest.base import RECORD

# quarantine column -> header of the export (zh, en); a repaired export is recognised by them
EXPORT_COLUMNS: dict[str, tuple[str, str]] = {
    "table_name": ("隔离_表", "quarantine_table"),
    "reason": ("隔离_原因", "quarantine_reason"),
    "field": ("隔离_字段", "quarantine_field"),
    "record": ("隔离_原记录", "quarantine_record"),
    "source": ("隔离_来源文件", "quarantine_source"),
    "load_id": ("隔离_批次", "quarantine_load"),
    "raw": ("隔离_原文", "quarantine_raw"),
}
_HEADERS = {h: key for key, pair in EXPORT_COLUMNS.items() for h in pair}


def read_quarantine(
    con: BaseBackend,
    load_id: str | None = None,
    table: str | None = None,
    limit: int | None = None,
    *,
    include_resolved: bool = False,
    sources: list[str] | None = None,
) -> pa.Table:
    """Quarantined records, newest first, with `status` (open | resolved) and `resolved_by`.

    Only open records unless `include_resolved`; only those of `sources` if given.
    """
    q = con.table("quarantine")
    if load_id:
        q = q.filter(q.load_id == load_id)
    if table:
        q = q.filter(q.table_name == table)
    if sources:
        q = q.filter(q.source.isin(sources))
    if "quarantine_resolved" in con.list_tables():
        r = con.table("quarantine_resolved")
        r = r.group_by(["load_id", "record"]).agg(resolved_by=r.resolved_by.max())
        q = q.left_join(r, [q.load_id == r.load_id, q.record == r.record]).select(
            *q.columns, "resolved_by"
        )
    else:
        q = q.mutate(resolved_by=ibis.null("string"))
    if not include_resolved:
        q = q.filter(q.resolved_by.isnull())
    q = q.mutate(status=ibis.ifelse(q.resolved_by.isnull(), "open", "resolved"))
    q = q.order_by([ibis.desc("quarantined_at"), "source", "record"])
    if limit:
        q = q.limit(limit)
    return q.to_pyarrow()


def export_rows(rows: pa.Table, lang: Lang = "zh") -> pa.Table:
    """Quarantined records as a file to repair: the record's own columns, then why and whence.

    A record that is not a flat row (a malformed line, a FHIR resource) keeps its text in the
    raw column for reference; its own columns stay empty.
    """
    records, flat = [], True
    for row in rows.to_pylist():
        data = _columns(row["raw"])
        flat = flat and data is not None
        records.append(data or {})
    names = list(dict.fromkeys(k for r in records for k in r))
    out = {n: pa.array([r.get(n) for r in records], pa.string()) for n in names}
    i = 0 if lang == "zh" else 1
    for key, pair in EXPORT_COLUMNS.items():
        if key == "raw" and flat:
            continue
        values = rows[key].to_pylist()
        if key == "reason":
            values = [translate(v, lang) for v in values]
        out[pair[i]] = pa.array(values, pa.string())
    return pa.table(out)


def _columns(raw: str | None) -> dict[str, str | None] | None:
    try:
        data = json.loads(raw or "")
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or "resourceType" in data:
        return None
    return {
        k: None if v is None else (v if isinstance(v, str) else json.dumps(v))
        for k, v in data.items()
    }


def split_repair(
    table: pa.Table, first_row: int = 1
) -> tuple[dict[str | None, pa.Table], list[tuple[str, str]]]:
    """A repaired export: its rows by the table they are for (None if not said), and the
    (load, record) pairs they came from. Any other table comes back as {None: table}, []."""
    meta = {_HEADERS[c]: c for c in table.column_names if c in _HEADERS}
    if "load_id" not in meta or "record" not in meta:
        return {None: table}, []
    origins = [
        (load, record)
        for load, record in zip(
            table[meta["load_id"]].to_pylist(), table[meta["record"]].to_pylist(), strict=True
        )
        if load and record
    ]
    data = table.drop_columns(list(meta.values()))
    if "table_name" not in meta:
        return {None: data}, origins
    if RECORD not in data.column_names:  # keep each row's line number across the split
        data = data.append_column(
            RECORD, pa.array([f"row {i + first_row}" for i in range(len(data))], pa.string())
        )
    names = pc.fill_null(table[meta["table_name"]].cast(pa.string()), "")
    parts: dict[str | None, pa.Table] = {}
    for name in pc.unique(names).to_pylist():
        part = data.filter(pc.equal(names, name))
        keep = [
            c
            for c in part.column_names
            if c == RECORD
            or pc.any(pc.not_equal(pc.fill_null(part[c].cast(pa.string()), ""), "")).as_py()
        ]
        parts[name or None] = part.select(keep)
    return parts, origins


def resolve(con: BaseBackend, load_id: str, source: str, origins: list[tuple[str, str]]) -> int:
    """Mark as resolved by `load_id` the open records of earlier loads of `source` and the
    records a repaired export carried (`origins`); return how many."""
    open_rows = read_quarantine(con, sources=same_file(source))
    earlier = open_rows.filter(pc.not_equal(open_rows["load_id"], load_id))
    pairs = dict.fromkeys(
        [*zip(earlier["load_id"].to_pylist(), earlier["record"].to_pylist(), strict=True), *origins]
    )
    if not pairs:
        return 0
    now = dt.datetime.now(dt.UTC)
    con.insert(
        "quarantine_resolved",
        pa.table(
            {
                "load_id": pa.array([p[0] for p in pairs], pa.string()),
                "record": pa.array([p[1] for p in pairs], pa.string()),
                "resolved_by": pa.array([load_id] * len(pairs), pa.string()),
                "resolved_at": pa.array([now] * len(pairs), pa.timestamp("us", tz="UTC")),
            }
        ),
    )
    return len(pairs)


def same_file(source: str) -> list[str]:
    """The ways a source path may have been recorded (as given, absolute)."""
    path = Path(source).resolve()
    return list(dict.fromkeys([source, str(path), os.path.relpath(path)]))

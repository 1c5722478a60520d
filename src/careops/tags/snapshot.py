"""Tag snapshots: the tags of one as-of date stored in the warehouse, readable back later.

Each date is its own table `tag_snapshot_YYYYMMDD` (one row per patient, one column per tag,
plus `as_of` and `settings_hash`), written with Ibis `create_table(..., overwrite=True)`, so
recomputing a day replaces it on every backend and past days can be compared.

`settings_hash` fingerprints the settings the tags were computed with (timezone, lifecycle,
value, health and tag thresholds), and `loads_mark` the data loads the computation saw (how many
loads with rows the `_loads` ledger held, and when the latest finished). A snapshot made with other
settings, or before data that arrived later (a late file can hold facts from before its as-of),
is never served as if it were current — `tags_at` computes live instead, `read_snapshot` refuses,
and both say how to recompute (`staleness`, `stale_message`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.tags.compute import require_patients, tag_frame
from careops.tags.errors import TagError
from careops.warehouse.store import replace_table

PREFIX = "tag_snapshot_"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}})$")
#: the settings sections tags read; a change to any of them makes stored snapshots stale
TAG_SETTINGS = ("lifecycle", "value", "health", "tags")
#: the columns that are not tags
SNAPSHOT_COLUMNS = ("user_id", "as_of", "settings_hash", "loads_mark")
Staleness = Literal["settings", "loads"]


def snapshot_name(as_of: date) -> str:
    return f"{PREFIX}{as_of:%Y%m%d}"


def settings_hash(settings: Settings | None = None) -> str:
    """A short fingerprint of the settings tags depend on (12 hex digits)."""
    s = settings or get_settings()
    data = {"timezone": s.timezone} | {
        k: getattr(s, k).model_dump(mode="json") for k in TAG_SETTINGS
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _stored(con: BaseBackend, as_of: date, column: str) -> str | None:
    """A bookkeeping column of a stored snapshot (None: no such column, or no snapshot)."""
    name = snapshot_name(as_of)
    if name not in con.list_tables():
        return None
    t = con.table(name)
    if column not in t.columns:
        return None
    rows = t.select(column).limit(1).to_pyarrow().column(0).to_pylist()
    return rows[0] if rows else None


def stored_hash(con: BaseBackend, as_of: date) -> str | None:
    """The settings fingerprint of a stored snapshot (None: none recorded, or no snapshot)."""
    return _stored(con, as_of, "settings_hash")


def loads_mark(con: BaseBackend) -> str:
    """What the warehouse holds now, as the `_loads` ledger tells it: `count@latest finish` of
    the loads that stored rows ("0@" before any load)."""
    if "_loads" not in con.list_tables():
        return "0@"
    t = con.table("_loads")
    t = t.filter(t.loaded > 0)
    row = t.aggregate(n=t.count(), last=t.finished_at.max()).to_pyarrow().to_pylist()[0]
    last = row["last"]
    return f"{row['n']}@{last.isoformat() if last is not None else ''}"


def staleness(con: BaseBackend, as_of: date, settings: Settings | None = None) -> Staleness | None:
    """Why a stored snapshot of the date may not be served (None: it may; also when there is
    none): made with other settings, or before loads that came later."""
    if snapshot_name(as_of) not in con.list_tables():
        return None
    if stored_hash(con, as_of) != settings_hash(settings):
        return "settings"
    if _stored(con, as_of, "loads_mark") != loads_mark(con):
        return "loads"
    return None


def is_current(con: BaseBackend, as_of: date, settings: Settings | None = None) -> bool:
    """True when a snapshot of the date exists, was made with the settings in force and has
    seen every load."""
    return snapshot_name(as_of) in con.list_tables() and staleness(con, as_of, settings) is None


def stale_message(as_of: date, why: Staleness = "settings") -> str:
    """Why the snapshot of `as_of` is out of date and the command that recomputes it (Chinese,
    then English)."""
    day = as_of.isoformat()
    if why == "loads":
        return (
            f"{day} 的标签快照计算之后又载入了新数据, 快照已过时; 请重新计算 {day} 的标签 "
            f"(careops tags compute) / the tag snapshot of {day} was computed before data "
            f"loaded since; recompute the tags of {day} (careops tags compute)"
        )
    return (
        f"{day} 的标签快照是用旧设置计算的; 请重新计算 {day} 的标签 (careops tags compute) / "
        f"the tag snapshot of {day} was computed with other settings (lifecycle, value, "
        f"health or tag thresholds, or the timezone, have changed since); recompute the tags "
        f"of {day} (careops tags compute)"
    )


def store_snapshot(
    con: BaseBackend,
    as_of: date,
    names: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
) -> int:
    """Compute the tags as of a date, store them as that date's snapshot; return the row count."""
    require_patients(con, as_of, settings)
    frame = tag_frame(con, as_of, names, settings=settings)
    frame = frame.mutate(
        as_of=ibis.literal(as_of, type="date"),
        settings_hash=ibis.literal(settings_hash(settings), type="string"),
        loads_mark=ibis.literal(loads_mark(con), type="string"),
    )
    stored = replace_table(con, snapshot_name(as_of), frame)
    return int(stored.count().execute())


def snapshot_dates(con: BaseBackend) -> list[date]:
    """The as-of dates with a stored snapshot, oldest first."""
    out = []
    for name in con.list_tables():
        m = _NAME.match(name)
        if m:
            out.append(datetime.strptime(m.group(1), "%Y%m%d").date())
    return sorted(out)


def read_snapshot(con: BaseBackend, as_of: date, *, settings: Settings | None = None) -> ir.Table:
    """The stored snapshot of a date; an error listing the stored dates when there is none, or
    saying how to recompute it when it was made with other settings."""
    name = snapshot_name(as_of)
    if name not in con.list_tables():
        have = ", ".join(d.isoformat() for d in snapshot_dates(con)) or "none"
        raise TagError(
            f"没有 {as_of.isoformat()} 的标签快照 (已有: {have}); 请先计算该日的标签 "
            f"(careops tags compute) / no tag snapshot for {as_of.isoformat()} (stored: "
            f"{have}); compute the tags of {as_of.isoformat()} first (careops tags compute)",
            field="as_of",
        )
    why = staleness(con, as_of, settings)
    if why is not None:
        raise TagError(stale_message(as_of, why), field="as_of")
    return con.table(name)


def tags_at(
    con: BaseBackend,
    as_of: date,
    names: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
) -> ir.Table:
    """The stored snapshot of a date when it has the tags asked for and was made with the
    settings in force, else a live computation."""
    names = list(names) if names is not None else None
    if snapshot_name(as_of) in con.list_tables():
        snap = con.table(snapshot_name(as_of))
        if (names is None or set(names) <= set(snap.columns)) and is_current(con, as_of, settings):
            return snap.select(
                "user_id", *(names or [c for c in snap.columns if c not in SNAPSHOT_COLUMNS])
            )
    require_patients(con, as_of, settings)
    return tag_frame(con, as_of, names, settings=settings)

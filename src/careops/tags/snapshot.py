"""Tag snapshots: the tags of one as-of date stored in the warehouse, readable back later.

Each date is its own table `tag_snapshot_YYYYMMDD` (one row per patient, one column per tag,
plus `as_of`), written with Ibis `create_table(..., overwrite=True)`, so recomputing a day
replaces it on every backend and past days can be compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.config import Settings
from careops.tags.compute import require_patients, tag_frame
from careops.tags.errors import TagError

PREFIX = "tag_snapshot_"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}})$")


def snapshot_name(as_of: date) -> str:
    return f"{PREFIX}{as_of:%Y%m%d}"


def store_snapshot(con: BaseBackend, as_of: date, names: Iterable[str] | None = None, *,
                   settings: Settings | None = None) -> int:
    """Compute the tags as of a date, store them as that date's snapshot; return the row count."""
    require_patients(con, as_of, settings)
    frame = tag_frame(con, as_of, names, settings=settings)
    frame = frame.mutate(as_of=ibis.literal(as_of, type="date"))
    stored = con.create_table(snapshot_name(as_of), obj=frame, overwrite=True)
    return int(stored.count().execute())


def snapshot_dates(con: BaseBackend) -> list[date]:
    """The as-of dates with a stored snapshot, oldest first."""
    out = []
    for name in con.list_tables():
        m = _NAME.match(name)
        if m:
            out.append(datetime.strptime(m.group(1), "%Y%m%d").date())
    return sorted(out)


def read_snapshot(con: BaseBackend, as_of: date) -> ir.Table:
    """The stored snapshot of a date, or an error listing the dates that exist."""
    name = snapshot_name(as_of)
    if name not in con.list_tables():
        have = ", ".join(d.isoformat() for d in snapshot_dates(con)) or "none"
        raise TagError(f"no tag snapshot for {as_of.isoformat()} (stored: {have}); "
                       f"run `careops tags compute --as-of {as_of.isoformat()}`")
    return con.table(name)


def tags_at(con: BaseBackend, as_of: date, names: Iterable[str] | None = None, *,
            settings: Settings | None = None) -> ir.Table:
    """The stored snapshot of a date when it has the tags asked for, else a live computation."""
    names = list(names) if names is not None else None
    if snapshot_name(as_of) in con.list_tables():
        snap = con.table(snapshot_name(as_of))
        if names is None or set(names) <= set(snap.columns):
            return snap.select("user_id", *(names or [c for c in snap.columns
                                                      if c not in ("user_id", "as_of")]))
    require_patients(con, as_of, settings)
    return tag_frame(con, as_of, names, settings=settings)

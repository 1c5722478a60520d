"""Tag snapshots: the tags of one as-of date stored in the warehouse, readable back later.

Each date is its own table `tag_snapshot_YYYYMMDD` (one row per patient, one column per tag,
plus `as_of` and `settings_hash`), written with Ibis `create_table(..., overwrite=True)`, so
recomputing a day replaces it on every backend and past days can be compared.

`settings_hash` fingerprints the settings the tags were computed with (timezone, lifecycle,
value, health and tag thresholds): a snapshot made with other settings is never served as if it
were current — `tags_at` computes live instead, `read_snapshot` refuses and says how to recompute.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date, datetime

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.tags.compute import require_patients, tag_frame
from careops.tags.errors import TagError

PREFIX = "tag_snapshot_"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}})$")
#: the settings sections tags read; a change to any of them makes stored snapshots stale
TAG_SETTINGS = ("lifecycle", "value", "health", "tags")
SNAPSHOT_COLUMNS = ("user_id", "as_of", "settings_hash")  # the columns that are not tags


def snapshot_name(as_of: date) -> str:
    return f"{PREFIX}{as_of:%Y%m%d}"


def settings_hash(settings: Settings | None = None) -> str:
    """A short fingerprint of the settings tags depend on (12 hex digits)."""
    s = settings or get_settings()
    data = {"timezone": s.timezone} | {k: getattr(s, k).model_dump(mode="json")
                                        for k in TAG_SETTINGS}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def stored_hash(con: BaseBackend, as_of: date) -> str | None:
    """The settings fingerprint of a stored snapshot (None: none recorded, or no snapshot)."""
    name = snapshot_name(as_of)
    if name not in con.list_tables():
        return None
    t = con.table(name)
    if "settings_hash" not in t.columns:
        return None
    rows = t.select("settings_hash").limit(1).to_pyarrow().column(0).to_pylist()
    return rows[0] if rows else None


def is_current(con: BaseBackend, as_of: date, settings: Settings | None = None) -> bool:
    """True when a snapshot of the date exists and was made with the settings in force."""
    return stored_hash(con, as_of) == settings_hash(settings)


def stale_message(as_of: date) -> str:
    day = as_of.isoformat()
    return (f"the tag snapshot of {day} was computed with other settings (lifecycle, value, "
            f"health or tag thresholds, or the timezone, have changed since); recompute it: "
            f"careops tags compute --as-of {day}")


def store_snapshot(con: BaseBackend, as_of: date, names: Iterable[str] | None = None, *,
                   settings: Settings | None = None) -> int:
    """Compute the tags as of a date, store them as that date's snapshot; return the row count."""
    require_patients(con, as_of, settings)
    frame = tag_frame(con, as_of, names, settings=settings)
    frame = frame.mutate(as_of=ibis.literal(as_of, type="date"),
                         settings_hash=ibis.literal(settings_hash(settings), type="string"))
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


def read_snapshot(con: BaseBackend, as_of: date, *,
                  settings: Settings | None = None) -> ir.Table:
    """The stored snapshot of a date; an error listing the stored dates when there is none, or
    saying how to recompute it when it was made with other settings."""
    name = snapshot_name(as_of)
    if name not in con.list_tables():
        have = ", ".join(d.isoformat() for d in snapshot_dates(con)) or "none"
        raise TagError(f"no tag snapshot for {as_of.isoformat()} (stored: {have}); "
                       f"run `careops tags compute --as-of {as_of.isoformat()}`")
    if not is_current(con, as_of, settings):
        raise TagError(stale_message(as_of))
    return con.table(name)


def tags_at(con: BaseBackend, as_of: date, names: Iterable[str] | None = None, *,
            settings: Settings | None = None) -> ir.Table:
    """The stored snapshot of a date when it has the tags asked for and was made with the
    settings in force, else a live computation."""
    names = list(names) if names is not None else None
    if snapshot_name(as_of) in con.list_tables():
        snap = con.table(snapshot_name(as_of))
        if ((names is None or set(names) <= set(snap.columns))
                and is_current(con, as_of, settings)):
            return snap.select("user_id", *(names or [c for c in snap.columns
                                                      if c not in SNAPSHOT_COLUMNS]))
    require_patients(con, as_of, settings)
    return tag_frame(con, as_of, names, settings=settings)

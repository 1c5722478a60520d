"""Tag and layer capabilities as services: `f(ops, typed args) -> typed result`.

Each opens the warehouse itself (read-only unless it stores a snapshot), writes the audit trail
where personal data is computed or shown, and returns codes, never labels: the CLI, the API and
the cockpit apply labels in their own language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from careops.service import Ops
from careops.tags.layers_report import LayerCount, LayerHistory
from careops.tags.snapshot import Staleness


@dataclass(frozen=True)
class Computed:
    """A stored snapshot: its date, its table and how many patients it holds."""

    as_of: date
    table: str
    patients: int


@dataclass(frozen=True)
class Portrait:
    """One patient's tags as of a date (tag name → code or value)."""

    user_id: str
    as_of: date
    tags: dict


@dataclass(frozen=True)
class Layers:
    """Users per layer as of a date; `stale` says why a stored snapshot was bypassed."""

    as_of: date
    counts: list[LayerCount]
    stale: Staleness | None = None


@dataclass(frozen=True)
class Migration:
    """Users moving between the layers of `dimension` from `start` to `end`."""

    start: date
    end: date
    dimension: str
    rows: list[dict]
    stale: dict[date, Staleness] = field(default_factory=dict)


def compute(ops: Ops, as_of: date) -> Computed:
    """Compute every tag as of a date and store it as that day's snapshot."""
    from careops.tags.snapshot import snapshot_name, store_snapshot

    with ops.warehouse() as con:
        n = store_snapshot(con, as_of, settings=ops.settings)
    table = snapshot_name(as_of)
    ops.audit("tags.compute", table, {"as_of": as_of.isoformat(), "patients": n})
    return Computed(as_of, table, n)


def portrait(ops: Ops, user_id: str, as_of: date) -> Portrait:
    """A patient's tags as of a date (the snapshot when current, else computed live)."""
    from careops.tags.portrait import user_tags

    with ops.warehouse(read_only=True) as con:
        tags = user_tags(con, user_id, as_of, settings=ops.settings)
    ops.audit("tags.show", user_id, {"as_of": as_of.isoformat()})
    return Portrait(user_id, as_of, tags)


def layers(ops: Ops, as_of: date) -> Layers:
    """Users per layer of each dimension as of a date."""
    from careops.tags.layers_report import layer_counts
    from careops.tags.snapshot import staleness

    with ops.warehouse(read_only=True) as con:
        counts = layer_counts(con, as_of, settings=ops.settings)
        stale = staleness(con, as_of, ops.settings)
    return Layers(as_of, counts, stale)


def migration(ops: Ops, start: date, end: date, dimension: str = "lifecycle") -> Migration:
    """The migration matrix of a layer dimension between two dates."""
    from careops.tags.layers_report import migration_matrix
    from careops.tags.snapshot import staleness

    with ops.warehouse(read_only=True) as con:
        rows = migration_matrix(con, start, end, dimension, settings=ops.settings)
        stale = {
            d: why for d in (start, end) if (why := staleness(con, d, ops.settings)) is not None
        }
    return Migration(start, end, dimension, rows, stale)


def history(
    ops: Ops, user_id: str | None = None, dimension: str = "lifecycle", limit: int | None = 50
) -> LayerHistory:
    """Layer changes per user across the stored daily snapshots."""
    from careops.tags.layers_report import layer_history

    with ops.warehouse(read_only=True) as con:
        return layer_history(con, user_id, dimension, limit=limit, settings=ops.settings)

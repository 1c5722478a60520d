"""Abnormal-reading alerts as a service: what the doors call as readings arrive.

`on_events` is called by the event intake for every group of events it stored (before it
answers the requests), `on_loads` by the file door for every load it committed; both read the
readings out of what arrived and call `on_readings`, which evaluates the rules and raises the
tasks in one state-store transaction with one audit entry (how many readings, how many
firings; never the values).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from careops.care.alerts import (
    Firing,
    Reading,
    RuleSet,
    evaluate,
    readings_from_events,
    readings_from_observations,
    rules_for,
)

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.service import Ops


def on_readings(
    ops: Ops, readings: Sequence[Reading], source: str, rules: RuleSet | None = None
) -> list[Firing]:
    """Evaluate `rules` (default: those in force, `alerts.rules_for`) on `readings`; raise
    the tasks."""
    from careops.service import now

    if not readings:
        return []
    rules = rules or rules_for(ops.settings)
    with ops.state.begin() as conn:
        firings = evaluate(conn, readings, rules, now=now(), tz=ops.settings.tz, source=source)
        if firings:
            ops.audit(
                "care.alerts",
                "tasks",
                {"readings": len(readings), "firings": len(firings), "source": source[:128]},
                conn=conn,
            )
    return firings


def on_events(ops: Ops, rows: pa.Table, rules: RuleSet | None = None) -> list[Firing]:
    """The alerts of the `device_reading` events among canonical `events` rows just stored."""
    rules = rules or rules_for(ops.settings)
    if not len(rows) or "name" not in rows.column_names:
        return []
    return on_readings(ops, readings_from_events(rows, rules.codes), "intake:events", rules)


def on_loads(
    ops: Ops, con: BaseBackend, load_ids: Iterable[str], rules: RuleSet | None = None
) -> list[Firing]:
    """The alerts of the observations the loads `load_ids` inserted (read back by `_load_id`)."""
    from careops.warehouse.tables import LOAD_ID

    ids = sorted({i for i in load_ids if i})
    if not ids or "observations" not in con.list_tables():
        return []
    rules = rules or rules_for(ops.settings)
    o = con.table("observations")
    if LOAD_ID not in o.columns:  # an engine whose rows carry no load id (Spark)
        return []
    o = o.filter(o[LOAD_ID].isin(ids) & o.code.isin(sorted(rules.codes)))
    readings = readings_from_observations(o.to_pyarrow(), rules.codes)
    return on_readings(ops, readings, f"ingest:{','.join(ids)}"[:128], rules)


def alert_tasks(
    ops: Ops,
    *,
    status: str | None = "open",
    user_id: str | None = None,
    overdue: bool = False,
    limit: int = 50,
    offset: int = 0,
):
    """The alert tasks (`kind` alert) the caller's role and scope let them see, most urgent
    first, and how many there are (`careops.tasks.service.my_tasks`)."""
    from careops.service import now
    from careops.tasks.service import my_tasks
    from careops.tasks.store import TaskFilter

    f = TaskFilter(
        status=status,
        kind="alert",
        user_ids=(user_id,) if user_id else None,
        due_before=now() if overdue else None,
    )
    return my_tasks(ops, f, limit=limit, offset=offset)

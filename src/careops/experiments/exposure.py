"""Exposure records: who saw which variant of which experiment, and when.

An exposure is logged when a user actually meets the experiment (a message is sent, a page
shows the offer), not when they are assigned; analyses read exposures, so users who never met
the experiment do not dilute the effect. `exposure_table` builds the rows;
`store.log_exposures` persists them (first exposure per user and experiment wins).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from careops.errors import ConfigError
from careops.experiments.assign import GLOBAL_CONTROL, assign
from careops.experiments.definition import ExperimentDefinition

EXPOSURE_SCHEMA = pa.schema(
    [
        pa.field("experiment_key", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("variant", pa.string(), nullable=False),
        pa.field("exposed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def exposure_table(
    experiment: ExperimentDefinition,
    user_ids: Iterable[object] | pa.Array | pa.ChunkedArray,
    exposed_at: datetime,
    global_control_pct: float | None = None,
) -> pa.Table:
    """Exposure rows for users meeting `experiment` at the UTC instant `exposed_at`.

    Users in the global control group are never exposed to marketing, so they get no row.
    Repeated ids are logged once. Refuses an instant outside the experiment's window.
    """
    if exposed_at.tzinfo is None:
        raise ConfigError(
            "exposed_at 没有时区, 请用 UTC 时间 / exposed_at has no timezone; give it in UTC"
        )
    if not experiment.is_running(exposed_at):
        msg = (
            f"experiment {experiment.key!r} is not running at {exposed_at.isoformat()}"
            f" (window {experiment.start} – {experiment.end})"
        )
        raise ConfigError(msg)
    unique = dict.fromkeys(None if u is None else str(u) for u in _as_list(user_ids))
    ids = pa.array(list(unique), type=pa.string())
    variants = assign(ids, experiment, global_control_pct=global_control_pct)
    keep = pc.not_equal(variants, GLOBAL_CONTROL)
    n = int(pc.sum(keep).as_py() or 0)
    return pa.table(
        {
            "experiment_key": pa.array([experiment.key] * n, pa.string()),
            "user_id": ids.filter(keep),
            "variant": variants.filter(keep),
            "exposed_at": pa.array([exposed_at] * n, pa.timestamp("us", tz="UTC")),
        },
        schema=EXPOSURE_SCHEMA,
    )


def _as_list(user_ids: Iterable[object] | pa.Array | pa.ChunkedArray) -> list[object]:
    if isinstance(user_ids, pa.Array | pa.ChunkedArray):
        return user_ids.to_pylist()
    return list(user_ids)

"""`summary(out)`: the short account of a simulation the demo prints."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from careops.sim.writer import GROUND_TRUTH


def summary(out: Path | str) -> dict:
    """Patients by persona, event and order counts, paid revenue and the calibration table.

    Returns {"personas": [{"persona", "label_zh", "patients"}], "events": int, "orders": int,
    "revenue_cny": float, "calibration": [rows of calibration.json]}.
    """
    out = Path(out)
    truth = pq.read_table(out / GROUND_TRUTH / "users.parquet", columns=["persona", "persona_zh"])
    counts = truth.group_by(["persona", "persona_zh"]).aggregate([("persona", "count")])
    personas = sorted(
        (
            {"persona": r["persona"], "label_zh": r["persona_zh"], "patients": r["persona_count"]}
            for r in counts.to_pylist()
        ),
        key=lambda r: -r["patients"],
    )
    orders = pq.read_table(out / "orders.parquet", columns=["amount_cny", "status"])
    paid = pc.equal(orders.column("status"), "paid")
    revenue = pc.sum(pc.filter(orders.column("amount_cny"), paid)).as_py() or 0.0
    calibration = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    return {
        "personas": personas,
        "events": pq.ParquetFile(out / "events.parquet").metadata.num_rows,
        "orders": orders.num_rows,
        "revenue_cny": round(revenue, 2),
        "calibration": calibration["metrics"],
    }

"""A hand-built experiment whose per-user values are worked out below (hospital time, UTC+8).

Experiment `exp-hand`: control / treat 50 / 50, from 2025-06-01 00:00 to 2025-06-15 00:00
local; analysed as of 2025-07-01, so the cut-off is the end. CUPED pre-period: the 14 days
[2025-05-18, 2025-06-01). Every exposed user registered on 2025-01-01.

user  exposed       paid orders (local)                      post arpu  pre arpu
c1    06-02 10:00   40 on 05-20 (pre), 50 on 06-01 09:00     100        40
                    (after start, before exposure: neither),
                    100 on 06-03
c2    06-02 10:00   —                                         0          0
c3    06-02 10:00   500 on 05-10 (before the pre-period),     30         0
                    30 on 06-10
c4    06-02 10:00   20 on 06-20 (after the end)               0          0
t1    06-04 12:00   70 on 05-25, 80 on 06-05, 40 on 06-06      120        70
t2    06-08 12:00   10 on 05-30, 60 on 06-07 (before exposure) 0          10
t3    06-02 10:00   100 refunded on 06-05                      0          0
t4    06-02 10:00   never active                               0          0
n1    not exposed   999 on 06-05                               —          —

consult_rate (ITT, 0/1): c2 06-04, t1 06-05, t2 06-08 15:00, t3 06-03 → control (0,1,0,0),
treat (1,1,1,0); c3's consultation on 05-25 is in the pre-period only.

nps (ratio per answer, × 100): promoter (≥ 9) +1, detractor (≤ 6) −1.
c1 10, 3 → (0, 2); c2 9 → (1, 1); c4 7 → (0, 1); t1 10, 10, 9 → (3, 3); t2 2 → (−1, 1);
t3 8 → (0, 1); t2's 0 on 05-20 is before exposure. Control 100 × 1/4 = 25, treat 100 × 2/5 = 40.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from careops.experiments.definition import ExperimentDefinition
from careops.experiments.exposure import EXPOSURE_SCHEMA
from tests.metrics.hospital import L

KEY = "exp-hand"
AS_OF = dt.date(2025, 7, 1)
DEFINITION = ExperimentDefinition.from_dict(
    {
        "key": KEY,
        "variants": {"control": 0.5, "treat": 0.5},
        "start": L(2025, 6, 1, 0).isoformat(),
        "end": L(2025, 6, 15, 0).isoformat(),
        "primary_metrics": ["arpu", "consult_rate"],
        "guardrail_metrics": ["nps"],
    }
)
CONTROL, TREAT = ["c1", "c2", "c3", "c4"], ["t1", "t2", "t3", "t4"]
EXPOSED = {"t1": L(2025, 6, 4, 12), "t2": L(2025, 6, 8, 12)}

#: expected per-user values, in CONTROL then TREAT order
ARPU = {"control": [100, 0, 30, 0], "treat": [120, 0, 0, 0]}
ARPU_PRE = {"control": [40, 0, 0, 0], "treat": [70, 10, 0, 0]}
CONSULT = {"control": [0, 1, 0, 0], "treat": [1, 1, 1, 0]}
NPS_NUM = {"control": [0, 1, 0, 0], "treat": [3, -1, 0, 0]}
NPS_DEN = {"control": [2, 1, 0, 1], "treat": [3, 1, 1, 0]}


def exposures() -> pa.Table:
    rows = [
        {
            "experiment_key": KEY,
            "user_id": u,
            "variant": v,
            "exposed_at": EXPOSED.get(u, L(2025, 6, 2, 10)),
        }
        for v, users in (("control", CONTROL), ("treat", TREAT))
        for u in users
    ]
    return pa.Table.from_pylist(rows, schema=EXPOSURE_SCHEMA)


def tables() -> dict[str, pa.Table]:
    reg = L(2025, 1, 1)
    patients = [
        {"user_id": u, "registered_at": reg, "source_channel": "organic"}
        for u in CONTROL + TREAT + ["n1"]
    ]
    orders = [
        ("c1", L(2025, 5, 20), 40),
        ("c1", L(2025, 6, 1, 9), 50),
        ("c1", L(2025, 6, 3), 100),
        ("c3", L(2025, 5, 10), 500),
        ("c3", L(2025, 6, 10), 30),
        ("c4", L(2025, 6, 20), 20),
        ("t1", L(2025, 5, 25), 70),
        ("t1", L(2025, 6, 5), 80),
        ("t1", L(2025, 6, 6), 40),
        ("t2", L(2025, 5, 30), 10),
        ("t2", L(2025, 6, 7), 60),
        ("n1", L(2025, 6, 5), 999),
    ]
    order_rows = [
        {
            "order_id": f"o{i}",
            "user_id": u,
            "ts": ts,
            "amount_cny": float(a),
            "status": "paid",
            "category": "consultation",
        }
        for i, (u, ts, a) in enumerate(orders)
    ]
    order_rows.append(
        {
            "order_id": "o-refund",
            "user_id": "t3",
            "ts": L(2025, 6, 5),
            "amount_cny": 100.0,
            "status": "refunded",
            "category": "consultation",
        }
    )
    consults = [
        ("c2", L(2025, 6, 4)),
        ("t1", L(2025, 6, 5)),
        ("t2", L(2025, 6, 8, 15)),
        ("t3", L(2025, 6, 3)),
        ("c3", L(2025, 5, 25)),
    ]
    surveys = [
        ("c1", L(2025, 6, 5), 10),
        ("c1", L(2025, 6, 9), 3),
        ("c2", L(2025, 6, 5), 9),
        ("c4", L(2025, 6, 5), 7),
        ("t1", L(2025, 6, 5), 10),
        ("t1", L(2025, 6, 6), 10),
        ("t1", L(2025, 6, 7), 9),
        ("t2", L(2025, 6, 9), 2),
        ("t3", L(2025, 6, 5), 8),
        ("t2", L(2025, 5, 20), 0),
    ]
    return {
        "patients": pa.Table.from_pylist(patients),
        "orders": pa.Table.from_pylist(order_rows),
        "consultations": pa.Table.from_pylist(
            [
                {"consultation_id": f"k{i}", "user_id": u, "started_at": ts, "mode": "text"}
                for i, (u, ts) in enumerate(consults)
            ]
        ),
        "surveys": pa.Table.from_pylist(
            [
                {"response_id": f"s{i}", "user_id": u, "ts": ts, "kind": "nps", "score": s}
                for i, (u, ts, s) in enumerate(surveys)
            ]
        ),
    }


def ratio_se(num: list[float], den: list[float]) -> tuple[float, float]:
    """Ratio and its delta-method standard error, written out independently of the library."""
    y, d = np.asarray(num, float), np.asarray(den, float)
    r = y.sum() / d.sum()
    lin = (y - r * d) / d.mean()
    return r, float(np.sqrt(lin.var(ddof=1) / len(y)))

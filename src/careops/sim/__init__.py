"""The internet-hospital simulator: canonical tables plus the hidden truth behind them.

`simulate(cfg, out)` writes every canonical table, `ground_truth/` and `calibration.json`;
`respond(sends, out)` says what messages sent to simulated users cause; `summary(out)` gives the
figures the demo prints.
"""

from careops.sim.config import SimConfig
from careops.sim.generate import SimResult, simulate
from careops.sim.respond import respond
from careops.sim.summary import summary
from careops.sim.truth import churn_labels
from careops.sim.writer import table_paths

__all__ = [
    "SimConfig",
    "SimResult",
    "churn_labels",
    "respond",
    "simulate",
    "summary",
    "table_paths",
]

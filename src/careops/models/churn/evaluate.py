"""`careops churn evaluate`: a registered model against what happened after the as-of date.

- **observed** — when the warehouse holds the facts the label needs (`label_end`), the model's
  calibrated probability and the recency-only baseline against the observable label, on the
  population the model is trained on (patients active in the last `churn_alive_days` days).
- **truth** (on the simulator, `sim_dir`) — against `careops.sim.churn_labels(dir, as_of,
  horizon)`: who truly stops within the horizon among those truly still users (scored patients
  only); beside the oracle, the hidden `churn_hazard` turned into the horizon's probability
  `1 − (1 − h)^horizon`. The simulator keeps each user's hazard at the end of its window only,
  so the oracle exists for as-of = the day after the window.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.config import Settings
from careops.errors import InvalidInput
from careops.models.churn.features import FeatureFrame, load_features
from careops.models.churn.metrics import Scorecard, scorecard
from careops.models.churn.model import (
    ChurnModel,
    known_alive,
    label_end,
    observed_labels,
    recency,
    still_users,
)


@dataclass
class Evaluation:
    as_of: dt.date
    model_id: str
    horizon_days: int
    patients: int
    observed: dict[str, Scorecard] = field(default_factory=dict)
    truth: dict[str, Scorecard] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model_id": self.model_id,
            "horizon_days": self.horizon_days,
            "patients": self.patients,
            "observed": {k: v.to_dict() for k, v in self.observed.items()},
            "truth": {k: v.to_dict() for k, v in self.truth.items()},
            "notes": self.notes,
        }


def data_end(con: BaseBackend, settings: Settings) -> dt.date | None:
    """The as-of date that sees every activity fact: the day after the latest."""
    latest = None
    for name, ts in (("events", "ts"), ("consultations", "started_at"), ("orders", "ts")):
        v = con.table(name)[ts].max().to_pyarrow().as_py()
        if v is not None:
            v = v if v.tzinfo else v.replace(tzinfo=dt.UTC)
            day = v.astimezone(settings.tz).date() + dt.timedelta(days=1)
            latest = day if latest is None or day > latest else latest
    return latest


def population(con: BaseBackend, as_of: dt.date, settings: Settings) -> FeatureFrame:
    f = load_features(con, as_of, settings)
    keep = still_users(f, settings)
    return FeatureFrame(as_of, f.user_id[keep], {k: v[keep] for k, v in f.raw.items()})


def evaluate(
    con: BaseBackend,
    model: ChurnModel,
    model_id: str,
    as_of: dt.date,
    settings: Settings,
    sim_dir: Path | None = None,
) -> Evaluation:
    AsOf(con, as_of, settings).validate()
    horizon = settings.models.churn_horizon_days
    f = population(con, as_of, settings)
    ev = Evaluation(as_of, model_id, horizon, len(f))
    p = model.probability(f)
    base = model.baseline_probability(f)
    end = data_end(con, settings)
    need = label_end(as_of, settings)
    if end is not None and need <= end:
        alive = known_alive(f, settings)
        y = observed_labels(con, as_of, settings, f.user_id[alive])
        ev.observed = {
            "model": scorecard("model", y, p[alive], probability=True),
            "baseline_recency": scorecard("baseline_recency", y, base[alive], probability=True),
        }
    else:
        ev.notes.append(
            f"观察标签需要 {need} 前的数据, 仓库数据止于 {end} / the observed label needs facts "
            f"up to {need}; the warehouse ends at {end}: no observed evaluation"
        )
    if sim_dir is not None:
        ev.truth, notes = _truth(f, p, base, as_of, horizon, Path(sim_dir))
        ev.notes += notes
    return ev


def _truth(
    f: FeatureFrame,
    p: np.ndarray,
    base: np.ndarray,
    as_of: dt.date,
    horizon: int,
    sim_dir: Path,
) -> tuple[dict[str, Scorecard], list[str]]:
    from careops.sim import churn_labels
    from careops.sim.config import SimConfig
    from careops.sim.writer import GROUND_TRUTH

    truth_dir = sim_dir / GROUND_TRUTH
    if not (truth_dir / "users.parquet").is_file():
        raise InvalidInput(
            f"{sim_dir}: 不是模拟器输出目录 / not a simulator output folder "
            f"(no {GROUND_TRUTH}/users.parquet)"
        )
    labels = churn_labels(sim_dir, as_of, horizon)
    truth = dict(zip(labels.column(0).to_pylist(), labels.column(1).to_pylist(), strict=True))
    pos = {u: i for i, u in enumerate(f.user_id)}
    both = [u for u in truth if u in pos]
    idx = np.array([pos[u] for u in both], dtype=np.int64)
    y = np.array([truth[u] for u in both], dtype=bool)
    out = {
        "model": scorecard("model", y, p[idx], probability=True),
        "baseline_recency": scorecard("baseline_recency", y, base[idx], probability=True),
    }
    notes = [
        f"模拟器真值: {len(truth)} 位真实在用患者, 其中 {len(both)} 位被评分 / simulator truth: "
        f"{len(truth)} patients truly still users, {len(both)} of them scored"
    ]
    cfg = SimConfig.model_validate_json((truth_dir / "config.json").read_text("utf-8"))
    if as_of == cfg.end:
        users = pq.read_table(truth_dir / "users.parquet", columns=["user_id", "churn_hazard"])
        hz = dict(zip(users.column(0).to_pylist(), users.column(1).to_pylist(), strict=True))
        h = np.array([hz[u] for u in both], dtype=float)
        out["oracle"] = scorecard("oracle", y, 1 - (1 - h) ** horizon, probability=True)
    else:
        notes.append(
            f"oracle 仅在模拟窗口结束日 {cfg.end} 可用 / the oracle (hidden hazard) exists only "
            f"as of {cfg.end}, the day after the simulated window"
        )
    return out, notes


def write_report(ev: Evaluation, path: Path) -> None:
    path.write_text(json.dumps(ev.to_dict(), ensure_ascii=False, indent=1), "utf-8")


__all__ = ["Evaluation", "data_end", "evaluate", "population", "recency", "write_report"]

"""Why patients are at risk and why they left: per patient and per population, from the model's
own contributions (LightGBM `pred_contrib`: per feature log-odds that, with the bias column,
add up to the raw score — checked, `contributions`).

- **Per patient** (`explain_patient`): the score as of D, the driver (`drivers.assign`) and the
  features that raise the risk most, each with its contribution, the patient's value and the
  Chinese phrase of `reasons.CATALOGUE` — the same phrases as `churn score` and the
  `churn_reasons` smart tag.
- **At risk** (`diagnose`, population view): among the patients scored as of D, those with
  `churn_score >= min_score`: how many per driver, the mean log-odds each driver adds, and the
  phrases that come up most.
- **Churned**: patients who went quiet and stayed quiet — last active day in one of the `weeks`
  weeks `[S − 7, S)`, `S = D − churn_confirm_days − 7k` — each diagnosed from the facts before
  they went quiet (features as of `S`, the week's end: nothing of theirs follows their last
  active day). The model explaining them may have been trained on later dates (it is trained as
  of D or earlier, from facts before D): a diagnosis looks back, it does not predict.
- **Truth** (simulator only): for the churned patients who truly stopped, the diagnosed driver
  beside the simulator's `churn_driver` (`sim.engine.stop_driver`): agreement, per true driver
  the share found, their mean (balanced agreement: one driver being common does not make it
  look good), and the agreement of always answering the most common true driver.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.config import Settings
from careops.errors import InvalidInput, NotFound
from careops.models.churn.drivers import DRIVERS, FEATURE_DRIVER, Drivers, explain_rows
from careops.models.churn.evaluate import population
from careops.models.churn.features import FeatureFrame, load_features
from careops.models.churn.model import ChurnModel, still_users
from careops.models.churn.reasons import phrase

TOP_PHRASES = 10
ADDITIVITY_TOL = 1e-6


def contributions(model: ChurnModel, f: FeatureFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature contributions (n × features) and the bias (n), checked to add up to the
    booster's raw score (its margin) on every row; a model whose contributions do not add up is
    refused (`ModelError`)."""
    from careops.models.registry import ModelError

    x = f.matrix(model.encoding, model.features)
    contrib = model.booster.predict(x, pred_contrib=True)
    margin = model.booster.predict(x, raw_score=True)
    gap = np.abs(contrib.sum(axis=1) - margin)
    if len(gap) and float(gap.max()) > ADDITIVITY_TOL * max(1.0, float(np.abs(margin).max())):
        raise ModelError(
            f"模型贡献值之和与预测不符 (最大差 {gap.max():.2g}) / the contributions do not add up "
            "to the model's margin: retrain the model with this CareOps"
        )
    return contrib[:, :-1], contrib[:, -1]


# -- one patient ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonItem:
    """One feature's part in a patient's risk."""

    feature: str
    driver: str
    contribution: float  # log-odds added (positive = raises the risk)
    value: float | str | None
    text: str | None  # the Chinese phrase, None when the value says nothing


@dataclass(frozen=True)
class PatientReasons:
    user_id: str
    as_of: dt.date
    model_id: str
    churn_score: int
    churn_probability: float
    driver: str
    bias: float
    margin: float
    reasons: list[str]  # the top phrases, as `churn score` and the `churn_reasons` tag show them
    items: list[ReasonItem]
    driver_weights: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        return d


def _value(v: Any) -> float | str | None:
    if v is None or isinstance(v, str):
        return v
    return None if np.isnan(float(v)) else float(v)


def explain_patient(
    con: BaseBackend,
    model: ChurnModel,
    model_id: str,
    as_of: dt.date,
    user_id: str,
    settings: Settings,
    *,
    top: int = 5,
) -> PatientReasons:
    """One patient's score, driver and largest contributions as of `as_of`."""
    f = load_features(con, as_of, settings, user_ids=[user_id])
    if not len(f) or not still_users(f, settings)[0]:
        raise NotFound(
            f"患者 {user_id[:64]!r} 在 {as_of} 不在评分人群中 (未注册, 或已 "
            f"{settings.lifecycle.churned_min_days} 天无活动) / patient {user_id[:64]!r} is not "
            f"scored as of {as_of}: unknown, registered later, or already churned; check the id "
            "or use an earlier as-of date"
        )
    contrib, bias = contributions(model, f)
    p = float(model.calibrator(np.array([contrib[0].sum() + bias[0]]))[0])
    reasons, d = explain_rows(contrib, f.raw, model.features)
    order = np.argsort(-contrib[0], kind="stable")
    items = []
    for j in order[:top]:
        if contrib[0, j] <= 0:
            break
        name = model.features[j]
        items.append(
            ReasonItem(
                name,
                FEATURE_DRIVER[name],
                round(float(contrib[0, j]), 4),
                _value(f.raw[name][0]),
                phrase(name, f.raw, 0),
            )
        )
    return PatientReasons(
        user_id=user_id,
        as_of=as_of,
        model_id=model_id,
        churn_score=int(np.rint(p * 100)),
        churn_probability=round(p, 4),
        driver=str(d.driver[0]),
        bias=round(float(bias[0]), 4),
        margin=round(float(contrib[0].sum() + bias[0]), 4),
        reasons=reasons[0],
        items=items,
        driver_weights={k: round(float(w), 4) for k, w in zip(DRIVERS, d.weight[0], strict=True)},
    )


# -- populations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """Patients per driver, the mean log-odds each driver adds, and the most frequent phrases."""

    patients: int
    counts: dict[str, int]
    mean_weight: dict[str, float]
    phrases: list[tuple[str, int]]
    mean_score: float | None = None

    @classmethod
    def of(cls, d: Drivers, reasons: list[list[str]], p: np.ndarray) -> Breakdown:
        n = len(d.driver)
        mean = d.weight.mean(axis=0) if n else np.zeros(len(DRIVERS))
        phrases = Counter(text for r in reasons for text in r).most_common(TOP_PHRASES)
        return cls(
            n,
            d.counts(),
            {k: round(float(v), 4) for k, v in zip(DRIVERS, mean, strict=True)},
            phrases,
            round(float(100 * p.mean()), 1) if n else None,
        )


@dataclass(frozen=True)
class TruthCheck:
    """Diagnosed driver against the simulator's `churn_driver`, for patients who truly stopped."""

    patients: int
    agreement: float | None
    #: the mean over true drivers of the share found (a majority answer scores 1 / drivers)
    balanced_agreement: float | None
    majority_driver: str | None
    majority_agreement: float | None
    #: true driver → {"patients": n, "found": share diagnosed with that driver}
    by_true_driver: dict[str, dict[str, float]]
    #: (true, diagnosed) → patients
    confusion: dict[str, dict[str, int]]
    #: patients diagnosed as churned who had not truly stopped by the as-of date
    not_truly_stopped: int


@dataclass
class ReasonsReport:
    as_of: dt.date
    model_id: str
    min_score: int
    at_risk: Breakdown
    churned: Breakdown | None = None
    churned_window: tuple[dt.date, dt.date] | None = None
    truth: TruthCheck | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def bd(b: Breakdown | None) -> dict[str, Any] | None:
            if b is None:
                return None
            d = asdict(b)
            d["phrases"] = [{"text": t, "patients": n} for t, n in b.phrases]
            return d

        return {
            "as_of": self.as_of.isoformat(),
            "model_id": self.model_id,
            "min_score": self.min_score,
            "at_risk": bd(self.at_risk),
            "churned": bd(self.churned),
            "churned_window": [d.isoformat() for d in self.churned_window]
            if self.churned_window
            else None,
            "truth": asdict(self.truth) if self.truth else None,
            "notes": self.notes,
        }


def _explain(model: ChurnModel, f: FeatureFrame) -> tuple[Drivers, list[list[str]], np.ndarray]:
    contrib, bias = contributions(model, f)
    p = model.calibrator(contrib.sum(axis=1) + bias)
    reasons, d = explain_rows(contrib, f.raw, model.features)
    return d, reasons, p


def at_risk(
    con: BaseBackend, model: ChurnModel, as_of: dt.date, settings: Settings, min_score: int
) -> Breakdown:
    """The driver breakdown of the patients scored `min_score` or more as of `as_of`."""
    f = population(con, as_of, settings)
    d, reasons, p = _explain(model, f)
    keep = np.rint(p * 100) >= min_score
    return Breakdown.of(
        Drivers(d.driver[keep], d.weight[keep]),
        [r for r, k in zip(reasons, keep, strict=True) if k],
        p[keep],
    )


def churned(
    con: BaseBackend, model: ChurnModel, as_of: dt.date, settings: Settings, weeks: int
) -> tuple[Breakdown, np.ndarray, np.ndarray, tuple[dt.date, dt.date]]:
    """The driver breakdown of the patients who went quiet in the `weeks` weeks ending
    `churn_confirm_days` before `as_of` (see the module docstring); also their ids and drivers,
    and the window [first, last) of their last active days."""
    frame = AsOf(con, as_of, settings)
    newest = as_of - dt.timedelta(days=settings.models.churn_confirm_days)
    ends = [newest - dt.timedelta(days=7 * k) for k in range(weeks)]
    first = ends[-1] - dt.timedelta(days=7)
    act = frame.active_days(since=first - dt.timedelta(days=1))
    last = act.group_by("user_id").aggregate(last_dn=act.dn.max()).to_pyarrow()
    ids = np.array(last.column("user_id").to_pylist(), dtype=object)
    last_dn = last.column("last_dn").to_numpy()
    parts_d, parts_w, parts_id, parts_p, reasons = [], [], [], [], []
    for end in ends:
        hi = AsOf(con, end, settings).day_number_lit(0)
        who = ids[(last_dn >= hi - 7) & (last_dn < hi)]
        if not len(who):
            continue
        f = load_features(con, end, settings, user_ids=[str(u) for u in who])
        d, r, p = _explain(model, f)
        parts_d.append(d.driver)
        parts_w.append(d.weight)
        parts_id.append(f.user_id)
        parts_p.append(p)
        reasons += r
    if parts_d:
        drivers = Drivers(np.concatenate(parts_d), np.vstack(parts_w))
        user_ids, p = np.concatenate(parts_id), np.concatenate(parts_p)
    else:
        drivers = Drivers(np.array([], dtype=object), np.zeros((0, len(DRIVERS))))
        user_ids, p = np.array([], dtype=object), np.zeros(0)
    return Breakdown.of(drivers, reasons, p), user_ids, drivers.driver, (first, newest)


def truth_check(
    sim_dir: Path, as_of: dt.date, user_ids: np.ndarray, diagnosed: np.ndarray
) -> TruthCheck:
    """Diagnosed drivers against the simulator's ground truth (see the module docstring)."""
    from careops.sim.writer import GROUND_TRUTH

    path = Path(sim_dir) / GROUND_TRUTH / "users.parquet"
    if not path.is_file():
        raise InvalidInput(
            f"{sim_dir}: 不是模拟器输出目录 / not a simulator output folder (no "
            f"{GROUND_TRUTH}/users.parquet)",
            field="sim",
        )
    cols = pq.read_schema(path).names
    if "churn_driver" not in cols:
        raise InvalidInput(
            f"{sim_dir}: 模拟器输出缺少 churn_driver, 请用当前版本重新模拟 / the simulator output "
            "has no churn_driver (made by an older CareOps): simulate again",
            field="sim",
        )
    t = pq.read_table(path, columns=["user_id", "true_stop_date", "churn_driver"])
    stop = dict(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))
    true = dict(zip(t.column(0).to_pylist(), t.column(2).to_pylist(), strict=True))
    pairs = [
        (true[u], str(d))
        for u, d in zip(user_ids, diagnosed, strict=True)
        if stop.get(u) is not None and stop[u] < as_of
    ]
    n = len(pairs)
    confusion: dict[str, dict[str, int]] = {}
    for a, b in pairs:
        confusion.setdefault(a, {}).setdefault(b, 0)
        confusion[a][b] += 1
    by_true = {
        a: {"patients": sum(row.values()), "found": round(row.get(a, 0) / sum(row.values()), 4)}
        for a, row in sorted(confusion.items())
    }
    majority = Counter(a for a, _ in pairs).most_common(1)
    return TruthCheck(
        patients=n,
        agreement=round(sum(a == b for a, b in pairs) / n, 4) if n else None,
        balanced_agreement=round(float(np.mean([r["found"] for r in by_true.values()])), 4)
        if n
        else None,
        majority_driver=majority[0][0] if majority else None,
        majority_agreement=round(majority[0][1] / n, 4) if n else None,
        by_true_driver=by_true,
        confusion=confusion,
        not_truly_stopped=len(user_ids) - n,
    )


def diagnose(
    con: BaseBackend,
    model: ChurnModel,
    model_id: str,
    as_of: dt.date,
    settings: Settings,
    *,
    min_score: int = 50,
    weeks: int = 4,
    sim_dir: Path | None = None,
) -> ReasonsReport:
    """The population view as of `as_of`: drivers of the at-risk patients, and of those who went
    quiet (with the simulator's truth when `sim_dir` is given)."""
    if not 0 <= min_score <= 100:
        raise InvalidInput(f"min_score {min_score}: 应在 0–100 / must be 0–100", field="min_score")
    if not 1 <= weeks <= 26:
        raise InvalidInput(f"weeks {weeks}: 应在 1–26 / must be 1–26", field="weeks")
    frame = AsOf(con, as_of, settings)
    frame.validate()
    report = ReasonsReport(
        as_of, model_id, min_score, at_risk(con, model, as_of, settings, min_score)
    )
    first_reg = frame.first_registration_day()
    newest = as_of - dt.timedelta(days=settings.models.churn_confirm_days)
    if first_reg is None or newest - dt.timedelta(days=7) < first_reg:
        report.notes.append(
            f"流失诊断需要 {as_of} 前至少 {settings.models.churn_confirm_days + 7} 天的数据 / the "
            "churned diagnosis needs patients quiet for "
            f"{settings.models.churn_confirm_days} days before {as_of}: use a later as-of date"
        )
        return report
    weeks = min(weeks, max(1, (newest - first_reg).days // 7))
    report.churned, ids, diagnosed, report.churned_window = churned(
        con, model, as_of, settings, weeks
    )
    if sim_dir is not None:
        report.truth = truth_check(Path(sim_dir), as_of, ids, diagnosed)
    return report

"""Churn: who among the patients still using the hospital goes quiet within the horizon.

**Population** (as of D). Scored: patients registered before D who are not already churned by
the lifecycle rule — an active day (event, consultation or order) in the last
`lifecycle.churned_min_days` (90) days. Trained on (and evaluated on observed labels): those
known to be still users at D, an active day in the last `models.churn_alive_days` (3) days. Most
patients are active on less than one day a month, so "quiet for 30 days" also happens to people
who already stopped long ago; training on them taught recency ("already gone") instead of
what makes a current user leave, and ranked the simulator's true leavers worse (AUC 0.62
against 0.70; docs/models.md). The score is therefore "if still a user, the probability to go
quiet within the horizon".

**Label** (observable, what a hospital has): churned = no active day in
`[D + horizon, D + horizon + confirm)` (`models.churn_horizon_days` = 7, `churn_confirm_days`
= 30): the patient has gone quiet within the horizon and stays quiet. It needs facts up to
`D + horizon + confirm`, so training as of T uses as-of dates
`T − horizon − confirm − k·step` (k = 0 … `churn_snapshots` − 1, step 7 days): every label and
every feature comes from facts before T.

**Time split.** The newest date (k = 0) is the calibration fold, the next (k = 1) the
early-stopping fold, the older ones are training data. LightGBM (binary, 2 threads,
deterministic, fixed seed) is fitted on the training dates with early stopping on k = 1; its
scores are then calibrated on k = 0 (a later fold than anything the trees saw): isotonic
regression, or Platt scaling when that fold has fewer than 2,000 patients (`Calibrator`).
The recency-only baseline (days since the last active day) is calibrated on the training dates.

**Score** = 100 × calibrated probability, rounded. **Reasons** = the top 3 positive
contributions of LightGBM's `pred_contrib` (per-patient log-odds contributions, SHAP values
of the trees), phrased by `reasons.CATALOGUE` with the patient's own values.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from ibis.backends import BaseBackend
from sklearn.isotonic import IsotonicRegression

from careops.asof import AsOf
from careops.config import Settings, get_settings
from careops.errors import InvalidInput
from careops.models.churn.drivers import Drivers, explain_rows
from careops.models.churn.features import (
    CATEGORICAL,
    FEATURES,
    Encoding,
    FeatureFrame,
    load_features,
)
from careops.models.churn.metrics import Scorecard, scorecard

FORMAT_VERSION = 1
KIND = "churn"
NEVER_ACTIVE_DAYS = 10_000  # recency of a patient with no active day, for the baseline

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "max_depth": 4,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
MAX_ROUNDS, EARLY_STOP = 1000, 50
ISOTONIC_MIN_ROWS = 2000


class ChurnError(InvalidInput):
    """Churn cannot be trained or scored as asked (too little history, no positives …)."""


@dataclass
class Calibrator:
    """Score → probability, stored as JSON. Isotonic regression (its breakpoints, applied with
    np.interp) when the calibration fold has at least `ISOTONIC_MIN_ROWS` rows; below that,
    Platt scaling (a logistic curve `1 / (1 + exp(-(a·s + b)))`, two parameters), which a few
    hundred rows estimate far more steadily than a step function."""

    x: list[float]
    y: list[float]
    kind: str = "isotonic"

    @classmethod
    def fit(cls, score: np.ndarray, label: np.ndarray) -> Calibrator:
        if len(score) < ISOTONIC_MIN_ROWS:
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6).fit(score.reshape(-1, 1), label.astype(int))
            return cls([float(lr.coef_[0, 0])], [float(lr.intercept_[0])], "platt")
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(score, label.astype(float))
        return cls([float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_])

    def __call__(self, score: np.ndarray) -> np.ndarray:
        if self.kind == "platt":
            return 1.0 / (1.0 + np.exp(-(self.x[0] * np.asarray(score, float) + self.y[0])))
        return np.interp(score, np.asarray(self.x), np.asarray(self.y))


def still_users(f: FeatureFrame, settings: Settings) -> np.ndarray:
    """Patients not yet churned by the lifecycle rule (active in the last 90 days)."""
    recency = f.raw["days_since_active"]
    limit = settings.lifecycle.churned_min_days
    return ~np.isnan(recency) & (recency <= limit)


def known_alive(f: FeatureFrame, settings: Settings) -> np.ndarray:
    """Patients active within `models.churn_alive_days` (the training population)."""
    recency = f.raw["days_since_active"]
    return ~np.isnan(recency) & (recency <= settings.models.churn_alive_days)


def recency(f: FeatureFrame) -> np.ndarray:
    r = f.raw["days_since_active"]
    return np.where(np.isnan(r), NEVER_ACTIVE_DAYS, r)


def observed_labels(
    con: BaseBackend, as_of: dt.date, settings: Settings, user_id: np.ndarray
) -> np.ndarray:
    """1 where the patient has no active day in [as_of + horizon, as_of + horizon + confirm)."""
    m = settings.models
    start = as_of + dt.timedelta(days=m.churn_horizon_days)
    end = start + dt.timedelta(days=m.churn_confirm_days)
    frame = AsOf(con, end, settings)
    act = frame.active_days(since=start)
    seen = set(act.select("user_id").distinct().to_pyarrow().column(0).to_pylist())
    return np.array([u not in seen for u in user_id], dtype=bool)


def label_end(as_of: dt.date, settings: Settings) -> dt.date:
    """The as-of date whose facts the label of `as_of` needs."""
    m = settings.models
    return as_of + dt.timedelta(days=m.churn_horizon_days + m.churn_confirm_days)


def training_dates(as_of: dt.date, settings: Settings, first_day: dt.date) -> list[dt.date]:
    """The label-able as-of dates before `as_of`, newest first (see the module docstring)."""
    m = settings.models
    newest = as_of - dt.timedelta(days=m.churn_horizon_days + m.churn_confirm_days)
    dates = [newest - dt.timedelta(days=m.churn_step_days * k) for k in range(m.churn_snapshots)]
    dates = [d for d in dates if d > first_day + dt.timedelta(days=7)]
    if len(dates) < 3:
        raise ChurnError(
            f"训练需要更长的历史 / too little history to train as of {as_of}: labels need "
            f"{m.churn_horizon_days + m.churn_confirm_days} days after each training date and "
            f"at least 3 dates {m.churn_step_days} days apart after the first registration "
            f"({first_day}); use a later as-of date (at least "
            f"{first_day + dt.timedelta(days=8 + 2 * m.churn_step_days) + (as_of - newest)})",
            field="as_of",
        )
    return dates


@dataclass
class Snapshot:
    as_of: dt.date
    features: FeatureFrame
    label: np.ndarray


def snapshot(con: BaseBackend, day: dt.date, settings: Settings) -> Snapshot:
    """The population as of `day`, its features and observed labels."""
    f = load_features(con, day, settings)
    keep = known_alive(f, settings)
    f = FeatureFrame(day, f.user_id[keep], {k: v[keep] for k, v in f.raw.items()})
    return Snapshot(day, f, observed_labels(con, day, settings, f.user_id))


@dataclass
class ChurnModel:
    """A trained churn model: trees, category codes, calibration, the recency baseline."""

    as_of: dt.date
    booster: lgb.Booster
    encoding: Encoding
    calibrator: Calibrator
    baseline: Calibrator
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    diagnostics: dict[str, Any] = field(default_factory=dict)

    # -- scoring ---------------------------------------------------------------------------
    def raw_score(self, f: FeatureFrame) -> np.ndarray:
        return self.booster.predict(f.matrix(self.encoding, self.features), raw_score=True)

    def probability(self, f: FeatureFrame) -> np.ndarray:
        return self.calibrator(self.raw_score(f))

    def baseline_probability(self, f: FeatureFrame) -> np.ndarray:
        return self.baseline(recency(f))

    def reasons(self, f: FeatureFrame, top: int = 3) -> list[list[str]]:
        return self.explain(f, top)[1]

    def explain(self, f: FeatureFrame, top: int = 3) -> tuple[np.ndarray, list[list[str]]]:
        """Calibrated probabilities and reasons (see `explain_drivers`)."""
        p, reasons, _ = self.explain_drivers(f, top)
        return p, reasons

    def explain_drivers(
        self, f: FeatureFrame, top: int = 3
    ) -> tuple[np.ndarray, list[list[str]], Drivers]:
        """Calibrated probabilities, reasons and drivers from one `pred_contrib` pass (the
        contributions and the bias column add up to the raw score, so the trees are walked
        once; `diagnosis.contributions` checks that they do)."""
        contrib = self.booster.predict(f.matrix(self.encoding, self.features), pred_contrib=True)
        p = self.calibrator(contrib.sum(axis=1))
        reasons, drivers = explain_rows(contrib[:, :-1], f.raw, self.features, top=top)
        return p, reasons, drivers

    # -- files -------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        self.booster.save_model(str(folder / "model.txt"))
        (folder / "model.json").write_text(
            json.dumps(
                {
                    "features": self.features,
                    "categories": self.encoding.codes,
                    "calibration": asdict(self.calibrator),
                    "baseline": asdict(self.baseline),
                    "diagnostics": self.diagnostics,
                },
                ensure_ascii=False,
            ),
            "utf-8",
        )

    @classmethod
    def load(cls, folder: Path, as_of: dt.date) -> ChurnModel:
        from careops.models.registry import ModelError

        try:
            data = json.loads((folder / "model.json").read_text("utf-8"))
            booster = lgb.Booster(model_file=str(folder / "model.txt"))
            model = cls(
                as_of,
                booster,
                Encoding(data["categories"]),
                Calibrator(**data["calibration"]),
                Calibrator(**data["baseline"]),
                list(data["features"]),
                data.get("diagnostics", {}),
            )
        except (OSError, ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as exc:
            raise ModelError(
                f"模型文件损坏 / damaged model files in {folder.name}: {type(exc).__name__}"
            ) from None
        unknown = [n for n in model.features if n not in FEATURES]
        if unknown or booster.num_feature() != len(model.features):
            raise ModelError(
                f"模型 {folder.name} 的特征与当前版本不符 / the model's features do not match "
                f"this CareOps (unknown: {', '.join(unknown[:5]) or '—'}): retrain"
            )
        return model


def _stack(snaps: list[Snapshot], enc: Encoding, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x = np.vstack([s.features.matrix(enc, names) for s in snaps])
    y = np.concatenate([s.label for s in snaps])
    return x, y


def train(
    con: BaseBackend, as_of: dt.date, settings: Settings | None = None
) -> tuple[ChurnModel, list[Snapshot]]:
    """Train on the dates of `training_dates` (facts before `as_of` only)."""
    settings = settings or get_settings()
    frame = AsOf(con, as_of, settings)
    frame.validate()
    first = frame.first_registration_day()
    assert first is not None
    dates = training_dates(as_of, settings, first)
    snaps = [snapshot(con, d, settings) for d in dates]
    calib, stop, fit = snaps[0], snaps[1], snaps[2:]
    names = list(FEATURES)
    enc = Encoding.fit({c: np.concatenate([s.features.raw[c] for s in fit]) for c in CATEGORICAL})
    x, y = _stack(fit, enc, names)
    if y.sum() == 0 or y.sum() == len(y):
        raise ChurnError(
            f"训练数据只有一类标签 / the training dates {dates[-1]}…{dates[2]} hold only "
            f"{'churned' if y.sum() else 'retained'} patients ({len(y)} rows): nothing to learn"
        )
    xs, ys = _stack([stop], enc, names)
    cat_idx = [names.index(c) for c in CATEGORICAL]
    params = dict(PARAMS, seed=settings.models.churn_seed)
    dtrain = lgb.Dataset(x, y.astype(float), feature_name=names, categorical_feature=cat_idx)
    dstop = lgb.Dataset(xs, ys.astype(float), reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[dstop],
        callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
    )
    raw_cal = booster.predict(calib.features.matrix(enc, names), raw_score=True)
    calibrator = Calibrator.fit(raw_cal, calib.label)
    base = Calibrator.fit(np.concatenate([recency(s.features) for s in fit]), y)
    model = ChurnModel(
        as_of,
        booster,
        enc,
        calibrator,
        base,
        names,
        {
            "training_dates": [d.isoformat() for d in dates[2:]],
            "early_stopping_date": dates[1].isoformat(),
            "calibration_date": dates[0].isoformat(),
            "rows": {d.isoformat(): len(s.label) for d, s in zip(dates, snaps, strict=True)},
            "churn_rate": {
                d.isoformat(): round(float(s.label.mean()), 4)
                for d, s in zip(dates, snaps, strict=True)
            },
            "best_iteration": int(booster.best_iteration or booster.current_iteration()),
        },
    )
    return model, snaps


def fold_report(model: ChurnModel, snap: Snapshot) -> dict[str, Scorecard]:
    """Model (raw and calibrated) and baseline on one labelled snapshot."""
    p = model.probability(snap.features)
    return {
        "model": scorecard("model", snap.label, p, probability=True),
        "baseline_recency": scorecard(
            "baseline_recency",
            snap.label,
            model.baseline_probability(snap.features),
            probability=True,
        ),
    }

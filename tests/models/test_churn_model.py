"""Churn model files: saved as text/JSON and read back to the same predictions; a file from
another version (other features) or a damaged file is refused; both calibrations are monotone
probabilities and survive the round trip."""

from __future__ import annotations

import datetime as dt
import json

import lightgbm as lgb
import numpy as np
import pytest

from careops.models.churn.features import CATEGORICAL, FEATURES, Encoding, FeatureFrame
from careops.models.churn.model import PARAMS, Calibrator, ChurnModel
from careops.models.registry import ModelError

AS_OF = dt.date(2025, 7, 1)


def _frame(n: int, rng: np.random.Generator) -> tuple[FeatureFrame, np.ndarray]:
    raw = {name: rng.integers(0, 60, n).astype(float) for name in FEATURES}
    raw["sex"] = rng.choice(np.array(["F", "M"], object), n)
    raw["channel"] = rng.choice(np.array(["a", "b", "c"], object), n)
    y = rng.random(n) < 1 / (1 + np.exp(-(raw["days_since_active"] - 30) / 8))
    return FeatureFrame(AS_OF, np.array([f"u{i}" for i in range(n)], object), raw), y


@pytest.fixture
def model():
    rng = np.random.default_rng(3)
    f, y = _frame(3000, rng)
    enc = Encoding.fit({c: f.raw[c] for c in CATEGORICAL})
    names = list(FEATURES)
    booster = lgb.train(
        dict(PARAMS, seed=1),
        lgb.Dataset(f.matrix(enc), y.astype(float), feature_name=names),
        num_boost_round=20,
    )
    raw = booster.predict(f.matrix(enc), raw_score=True)
    return ChurnModel(
        AS_OF, booster, enc, Calibrator.fit(raw, y), Calibrator.fit(raw[:500], y[:500])
    )


def test_round_trip_gives_the_same_scores_and_reasons(model, tmp_path):
    f, _ = _frame(200, np.random.default_rng(9))
    model.save(tmp_path)
    back = ChurnModel.load(tmp_path, AS_OF)
    np.testing.assert_allclose(back.probability(f), model.probability(f))
    assert back.reasons(f) == model.reasons(f)
    p, reasons = back.explain(f)
    np.testing.assert_allclose(p, model.probability(f), atol=1e-12)
    assert model.calibrator.kind == "isotonic" and model.baseline.kind == "platt"
    assert any("天未活跃" in r for rs in reasons for r in rs)


def test_calibrations_are_monotone_probabilities(model):
    s = np.linspace(-6, 6, 50)
    for cal in (model.calibrator, model.baseline):
        p = cal(s)
        assert ((p >= 0) & (p <= 1)).all() and (np.diff(p) >= -1e-12).all()


def test_a_model_from_another_version_or_damaged_is_refused(model, tmp_path):
    model.save(tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text("utf-8"))
    meta["features"] = [*meta["features"][:-1], "a_feature_we_no_longer_have"]
    (tmp_path / "model.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelError, match="a_feature_we_no_longer_have"):
        ChurnModel.load(tmp_path, AS_OF)
    model.save(tmp_path)
    (tmp_path / "model.txt").write_text("not a model", "utf-8")
    with pytest.raises(ModelError, match="damaged"):
        ChurnModel.load(tmp_path, AS_OF)
    (tmp_path / "model.json").unlink()
    with pytest.raises(ModelError, match="damaged"):
        ChurnModel.load(tmp_path, AS_OF)

"""Churn drivers: every feature belongs to one; a patient's driver is the cause whose *true*
reasons add the most log-odds; activity and profile never name one; the simulator's true
driver (`sim.engine.stop_driver`) worked by hand."""

from __future__ import annotations

import math

import numpy as np

from careops.models.churn.drivers import DRIVERS, FEATURE_DRIVER, MIN_LOGIT, explain_rows
from careops.models.churn.features import FEATURES
from careops.sim.config import SimConfig
from careops.sim.engine import DRIVERS as TRUE_DRIVERS
from careops.sim.engine import stop_driver


def test_every_feature_has_one_driver_and_every_driver_a_label():
    from careops.labels import has
    from careops.tags.smart import CHURN_DRIVERS

    assert set(FEATURE_DRIVER) == set(FEATURES)
    assert set(FEATURE_DRIVER.values()) == set(DRIVERS)
    assert all(has(f"value.churn_driver.{d}") for d in DRIVERS)
    assert [v[0] for v in CHURN_DRIVERS] == list(DRIVERS)
    # the simulator's drivers are a subset of the model's
    assert set(TRUE_DRIVERS) <= set(DRIVERS)


def _raw(n=1, **values):
    base = {name: np.full(n, np.nan) for name in FEATURES}
    for c in ("sex", "channel", "last_department"):
        base[c] = np.array(["x"] * n, object)
    for k, v in values.items():
        base[k] = np.array(v if isinstance(v, list) else [v] * n, object if k == "x" else float)
    return base


def _contrib(rows):
    names = list(FEATURES)
    c = np.zeros((len(rows), len(names)))
    for i, weights in enumerate(rows):
        for k, w in weights.items():
            c[i, names.index(k)] = w
    return c, names


def test_the_driver_is_the_cause_whose_true_reasons_weigh_most():
    raw = _raw(
        3,
        late_replies_90d=[2, 2, 0],
        last_consult_late=[1, 1, 0],
        failed_payments_90d=[1, 0, 0],
        searches_30d=[0, 0, 0],
        searched_no_consult_30d=[0, 0, 0],
        active_days_90d=[1, 1, 1],
        registered_days=[300, 300, 5],
    )
    c, names = _contrib(
        [
            # service 0.3 + 0.2 beats payment 0.4
            {"late_replies_90d": 0.3, "last_consult_late": 0.2, "failed_payments_90d": 0.4},
            # "searched 0 times" raising the risk is not an unmet need (its phrase is false);
            # activity (0.9) never names a driver: service (0.15) does
            {"searches_30d": 0.5, "active_days_90d": 0.9, "late_replies_90d": 0.15},
            # registered 5 days ago
            {"registered_days": 0.6, "active_days_90d": 0.2},
        ]
    )
    reasons, d = explain_rows(c, raw, names)
    assert list(d.driver) == ["service", "service", "new_user"]
    assert reasons[0] == [
        "90 天内支付失败 1 次",
        "90 天内 2 次问诊医生回复超时",
        "上次问诊医生回复超时",
    ]
    assert reasons[1] == ["近 90 天仅活跃 1 天", "90 天内 2 次问诊医生回复超时"]
    w = dict(zip(DRIVERS, d.weight[0], strict=True))
    assert math.isclose(w["service"], 0.5) and math.isclose(w["payment"], 0.4)
    want = {"service": 2, "new_user": 1}
    assert d.counts() == {k: want.get(k, 0) for k in DRIVERS}


def test_weak_or_profile_only_risk_is_unknown():
    raw = _raw(2, late_replies_90d=[1, 0], age=[30, 30], active_days_90d=[1, 1])
    c, names = _contrib(
        [
            {"late_replies_90d": MIN_LOGIT * 0.9, "age": 0.5},  # below MIN_LOGIT
            {"age": 0.5, "active_days_90d": 0.5, "late_replies_90d": -0.3},  # no cause at all
        ]
    )
    _, d = explain_rows(c, raw, names)
    assert list(d.driver) == ["unknown", "unknown"]


def test_stop_driver_by_hand():
    cfg = SimConfig(users=10, days=30)
    names = list(cfg.personas)
    p = np.array([names.index("office_worker")] * 4)
    w = cfg.personas["office_worker"]
    # day 1 after sign-up: early factor (early − late)/late · e^(−1/21) + 1 ≈ 3.3 → new user
    early = 1 + (w.hazard_early - w.hazard_late) / w.hazard_late * math.exp(-1 / cfg.hazard_days)
    assert early > 1.5
    age = np.array([1, 400, 400, 400])
    complaint = np.array([0.0, 1.0, 1.0, 0.1])  # 2.5^1 = 2.5 ≥ 1.5; 2.5^0.1 ≈ 1.1 < 1.5
    late = np.array([0.0, 0.8, 0.2, 0.1])  # share of the complaints from late replies
    got = stop_driver(cfg, p, age, complaint, late)
    assert [TRUE_DRIVERS[i] for i in got] == ["new_user", "service", "payment", "unknown"]

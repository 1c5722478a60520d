"""The churn reason catalogue and scorecard: every feature has a phrase; a patient's reasons are
their largest positive contributions, phrased with their own values and only where true;
metrics against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from careops.models.churn.features import FEATURES
from careops.models.churn.metrics import scorecard
from careops.models.churn.reasons import CATALOGUE, top_reasons


def test_every_feature_has_a_reason():
    assert set(CATALOGUE) == set(FEATURES)


def _raw(**values):
    base = {name: np.array([np.nan]) for name in FEATURES}
    base["sex"] = np.array(["F"], object)
    base["channel"] = np.array(["douyin"], object)
    for k, v in values.items():
        base[k] = np.array([v], object if isinstance(v, str) else float)
    return base


def _contrib(**weights):
    names = list(FEATURES)
    c = np.zeros((1, len(names)))
    for k, w in weights.items():
        c[0, names.index(k)] = w
    return c, names


def test_top_three_positive_contributions_with_the_patients_values():
    raw = _raw(
        days_since_app_open=14, last_consult_late=1, enrolled=1, entitlement_uses_90d=1, age=70
    )
    c, names = _contrib(
        days_since_app_open=0.9, last_consult_late=0.5, entitlement_uses_90d=0.4, age=0.1
    )
    assert top_reasons(c, raw, names) == [
        ["14 天未打开应用", "上次问诊医生回复超时", "服务包权益 90 天内仅用 1 次"]
    ]


def test_reasons_skip_what_is_not_true_of_the_patient():
    # not enrolled: no entitlement phrase; negative contributions are never reasons; a value
    # that says nothing (opened the app yesterday) is passed over
    raw = _raw(enrolled=0, entitlement_uses_90d=0, days_since_app_open=1, complaints_90d=2)
    c, names = _contrib(
        entitlement_uses_90d=0.9, days_since_app_open=0.8, enrolled=0.3, complaints_90d=-0.5
    )
    assert top_reasons(c, raw, names) == [["未签约服务包"]]


def test_missing_values_have_their_own_phrase():
    raw = _raw(days_since_consult=np.nan, days_since_app_open=np.nan)
    c, names = _contrib(days_since_consult=0.3, days_since_app_open=0.2)
    assert top_reasons(c, raw, names) == [["从未问诊", "从未打开应用"]]


def test_scorecard_by_hand():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.4])
    c = scorecard("m", y, p, probability=True)
    # AUC: of 21 (positive, negative) pairs, the positive ranks higher in 19
    # (0.9 beats all 7, 0.7 all but 0.8, 0.4 all but 0.8)
    assert c.auc == pytest.approx(19 / 21)
    assert c.n == 10 and c.positives == 3 and c.base_rate == pytest.approx(0.3)
    assert c.top_decile_lift == pytest.approx(1 / 0.3)  # the top 1 of 10 churned
    # ECE, equal-width bins: [0,.1): .05→0; [.1,.2): .1,.1→0; [.2,.3): .2,.2→0; [.3,.4): .3→0;
    # [.4,.5): .4→1; [.7,.8): .7→1; [.8,.9): .8→0; [.9,1]: .9→1
    ece = (0.05 + 0.2 + 0.4 + 0.3 + 0.6 + 0.3 + 0.8 + 0.1) / 10
    assert c.ece == pytest.approx(ece)
    assert [b[2] for b in c.reliability] == [1, 2, 2, 1, 1, 1, 1, 1]


def test_scorecard_with_one_class_has_no_auc():
    c = scorecard("m", np.zeros(5), np.full(5, 0.1), probability=False)
    assert c.auc is None and c.pr_auc is None and c.ece is None and c.top_decile_lift is None

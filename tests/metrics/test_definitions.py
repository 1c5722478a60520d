"""Every metric on the hand-built hospital, with values worked out by hand (see hospital.py).

Runs unchanged on DuckDB, PostgreSQL and Spark, so it is also the parity test on hand cases.
"""

from __future__ import annotations

import pytest

from careops.metrics import compute
from tests.metrics import hospital as h


def value(con, name, as_of, **kw):
    return compute(con, name, as_of, **kw)


def groups(result):
    return {g.group: g.value for g in result.groups}


def test_d7_retention_is_exact_day_on_the_hospital_calendar(hospital_wh):
    r = value(hospital_wh, "d7_retention", h.AS_OF_RETENTION)
    assert (r.numerator, r.denominator, r.value) == (2, 4, 0.5)
    from careops.metrics.format import labelled

    assert not hasattr(r, "label")  # results carry codes; the shell names them
    assert labelled(r, "zh")["label"] == "7日留存" and labelled(r, "en")["label"] == "D7 retention"


def test_d1_and_d30_retention(hospital_wh):
    assert value(hospital_wh, "d1_retention", h.AS_OF_RETENTION).value == 0.25
    assert value(hospital_wh, "d30_retention", h.AS_OF_RETENTION).value == 0.5


def test_retention_by_sex(hospital_wh):
    r = value(hospital_wh, "d7_retention", h.AS_OF_RETENTION, by="sex")
    assert groups(r) == {"M": 1.0, "F": 0.0}


def test_mau_and_monthly_active_days(hospital_wh):
    assert value(hospital_wh, "mau", h.AS_OF_RETENTION).value == 5
    assert value(hospital_wh, "monthly_active_days", h.AS_OF_RETENTION).value == 6 / 5


def test_cohort_table_by_week_and_month(hospital_wh):
    r = value(hospital_wh, "cohort_retention", h.AS_OF_RETENTION, window_days=60)
    rows = [(str(x.cohort), x.size, x.retention) for x in r.rows]
    assert rows == [
        ("2026-01-05", 2, {1: 0.0, 7: 0.0, 30: 0.5}),
        ("2026-02-09", 4, {1: 0.25, 7: 0.5, 30: None}),  # day 30 not over yet
    ]
    m = value(hospital_wh, "cohort_retention", h.AS_OF_RETENTION, window_days=60, grain="month")
    assert [(str(x.cohort), x.size) for x in m.rows] == [("2026-01-01", 2), ("2026-02-01", 4)]


def test_silent_user_recall(hospital_wh):
    r = value(hospital_wh, "silent_recall_rate", h.AS_OF_SILENT)
    assert (r.numerator, r.denominator) == (1, 2)


def test_funnel_with_known_drop_offs(hospital_wh):
    r = value(hospital_wh, "funnel", h.AS_OF_CONVERSION)
    assert [s.users for s in r.steps] == [5, 3, 2, 2, 1]
    assert [s.dropped for s in r.steps] == [0, 2, 1, 0, 1]
    assert [s.step for s in r.steps] == ["register", "search", "consult", "pay", "repurchase"]
    from careops.metrics.format import labelled

    assert [s["label"] for s in labelled(r)["steps"]] == ["注册", "搜索", "问诊", "支付", "复购"]
    assert r.steps[1].rate_from_previous == pytest.approx(0.6)
    assert r.steps[4].rate_from_first == pytest.approx(0.2)


def test_funnel_conversion_window_cuts_late_steps(hospital_wh):
    # entry 2025-05-10 10:00; searches 05-11 12:00 (p1, p2) and 05-12 09:00 (p3) are within
    # 2 days; consults after search are 05-12 12:00 (p1) and 05-13 12:00 (p2).
    steps = "register,search,consult"
    two = value(
        hospital_wh, "funnel", h.AS_OF_CONVERSION, conversion_days=2, period_days=60, steps=steps
    )
    assert [s.users for s in two.steps] == [5, 3, 0]
    three = value(
        hospital_wh, "funnel", h.AS_OF_CONVERSION, conversion_days=3, period_days=60, steps=steps
    )
    assert [s.users for s in three.steps] == [5, 3, 1]


def test_conversion_rates(hospital_wh):
    a = h.AS_OF_CONVERSION
    assert value(hospital_wh, "consult_rate", a).value == 0.5
    assert value(hospital_wh, "booking_rate", a).value == 0.5
    assert value(hospital_wh, "paid_conversion", a).value == 0.25
    assert value(hospital_wh, "arpu", a).value == 15.0
    assert value(hospital_wh, "repurchase_rate", a).value == pytest.approx(1 / 3)


def test_k_factor_from_a_known_invite_tree(hospital_wh):
    a = h.AS_OF_REFERRAL
    assert value(hospital_wh, "invites_per_user", a).value == 1.0
    conv = value(hospital_wh, "invite_conversion", a)
    assert (conv.numerator, conv.denominator) == (3, 5)
    assert value(hospital_wh, "k_factor", a).value == pytest.approx(0.6)
    assert value(hospital_wh, "share_rate", a).value == pytest.approx(0.6)


def test_experience(hospital_wh):
    a = h.AS_OF_EXPERIENCE
    assert value(hospital_wh, "nps", a).value == pytest.approx(100 / 6)
    assert value(hospital_wh, "satisfaction", a).value == 0.5
    assert value(hospital_wh, "complaint_rate", a).value == pytest.approx(0.2)
    assert value(hospital_wh, "first_reply_sla_rate", a).value == 0.5
    assert value(hospital_wh, "first_reply_mean_s", a).value == pytest.approx(607.75)


def test_medication_adherence_pdc(hospital_wh):
    a = h.AS_OF_MEDICAL
    r = value(hospital_wh, "adherence_rate", a)
    assert (r.numerator, r.denominator) == (1, 3)
    mean = value(hospital_wh, "pdc_mean", a)
    assert mean.value == pytest.approx((120 / 180 + 179 / 180 + 30 / 60) / 3)


def test_bp_and_glucose_control(hospital_wh):
    a = h.AS_OF_MEDICAL
    assert value(hospital_wh, "bp_control_rate", a).value == 0.5
    g = value(hospital_wh, "glucose_control_rate", a)
    assert (g.numerator, g.denominator) == (2, 3)


def test_package_activation_and_renewal(hospital_wh):
    a = h.AS_OF_MEDICAL
    act = value(hospital_wh, "package_activation_rate", a, window_days=150)
    assert (act.numerator, act.denominator) == (1, 3)
    ren = value(hospital_wh, "renewal_rate", a)
    assert (ren.numerator, ren.denominator) == (2, 4)


def test_acquisition_new_users_cac_and_reach(hospital_wh):
    a = h.AS_OF_VALUE
    n = value(hospital_wh, "new_users", a, by="channel")
    assert n.value == 5
    assert groups(n) == {"v_baidu": 1, "v_douyin": 3, "v_organic": 1}
    cac = value(hospital_wh, "cac", a, by="channel")
    assert cac.value == pytest.approx(420.0)
    assert groups(cac) == pytest.approx({"v_baidu": 600.0, "v_douyin": 500.0, "v_organic": 0.0})
    assert value(hospital_wh, "precise_reach_rate", a).value == pytest.approx(2 / 3)


def test_ltv_and_roi_by_channel(hospital_wh):
    a = h.AS_OF_VALUE
    ltv = value(hospital_wh, "ltv", a, by="channel")
    assert ltv.value == pytest.approx(h.paid_revenue_before(a) / h.patients_before(a))
    g = groups(ltv)
    assert g["v_douyin"] == pytest.approx(1300 / 3)
    assert (g["v_baidu"], g["v_organic"]) == (1200.0, 100.0)
    roi = groups(value(hospital_wh, "roi", a, by="channel"))
    assert roi["v_douyin"] == pytest.approx((1300 - 3000) / 3000)
    assert roi["v_baidu"] == pytest.approx(1.0)
    assert roi["v_organic"] is None


def test_breakdown_by_a_layer_table(hospital_wh):
    """A per-user (user_id, group) table — how the tags package's layers plug in."""
    import ibis

    layers = ibis.memtable(
        {"user_id": ["p1", "p2", "p3", "p4"], "lifecycle": ["active", "active", "silent", "new"]}
    )
    r = value(hospital_wh, "paid_conversion", h.AS_OF_CONVERSION, by=layers)
    assert r.by == "lifecycle"
    assert {g.group: (g.numerator, g.denominator) for g in r.groups} == {
        "active": (1, 2),
        "new": (0, 1),
        "silent": (0, 1),
    }

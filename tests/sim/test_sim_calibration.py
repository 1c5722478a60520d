"""Calibration: each metric checked on hand-built tables, and a year-long hospital meeting every
target of the source documents (slow)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from careops.schema import TABLES
from careops.sim import SimConfig, simulate
from careops.sim import calibration as cal
from careops.sim.respond import respond
from careops.sim.summary import summary

CFG = SimConfig(users=10, days=100, start=dt.date(2025, 1, 1))  # window ends 2025-04-11
UTC = dt.UTC


def _t(name: str, rows: list[dict]) -> ibis.Table:
    return ibis.memtable(pa.Table.from_pylist(rows, schema=TABLES[name].arrow_schema()))


def ts(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2025, 1, 1, hour, tzinfo=UTC) + dt.timedelta(days=day)


def test_retention_counts_users_back_on_days_30_to_59():
    # cohort: signed up ≥ 60 days before the end (day 100): u1, u2, u3; u4 is too recent
    patients = _t(
        "patients",
        [
            {"user_id": u, "registered_at": ts(d)}
            for u, d in (("u1", 0), ("u2", 0), ("u3", 10), ("u4", 80))
        ],
    )
    events = _t(
        "events",
        [
            {"event_id": str(i), "user_id": u, "ts": ts(d), "name": "app_open"}
            for i, (u, d) in enumerate((("u1", 30), ("u2", 29), ("u2", 60), ("u3", 69), ("u4", 85)))
        ],
    )
    # u1 back on day 30, u2 only on days 29 and 60 (outside), u3 on day 59 → 2 / 3
    assert cal.retention_d30({"patients": patients, "events": events}, CFG) == pytest.approx(2 / 3)


def test_monthly_active_days_is_active_days_over_user_months():
    patients = _t(
        "patients",
        [{"user_id": "u1", "registered_at": ts(40)}, {"user_id": "u2", "registered_at": ts(70)}],
    )
    events = _t(
        "events",
        [
            {"event_id": str(i), "user_id": u, "ts": ts(d, h), "name": "app_open"}
            for i, (u, d, h) in enumerate(
                (("u1", 41, 1), ("u1", 41, 9), ("u1", 50, 1), ("u2", 71, 1))
            )
        ],
    )
    # 3 distinct active days over (60 + 30) / 30 = 3 user-months
    got = cal.monthly_active_days({"patients": patients, "events": events}, CFG)
    assert got == pytest.approx(1.0)


def test_consult_to_visit_needs_a_later_offline_visit_within_30_days():
    cons = _t(
        "consultations",
        [
            {"consultation_id": c, "user_id": u, "started_at": ts(d), "mode": "text"}
            for c, u, d in (("c1", "u1", 1), ("c2", "u2", 1), ("c3", "u3", 1), ("c4", "u4", 1))
        ],
    )
    enc = _t(
        "encounters",
        [
            {"encounter_id": e, "user_id": u, "start_at": ts(d), "class": k}
            for e, u, d, k in (
                ("e1", "u1", 5, "AMB"),
                ("e2", "u2", 40, "AMB"),
                ("e3", "u3", 5, "VR"),
                ("e4", "u4", 0, "AMB"),
            )
        ],
    )
    # only u1: u2 too late, u3 not offline, u4 before the consultation
    got = cal.consult_to_visit({"consultations": cons, "encounters": enc}, CFG)
    assert got == pytest.approx(0.25)


def test_consult_price_and_cac():
    rows = (
        ("consultation", 50.0, "paid"),
        ("consultation", 80.0, "paid"),
        ("consultation", 999.0, "failed"),
        ("drug", 30.0, "paid"),
    )
    orders = _t(
        "orders",
        [
            {
                "order_id": str(i),
                "user_id": "u",
                "ts": ts(1),
                "category": c,
                "amount_cny": a,
                "status": s,
            }
            for i, (c, a, s) in enumerate(rows)
        ],
    )
    assert cal.online_consult_price({"orders": orders}, CFG) == pytest.approx(65.0)
    spend = _t(
        "marketing_spend",
        [
            {"date": dt.date(2025, 1, d), "channel": c, "amount_cny": a, "new_users": n}
            for d, c, a, n in (
                (1, "douyin", 1200.0, 2),
                (2, "douyin", 600.0, 1),
                (1, "baidu_search", 700.0, 1),
                (1, "organic", 0.0, 9),
            )
        ],
    )
    assert cal.paid_cac({"marketing_spend": spend}, CFG) == {"douyin": 600.0, "baidu_search": 700.0}
    assert cal.paid_cac_min({"marketing_spend": spend}, CFG) == 600.0


def test_package_renewal_counts_ended_enrolments_renewed():
    enr = _t(
        "enrollments",
        [
            {
                "enrollment_id": "e1",
                "user_id": "u1",
                "package_id": "P",
                "start_at": ts(0),
                "end_at": ts(90),
            },
            {
                "enrollment_id": "e2",
                "user_id": "u1",
                "package_id": "P",
                "start_at": ts(90),
                "end_at": ts(180),
                "renewal_of": "e1",
            },  # still running: not counted
            {
                "enrollment_id": "e3",
                "user_id": "u2",
                "package_id": "P",
                "start_at": ts(0),
                "end_at": ts(90),
            },
            {
                "enrollment_id": "e4",
                "user_id": "u3",
                "package_id": "P",
                "start_at": ts(5),
                "end_at": ts(95),
            },
        ],
    )
    use = _t(
        "entitlement_usage",
        [
            {
                "usage_id": str(i),
                "enrollment_id": "e1",
                "user_id": "u1",
                "ts": ts(1 + i),
                "entitlement": "consultation",
            }
            for i in range(5)
        ],
    )
    t = {"enrollments": enr, "entitlement_usage": use}
    assert cal.package_renewal(t, CFG) == pytest.approx(1 / 3)
    assert cal.renewal_by_activation(t, CFG) == {"activated": 1.0, "not_activated": 0.0}


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SimConfig(users=20_000, seed=3)
    return simulate(cfg, tmp_path_factory.mktemp("year") / "out").out


@pytest.mark.slow
def test_a_year_of_20k_patients_meets_every_calibration_target(year: Path):
    s = summary(year)
    failed = [r for r in s["calibration"] if not r["ok"]]
    assert failed == []
    details = cal.renewal_by_activation(cal.open_tables(year), SimConfig(users=20_000, seed=3))
    assert details["activated"] > 2 * details["not_activated"]  # 5 uses in 90 days matter
    assert {r["persona"] for r in s["personas"]} == set(SimConfig().personas)
    assert s["revenue_cny"] > 0 and s["events"] > 100_000


@pytest.mark.slow
def test_an_ab_test_on_top_of_organic_activity_recovers_the_true_uplift(year: Path):
    """Randomise (user, round) units into sent / not sent; compare app_open counts in the 24 h
    after the send, organic visits included. The Welch 99.9 % interval (SciPy `ttest_ind`,
    equal_var=False) must contain the true uplift and exclude zero."""
    cfg = SimConfig(users=20_000, seed=3)
    small_out = year
    truth = pq.read_table(year / "ground_truth" / "users.parquet").to_pandas()
    ev = pq.read_table(year / "events.parquet", columns=["user_id", "ts", "name"]).to_pandas()
    opens = ev[ev.name == "app_open"]
    rng = np.random.default_rng(0)
    treated_y, control_y, true_u, sends = [], [], [], []
    registered = pq.read_table(small_out / "patients.parquet").to_pandas().set_index("user_id")
    for k in range(10):
        when = dt.datetime.combine(cfg.start + dt.timedelta(days=150 + 20 * k), dt.time(4), dt.UTC)
        units = truth[
            (truth.true_stop_date > when.date() + dt.timedelta(days=1))
            & (registered.loc[truth.user_id].registered_at.to_numpy() < when)
        ]
        arm = rng.random(len(units)) < 0.5
        window = opens[(opens.ts >= when) & (opens.ts < when + dt.timedelta(hours=24))]
        organic = window.user_id.value_counts()
        base = organic.reindex(units.user_id).fillna(0).to_numpy()
        t_units = units[arm]
        s = [
            {"user_id": u, "ts": when, "channel": c, "message_type": "coupon"}
            for u, c in zip(t_units.user_id, t_units.preferred_channel, strict=True)
        ]
        got = respond(s, small_out, seed=k)["events"].to_pandas()
        got = got[got.ts < when + dt.timedelta(hours=24)]
        caused = got[got.name == "app_open"].user_id.value_counts()
        treated_y += list(base[arm] + caused.reindex(t_units.user_id).fillna(0).to_numpy())
        control_y += list(base[~arm])
        true_u += list(t_units.uplift_visit_coupon)
        sends += s
    res = stats.ttest_ind(treated_y, control_y, equal_var=False)
    ci = res.confidence_interval(0.999)
    truth_x = float(np.mean(true_u))
    assert ci.low < truth_x < ci.high
    assert ci.low > 0  # the message really works, and the test sees it


def test_calibration_labels_are_not_the_metric_librarys():
    """The calibration's retention and active days are other definitions than the metric
    library's d30_retention and monthly_active_days: their labels must not share a name."""
    from careops.labels import label
    from careops.metrics.registry import get_metric

    for name, metric in (
        ("retention_d30", "d30_retention"),
        ("monthly_active_days", "monthly_active_days"),
    ):
        zh, en = label(f"sim.check.{name}", "zh"), label(f"sim.check.{name}", "en")
        m = get_metric(metric)
        assert m.label_zh not in zh and zh not in m.label_zh
        assert m.label_en.lower() not in en.lower()

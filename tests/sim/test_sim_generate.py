"""The generated tables obey the canonical contract and tell a consistent story."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from careops.errors import ConfigError
from careops.schema import TABLES
from careops.sim import simulate
from careops.sim.generate import end_utc
from careops.sim.validate import check_folder


def read(out: Path, name: str):
    return pq.read_table(out / f"{name}.parquet")


def test_every_table_matches_the_canonical_contract(small_sim, small_config):
    cfg = small_config()
    assert check_folder(small_sim.out, end_utc(cfg), cfg.end) == []
    for name in TABLES:
        assert (small_sim.out / f"{name}.parquet").exists()
    for name in (
        "patients",
        "events",
        "consultations",
        "orders",
        "observations",
        "prescriptions",
        "enrollments",
        "entitlement_usage",
        "surveys",
        "tickets",
        "conditions",
        "marketing_spend",
    ):
        assert small_sim.rows[name] > 0, name


def test_validator_catches_a_broken_table(small_out, small_config):
    cfg = small_config()
    from careops.sim.validate import check_table

    t = read(small_out, "orders")
    bad = t.set_column(
        t.schema.get_field_index("status"),
        "status",
        pc.if_else(pc.equal(t.column("status"), "paid"), "PAID", t.column("status")),
    )
    problems = check_table("orders", bad.cast(t.schema), end_utc(cfg), cfg.end)
    assert any("orders.status" in p for p in problems)


def test_events_carry_the_documented_names_and_json_properties(small_out):
    ev = read(small_out, "events")
    names = set(ev.column("name").to_pylist())
    assert {"app_open", "search", "view_content", "view_doctor", "share", "invite"} <= names
    rows = ev.filter(pc.is_valid(ev.column("properties"))).to_pylist()
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(json.loads(r["properties"]))
    assert all("query" in p for p in by_name["search"])
    assert any("失眠" in p["query"] or "血糖" in p["query"] for p in by_name["search"])
    assert all({"content_id", "topic"} <= p.keys() for p in by_name["view_content"])
    assert all("doctor_id" in p for p in by_name["view_doctor"])
    patients = set(read(small_out, "patients").column("user_id").to_pylist())
    assert all(
        p["invitee_id"] in patients or p["invitee_id"].startswith("N") for p in by_name["invite"]
    )


def test_some_invites_never_convert(small_out, small_config, tmp_path):
    """About `invite_conversion` (25 %) of invites bring their invitee in; the rest name
    people who never sign up. The metric library's invite conversion sees the same."""
    from careops.metrics import compute
    from careops.warehouse import connect, create_tables
    from tests.conftest import fill

    cfg = small_config()
    ev = read(small_out, "events").to_pandas()
    inv = ev[ev.name == "invite"]
    invitee = inv.properties.map(lambda s: json.loads(s)["invitee_id"])
    referrer = read(small_out, "patients").to_pandas().set_index("user_id").referrer_id
    converted = invitee.map(referrer).to_numpy() == inv.user_id.to_numpy()
    assert len(inv) > 200
    assert abs(converted.mean() - cfg.invite_conversion) < 0.05
    assert not invitee[~converted].isin(referrer.index).any()
    con = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(con)
    fill(con, {name: read(small_out, name) for name in TABLES})
    r = compute(con, "invite_conversion", cfg.end, window_days=cfg.days)
    assert r.value == pytest.approx(converted.mean(), abs=0.02)
    con.disconnect()


def test_searches_follow_the_complaint_department(small_out):
    """A consultation is preceded by a search about its department's complaint."""
    from careops.sim import vocab

    ev = read(small_out, "events").to_pandas()
    cons = read(small_out, "consultations").to_pandas()
    search = ev[ev.name == "search"].sort_values("ts")
    hits = 0
    sample = cons.head(200)
    for c in sample.itertuples():
        before = search[(search.user_id == c.user_id) & (search.ts <= c.started_at)]
        q = json.loads(before.iloc[-1].properties)["query"]
        hits += q in vocab.DEPARTMENTS[c.department].queries
    assert hits / len(sample) > 0.8


def test_referrals_form_chains_of_earlier_users(small_out):
    p = read(small_out, "patients").to_pandas().set_index("user_id")
    ref = p[p.referrer_id.notna()]
    assert len(ref) > 20
    assert (ref.source_channel == "referral").all()
    assert ref.referrer_id.isin(p.index).all()
    inviter_reg = p.loc[ref.referrer_id, "registered_at"].to_numpy()
    assert (inviter_reg <= ref.registered_at.to_numpy()).all()
    assert ref.referrer_id.isin(ref.index).any()  # chains: some inviters were invited themselves
    managed = p[p.managed_by.notna()]
    assert managed.managed_by.isin(p.index).all()
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    kids = truth[truth.persona == "child"].user_id
    assert p.loc[kids].managed_by.notna().all()


def test_ground_truth_is_consistent_with_the_tables(small_out, small_config):
    cfg = small_config()
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    patients = read(small_out, "patients").to_pandas()
    assert truth.user_id.is_unique and set(truth.user_id) == set(patients.user_id)
    # nobody is seen on or after the day they truly stopped
    ev = read(small_out, "events").to_pandas()
    local_day = (ev.ts + pd_offset(cfg)).dt.date
    last = local_day.groupby(ev.user_id).max()
    stop = truth.set_index("user_id").true_stop_date
    assert (last < stop.loc[last.index]).all()
    stopped = truth[truth.stopped_in_window]
    assert (stopped.true_stop_date < cfg.end).all()
    assert (truth[~truth.stopped_in_window].true_stop_date >= cfg.end).all()
    assert (truth.expected_spend_365d >= 0).all()
    assert (truth[truth.stopped_in_window].expected_spend_365d == 0).all()
    # chronic personas carry their condition; uplift = open × click
    assert truth[truth.persona == "diabetes"].true_conditions.str.contains("E11").all()
    np.testing.assert_allclose(
        truth.uplift_visit_coupon, truth.open_propensity * truth.click_p_coupon
    )


def pd_offset(cfg):
    import pandas as pd

    return pd.Timedelta(hours=cfg.timezone_offset_hours)


def test_devices_report_in_canonical_units_with_glucose_alert_runs(small_out, small_config):
    obs = read(small_out, "observations").to_pandas()
    units = obs.groupby("code").unit.unique().to_dict()
    assert list(units["8480-6"]) == ["mm[Hg]"] and list(units["2339-0"]) == ["mmol/L"]
    bp = obs[obs.code.isin(["8480-6", "8462-4"])]
    assert (bp.groupby(["user_id", "ts"]).size() == 2).all()  # a panel is two rows
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    glu = obs[obs.code == "2339-0"].copy()
    glu["day"] = (glu.ts + pd_offset(small_config())).dt.date  # local days
    high = glu[glu.value > 13.9].groupby("user_id").day.apply(lambda d: _longest_run(sorted(d)))
    crisis = set(truth[truth.glucose_crisis].user_id)
    runners = set(high[high >= 3].index)
    assert runners & crisis  # crisis diabetics show > 13.9 mmol/L three days running
    controlled = set(truth[~truth.poor_control].user_id)
    assert (
        glu[glu.user_id.isin(controlled)].value.mean()
        < glu[~glu.user_id.isin(controlled)].value.mean()
    )


def _longest_run(days: list[dt.date]) -> int:
    best = run = 1
    for a, b in itertools.pairwise(days):
        run = run + 1 if (b - a).days == 1 else 1
        best = max(best, run)
    return best


def test_complaints_come_from_late_replies_and_failed_payments(small_out):
    t = read(small_out, "tickets").to_pandas()
    reasons = set(t[t.kind == "complaint"].reason)
    assert {"reply_timeout", "payment_failure"} <= reasons
    cons = read(small_out, "consultations").to_pandas()
    late_users = set(cons[cons.first_reply_s > 600].user_id)
    assert set(t[t.reason == "reply_timeout"].user_id) <= late_users


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path, small_config):
    cfg = small_config(users=300, days=60, chunk_users=200)
    a = simulate(cfg, tmp_path / "a").out
    b = simulate(cfg, tmp_path / "b").out
    c = simulate(small_config(users=300, days=60, chunk_users=200, seed=12), tmp_path / "c").out
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) > 15
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "events.parquet").read_bytes() != (c / "events.parquet").read_bytes()


def test_a_window_ending_in_the_future_is_refused(tmp_path, small_config):
    with pytest.raises(ConfigError, match="future"):
        simulate(small_config(start=dt.date(2099, 1, 1)), tmp_path / "x")


def test_persona_shares_must_sum_to_one(small_config):
    from pydantic import ValidationError

    cfg = small_config()
    personas = {k: v.model_copy(update={"share": 0.5}) for k, v in cfg.personas.items()}
    with pytest.raises(ValidationError, match="shares must sum to 1"):
        small_config(personas=personas)


def test_truth_tracks_what_people_do(small_out, small_config):
    """Expected spend ranks like recent spend; people about to stop carry a higher hazard."""
    from scipy.stats import spearmanr

    cfg = small_config()
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    alive = truth[~truth.stopped_in_window].set_index("user_id")
    orders = read(small_out, "orders").to_pandas()
    recent = orders[(orders.status == "paid") & (orders.ts >= pd_ts(cfg.end, -60))]
    spend = recent.groupby("user_id").amount_cny.sum().reindex(alive.index).fillna(0)
    rho = spearmanr(alive.expected_spend_365d, spend).statistic
    assert len(alive) > 150 and rho > 0.4
    soon = alive.true_stop_date < cfg.end + dt.timedelta(days=30)
    assert alive.churn_hazard[soon].mean() > 1.5 * alive.churn_hazard[~soon].mean()


def pd_ts(day: dt.date, offset_days: int):
    import pandas as pd

    return pd.Timestamp(day + dt.timedelta(days=offset_days), tz="UTC")


def test_personas_keep_their_own_hours_and_departments(small_out, small_config):
    from careops.sim import vocab

    cfg = small_config()
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    persona = truth.set_index("user_id").persona
    ev = read(small_out, "events").to_pandas()
    opens = ev[ev.name == "app_open"].copy()
    opens["hour"] = (opens.ts + pd_offset(cfg)).dt.hour
    opens["persona"] = persona.loc[opens.user_id].to_numpy()
    night = opens[opens.persona == "office_worker"].hour.isin([21, 22, 23, 0, 1, 2]).mean()
    morning = opens[opens.persona == "elderly_chronic"].hour.isin(range(6, 11)).mean()
    assert night > 0.5 and morning > 0.5
    cons = read(small_out, "consultations").to_pandas()
    cons["persona"] = persona.loc[cons.user_id].to_numpy()
    assert set(cons[cons.persona == "child"].department) == {"儿科"}
    assert all(
        c in vocab.DEPARTMENTS[d].complaints
        for c, d in zip(cons.complaint, cons.department, strict=True)
    )


def test_churn_labels_for_any_as_of_date(small_out, small_config):
    from careops.sim.truth import churn_labels

    cfg = small_config()
    as_of = cfg.start + dt.timedelta(days=100)
    labels = churn_labels(small_out, as_of, 30).to_pandas().set_index("user_id")
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    truth = truth.set_index("user_id")
    pat = read(small_out, "patients").to_pandas().set_index("user_id")
    local_reg = (pat.registered_at + pd_offset(cfg)).dt.date
    expected = truth[(local_reg.loc[truth.index] < as_of) & (truth.true_stop_date > as_of)]
    assert set(labels.index) == set(expected.index) and len(labels) > 100
    soon = expected.true_stop_date <= as_of + dt.timedelta(days=30)
    assert (labels.stops_within.loc[expected.index] == soon).all()
    assert 0 < soon.mean() < 1
    # nobody labelled as staying is seen gone; everyone labelled is seen before as_of
    ev = read(small_out, "events").to_pandas()
    seen = set(ev[(ev.ts + pd_offset(cfg)).dt.date < as_of].user_id)
    assert set(labels.index) <= seen


def test_consents_answer_at_sign_up_and_some_withdraw_later(small_out, small_config):
    """Every patient answers the marketing question a minute after sign-up (most grant); some
    granters withdraw later, more of those who went quiet; nobody withdraws before answering."""
    cfg = small_config()
    cons = pq.read_table(small_out / "consents.parquet").to_pandas()
    patients = pq.read_table(small_out / "patients.parquet").to_pandas()
    signup = cons[cons.source == "signup"]
    assert len(signup) == len(patients) and set(signup.channel) == {"all"}
    share = signup.granted.mean()
    assert abs(share - cfg.consent_marketing_p) < 0.05
    later = cons[cons.source == "settings"]
    assert len(later) > 0 and (later.granted == 0).all()
    granted_users = set(signup[signup.granted == 1].user_id)
    assert set(later.user_id) <= granted_users
    first = signup.set_index("user_id").ts
    assert (later.ts.to_numpy() > first.loc[later.user_id].to_numpy()).all()
    truth = pq.read_table(small_out / "ground_truth" / "users.parquet").to_pandas()
    quiet = set(truth[truth.true_stop_date <= cfg.end].user_id)
    rate_quiet = later.user_id.isin(quiet).sum() / max(len(granted_users & quiet), 1)
    rate_alive = (~later.user_id.isin(quiet)).sum() / max(len(granted_users - quiet), 1)
    assert rate_quiet > rate_alive

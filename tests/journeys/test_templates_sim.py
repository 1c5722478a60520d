"""Shipped templates end to end on a small simulated hospital, through the CLI: `journeys run
--respond` (the simulator answers every send, its answers land in the warehouse), the send log
export, dry-run. Every send is then checked against the policy's rules by an independent
reading of the warehouse and the log: consent, marketing caps, quiet hours."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.journeys import store
from careops.sim import SimConfig, simulate
from careops.sim.writer import table_paths
from careops.state.store import connect_state
from careops.warehouse import connect, create_tables

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    base = tmp_path_factory.mktemp("hospital")
    cfg = SimConfig(
        users=400, days=90, seed=5, start=dt.date(2025, 2, 1), chunk_users=250,
        truth_horizon_days=365,
    )  # fmt: skip
    result = simulate(cfg, base / "sim")
    url = f"duckdb:///{base / 'wh.duckdb'}"
    con = connect(url)
    create_tables(con)
    report = ingest_paths(con, table_paths(result.out), settings=get_settings())
    assert report.exit_code == 0
    con.disconnect()
    return base, url, result.out


def test_silent_recall_and_referral_run_on_the_simulator_with_answers(hospital, run_cli, tmp_path):
    _, url, sim = hospital
    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, out, err = run_cli(
        "journeys", "run", "silent_recall", "referral", "--from", "2025-04-10", "--to",
        "2025-04-11", "--respond", "--sim", sim, "-w", url, "--state", state, "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["ticks"] == 48
    assert report["entered"] > 20 and report["sent"] > 10 and report["dispatched"] > 5

    engine = connect_state(state)
    with engine.connect() as conn:
        outbox = conn.execute(sa.select(store.outbox)).all()
        enrol = conn.execute(sa.select(store.enrolments)).all()
    engine.dispose()
    assert {e.journey for e in enrol} == {"silent_recall", "referral"}
    keys = {r.key for r in outbox}
    assert len(keys) == len(outbox)
    messages = [r for r in outbox if r.kind == "message" and r.status == "sent"]
    assert messages

    # the simulator's answers are in the warehouse, each tied to one of our sends
    con = connect(url)
    answers = con.sql(
        "select name, json_extract_string(properties, '$.send_id') as send_id from events "
        "where name in ('message_open', 'message_click') and ts >= '2025-04-09'"
    ).to_pyarrow()
    consents = con.table("consents").to_pyarrow().to_pylist()
    con.disconnect()
    ours = [s for s in answers["send_id"].to_pylist() if s and s.startswith("j:")]
    assert sum(report["responses"].get(k, 0) for k in ("events",)) >= len(ours) > 0
    assert set(ours) <= keys

    # independent checks of every message sent
    def granted(user: str, channel: str, at: dt.datetime) -> bool:
        rows = [
            c for c in consents
            if c["user_id"] == user and c["channel"] in (channel, "all")
            and c["purpose"] in ("marketing", "all")
            and c["ts"].replace(tzinfo=dt.UTC) <= at
        ]  # fmt: skip
        if not rows:
            return False
        latest = max(c["ts"] for c in rows)
        return all(c["granted"] for c in rows if c["ts"] == latest)

    per_day = Counter()
    for m in messages:
        sent = store.utc(m.decided_at)
        local = sent.astimezone(TZ)
        assert 8 <= local.hour < 21, (m.key, local)  # quiet hours 21:00–08:00
        if m.purpose == "marketing":
            assert granted(m.user_id, m.channel, sent), m.key
            per_day[(m.user_id, local.date())] += 1
    assert all(n <= 1 for n in per_day.values())  # marketing ≤ 1 a day

    # the send log: one row per decision, statuses from the documented set
    log = tmp_path / "sends.csv"
    code, out, err = run_cli("sends", "export", "--out", log, "--state", state, "-w", url)
    assert code == 0, err
    with log.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {
        "user_id", "journey", "step", "channel", "purpose", "decided_at", "sent_at", "status",
        "reason", "idempotency_key",
    }  # fmt: skip
    assert {r["status"] for r in rows} <= {"sent", "delivered", "suppressed", "deferred", "failed"}
    sent_rows = [r for r in rows if r["status"] == "sent"]
    assert {r["idempotency_key"] for r in sent_rows} == {r.key for r in outbox}
    assert all(r["decided_at"].endswith("Z") for r in rows)
    assert all(r["reason"] for r in rows if r["status"] in ("suppressed", "deferred"))

    # replaying the same days again changes nothing
    code, out, _ = run_cli(
        "journeys", "run", "silent_recall", "referral", "--from", "2025-04-10", "--to",
        "2025-04-11", "-w", url, "--state", state, "--json", "--channel", "file",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["sent"] == 0


def test_dry_run_names_who_would_enter_and_writes_nothing(hospital, run_cli, tmp_path):
    _, url, _ = hospital
    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, out, err = run_cli(
        "journeys", "dry-run", "silent_recall", "--as-of", "2025-04-10", "-w", url,
        "--state", state, "--json",
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    con = connect(url)
    from careops.segments.evaluate import members

    # the schedule fired at 10:00 the day before: its audience as of that day
    expected = members(con, "inactive_days >= 7", dt.date(2025, 4, 9)).count().execute()
    con.disconnect()
    assert plan["entrants"] == expected > 0
    for p in plan["planned"]:
        assert p["path"][0] == "by_silence"
    assert sum(bool(p["actions"]) for p in plan["planned"]) > 0
    engine = connect_state(state)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.enrolments)).scalar() == 0
    engine.dispose()


@pytest.mark.parametrize(
    "args, message",
    [
        (["journeys", "run", "no_such_journey", "--from", "2025-04-10", "--to", "2025-04-11"],
         "no_such_journey"),
        (["journeys", "run", "referral", "--from", "2025-04-12", "--to", "2025-04-11"], "before"),
        (["journeys", "run", "referral", "--from", "10/04/2025", "--to", "2025-04-11"],
         "YYYY-MM-DD"),
        (["journeys", "run", "referral", "--from", "2025-04-10", "--to", "2025-04-11",
          "--respond"], "--sim"),
        (["journeys", "run", "referral", "--from", "2025-04-10", "--to", "2025-04-11",
          "--step", "0m"], "step"),
        (["sends", "export", "--out", "x.txt"], ".csv"),
    ],
)  # fmt: skip
def test_bad_commands_say_what_is_wrong(run_cli, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*args)
    assert code != 0
    assert message in out + err


def test_measurement_counts_answers_and_attributes_the_orders_the_sends_caused(
    hospital, run_cli, tmp_path
):
    import shutil

    import numpy as np
    import pyarrow.parquet as pq

    from careops.sim.config import SimConfig as Cfg

    _, url, sim = hospital
    own = tmp_path / "wh.duckdb"  # keys are unique per state store: a warehouse of its own
    shutil.copy(url.removeprefix("duckdb:///"), own)
    url = f"duckdb:///{own}"
    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, out, err = run_cli(
        "journeys", "run", "silent_recall", "--from", "2025-04-13", "--to", "2025-04-15",
        "--respond", "--sim", sim, "-w", url, "--state", state, "--json",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(
        "journeys", "measure", "silent_recall", "-w", url, "--state", state, "--json"
    )
    assert code == 0, err
    m = json.loads(out)
    steps = {s["step"]: s for s in m["steps"]}
    engine = connect_state(state)
    with engine.connect() as conn:
        sent = conn.execute(sa.select(store.outbox).where(store.outbox.c.kind == "message")).all()
    engine.dispose()
    assert sum(s["sent"] for s in m["steps"] if s["step"] in ("points_msg", "plan_80")) == len(sent)

    con = connect(url)
    ev = (
        con.sql(
            "select name, json_extract_string(properties, '$.send_id') as k from events "
            "where name in ('message_open', 'message_click')"
        )
        .to_pyarrow()
        .to_pylist()
    )
    caused = con.sql("select order_id, amount_cny from orders").to_pyarrow().to_pylist()
    con.disconnect()
    keys = {r.key: r for r in sent}
    opened = {e["k"] for e in ev if e["name"] == "message_open" and e["k"] in keys}
    assert sum(s["opened"] for s in steps.values()) == len(opened)
    clicked = {e["k"] for e in ev if e["name"] == "message_click" and e["k"] in keys}
    assert sum(s["clicked"] for s in steps.values()) == len(clicked)
    # every order the simulator says a send caused is attributed (last touch, 7 days)
    ours = [o for o in caused if o["order_id"].removesuffix("-order") in keys]
    assert sum(s["converted"] for s in steps.values()) >= len(ours)
    assert sum(s["revenue"] for s in steps.values()) >= sum(o["amount_cny"] for o in ours) - 1e-6

    # opens against the simulator's ground truth: the expected number of opens of these sends
    truth = pq.read_table(sim / "ground_truth" / "users.parquet").to_pandas().set_index("user_id")
    cfg = Cfg.model_validate_json((sim / "ground_truth" / "config.json").read_text())
    p = []
    for r in sent:
        row = truth.loc[r.user_id]
        f = 1.0 if row["preferred_channel"] == r.channel else cfg.off_channel_factor
        day = (store.utc(r.decided_at) + dt.timedelta(hours=cfg.timezone_offset_hours)).date()
        if day >= row["true_stop_date"]:
            f *= cfg.stopped_response_factor
        p.append(row["open_propensity"] * f)
    p = np.array(p)
    expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert abs(len(opened) - expected) <= 4 * sd + 1, (len(opened), expected, sd)


def _expected_alerts(con, start: dt.datetime, end: dt.datetime) -> dict[str, dt.datetime]:
    """An independent reading of the rule: glucose > 13.9 mmol/L on 3 local days running;
    the alert comes with the first high reading of the third day."""
    obs = con.table("observations").to_pandas()
    high = obs[obs.code.isin(["2339-0", "2345-7", "15074-8", "14749-6"]) & (obs.value > 13.9)]
    out = {}
    for user, g in high.groupby("user_id"):
        ts = sorted(t.to_pydatetime().astimezone(dt.UTC) for t in g.ts)
        first: dict[dt.date, dt.datetime] = {}
        for t in ts:
            first.setdefault(t.astimezone(TZ).date(), t)
        days = sorted(first)
        for i in range(2, len(days)):
            if (days[i] - days[i - 2]).days == 2 and start < first[days[i]] <= end:
                out[user] = first[days[i]]
                break
    return out


def test_new_user_and_glucose_alert_enrol_from_registrations_and_glucose_runs(
    hospital, run_cli, tmp_path
):
    _, url, _ = hospital
    con = connect(url)
    everything = _expected_alerts(con, dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                                  dt.datetime(2100, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    assert everything, "the simulator writes runs of high glucose readings"
    day = min(everything.values()).astimezone(TZ).date()
    start = dt.datetime.combine(day, dt.time(), tzinfo=TZ)
    end = start + dt.timedelta(days=2)
    alerts = _expected_alerts(con, start, end)
    patients = con.table("patients").to_pandas()
    reg = patients.registered_at.map(lambda t: t.to_pydatetime().astimezone(dt.UTC))
    registered = set(patients.user_id[(reg > start) & (reg <= end)])
    con.disconnect()

    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, _, err = run_cli(
        "journeys", "run", "new_user", "glucose_alert", "--from", f"{start:%Y-%m-%dT%H:%M}",
        "--to", f"{end:%Y-%m-%dT%H:%M}", "-w", url, "--state", state, "--json",
    )  # fmt: skip
    assert code == 0, err
    engine = connect_state(state)
    with engine.connect() as conn:
        enrol = conn.execute(sa.select(store.enrolments)).all()
        tasks_raised = conn.execute(
            sa.select(store.outbox.c.user_id).where(
                store.outbox.c.journey == "glucose_alert", store.outbox.c.kind == "task"
            )
        ).scalars()
        tasks_raised = set(tasks_raised)
    engine.dispose()
    by_journey: dict[str, set[str]] = {}
    for e in enrol:
        by_journey.setdefault(e.journey, set()).add(e.user_id)
    assert registered and by_journey.get("new_user") == registered
    assert alerts and by_journey.get("glucose_alert") == set(alerts)
    assert tasks_raised == set(alerts)  # each alert raised its 1-hour task, night included

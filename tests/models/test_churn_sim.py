"""Churn on the simulator, against the hidden truth, through the CLI.

8,000 simulated patients over 2025 (seed 11). A model trained as of the day after the window
(facts before it only) is scored against `careops.sim.churn_labels(dir, as_of, 7)` — who truly
stops within 7 days among those truly still users — beside the oracle (each user's hidden
daily hazard as 1 − (1 − h)^7) and the recency-only baseline. A model trained 40 days earlier
is also checked against the observable label (its facts are in the warehouse).

Measured with this seed (docs/models.md): truth AUC 0.678 (oracle 0.740, 0.92×), PR-AUC 0.29,
top-decile lift 2.2, recency baseline AUC 0.48; observed AUC 0.737, ECE 0.086 on 303
patients. The thresholds sit a little under these values.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.models.churn import service
from careops.service import Actor, Ops
from careops.sim import SimConfig, simulate
from careops.sim.writer import table_paths
from careops.warehouse import connect, create_tables

pytestmark = pytest.mark.slow
END = dt.date(2026, 1, 1)
EARLY = END - dt.timedelta(days=55)  # its observed label needs 7 + 45 days of facts


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn-sim")
    cfg = SimConfig(users=8000, days=365, seed=11, start=dt.date(2025, 1, 1), chunk_users=8000)
    assert cfg.end == END
    out = simulate(cfg, root / "sim").out
    url = f"duckdb:///{root / 'wh.duckdb'}"
    con = connect(url)
    create_tables(con)
    assert ingest_paths(con, table_paths(out), settings=get_settings()).exit_code == 0
    con.disconnect()
    ops = Ops.open(url)
    late = service.train(ops, END)
    early = service.train(ops, EARLY)
    return {"root": root, "sim": out, "url": url, "ops": ops, "late": late, "early": early}


def test_against_the_hidden_truth_and_the_oracle(hospital):
    ev = service.evaluate(
        hospital["ops"], END, model_id=hospital["late"].model_id, sim_dir=hospital["sim"]
    )
    model, base, oracle = (ev.truth[k] for k in ("model", "baseline_recency", "oracle"))
    assert model.n == oracle.n >= 900 and 0.12 < model.base_rate < 0.22
    assert model.auc >= 0.65
    assert model.auc >= 0.88 * oracle.auc
    assert model.auc >= base.auc + 0.15
    assert model.pr_auc >= 0.25 and model.top_decile_lift >= 2.0
    assert oracle.auc > model.auc  # the hidden hazard stays the ceiling
    assert not ev.observed  # no facts after the window: no observed label
    # the report is kept beside the model
    folder = Path(hospital["url"].removeprefix("duckdb:///")).parent / "models" / "churn"
    assert (folder / hospital["late"].model_id / f"evaluation-{END}.json").is_file()


def test_against_the_observed_label(hospital):
    ev = service.evaluate(hospital["ops"], EARLY, model_id=hospital["early"].model_id)
    model, base = ev.observed["model"], ev.observed["baseline_recency"]
    assert model.n >= 250 and 0.4 < model.base_rate < 0.6
    assert model.auc >= 0.70 and model.auc >= base.auc + 0.12
    assert model.ece <= 0.12
    # the truth is known for this date too (no oracle: the simulator keeps end-of-window hazards)
    assert (
        "oracle"
        not in service.evaluate(
            hospital["ops"], EARLY, model_id=hospital["early"].model_id, sim_dir=hospital["sim"]
        ).truth
    )


def test_cli_score_writes_scores_and_reasons_with_an_audit_row(hospital, run_cli, tmp_path):
    from careops.state import connect_state, read_audit

    out = tmp_path / "churn.parquet"
    code, stdout, err = run_cli(
        "churn", "score", "--as-of", END, "--out", out, "--json", "--warehouse", hospital["url"]
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["model_id"] == hospital["late"].model_id  # the newest usable model
    t = pq.read_table(out)
    assert t.column_names == [
        "user_id",
        "churn_score",
        "churn_probability",
        "reasons",
        "churn_driver",
    ]
    assert t.num_rows == summary["patients"] > 3000
    scores = t.column("churn_score").to_pylist()
    assert min(scores) >= 0 and max(scores) <= 100
    rows = t.to_pylist()
    risky = [r for r in rows if r["churn_score"] >= 50]
    assert risky and all(r["reasons"] for r in risky)
    assert all(len(r["reasons"].split("; ")) <= 3 for r in rows)
    state = connect_state(Ops.open(hospital["url"]).state_url)  # this test's state store
    assert [r for r in read_audit(state) if r["action"] == "churn.score.export"]


def test_cli_refuses_a_model_trained_on_later_data(hospital, run_cli):
    code, _, err = run_cli(
        "churn",
        "score",
        "--as-of",
        EARLY,
        "--model",
        hospital["late"].model_id,
        "--warehouse",
        hospital["url"],
    )
    assert code == 3 and "after the scoring date" in " ".join(err.split())
    # without --model the newest model trained as of that date or earlier is used
    code, stdout, err = run_cli(
        "churn", "score", "--as-of", EARLY, "--json", "--warehouse", hospital["url"]
    )
    assert code == 0, err
    assert json.loads(stdout)["model_id"] == hospital["early"].model_id


def test_cli_evaluate_and_models_list_show(hospital, run_cli, tmp_path):
    out = tmp_path / "eval.json"
    code, stdout, err = run_cli(
        "churn",
        "evaluate",
        "--as-of",
        END,
        "--sim",
        hospital["sim"],
        "--out",
        out,
        "--warehouse",
        hospital["url"],
    )
    assert code == 0, err
    assert "oracle" in stdout and "AUC" in stdout
    saved = json.loads(out.read_text("utf-8"))
    assert set(saved["truth"]) == {"model", "baseline_recency", "oracle"}
    page = out.with_suffix(".html").read_text("utf-8")
    assert "可靠性曲线" in page and "echarts.init" in page and "<script src" not in page
    code, stdout, _ = run_cli("models", "list", "--json", "--warehouse", hospital["url"])
    ids = [m["model_id"] for m in json.loads(stdout)]
    assert ids == [hospital["late"].model_id, hospital["early"].model_id]
    code, stdout, _ = run_cli(
        "models", "show", hospital["early"].model_id, "--json", "--warehouse", hospital["url"]
    )
    meta = json.loads(stdout)
    assert meta["as_of"] == EARLY.isoformat() and meta["fingerprint"]["rows"]["events"] > 0
    assert meta["libraries"]["lightgbm"] and meta["settings"]["horizon_days"] == 7
    assert len(meta["evaluation"]["training_dates"]) == 14  # 16 dates: 2 for stop, calibration


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (["score", "--as-of", "2099-01-01"], "future", 2),
        (["score", "--as-of", "2026-01-01", "--out", "x.txt"], ".csv or .parquet", 2),
        (["score", "--as-of", "2026-01-01", "--model", "../../x"], "not a model id", 2),
        (["score", "--as-of", "2025-02-01"], "no churn model", 2),
        (["evaluate", "--as-of", "2026-01-01", "--sim", "/nonexistent"], "not a simulator", 2),
        (["train", "--as-of", "2025-02-01"], "too little history", 2),
    ],
)
def test_cli_bad_input(hospital, run_cli, args, words, code):
    got, _, err = run_cli("churn", *args, "--warehouse", hospital["url"])
    assert got == code and words in " ".join(err.split()) and "Traceback" not in err


def test_the_api_lists_models_and_pages_churn_scores_highest_first(hospital, tmp_path):
    from fastapi.testclient import TestClient

    from careops.api.app import create_app
    from tests.api.world import add_staff, isolated_settings, login

    settings = isolated_settings()
    state = f"sqlite:///{tmp_path / 's.db'}"
    app = create_app(settings, warehouse=hospital["url"], state=state)
    admin = Ops.open(hospital["url"], state, settings=settings, actor=Actor("t", "os"))
    with TestClient(app) as client:
        analyst = login(client, add_staff(admin, "analyst"))
        auditor = login(client, add_staff(admin, "auditor"))
        ops_staff = login(client, add_staff(admin, "operations"))
        models = client.get("/api/v1/models", params={"kind": "churn"}, headers=analyst).json()
        assert {m["model_id"] for m in models} >= {hospital["late"].model_id}
        one = client.get(f"/api/v1/models/{hospital['late'].model_id}", headers=analyst).json()
        assert one["as_of"] == END.isoformat() and one["fingerprint"]
        url = "/api/v1/models/churn/scores"
        q = {"as_of": END.isoformat(), "limit": 20, "min_score": 50}
        page = client.get(url, params=q, headers=ops_staff).json()
        scores = [r["churn_score"] for r in page["items"]]
        assert page["model_id"] == hospital["late"].model_id and len(scores) == 20
        assert scores == sorted(scores, reverse=True) and min(scores) >= 50
        assert page["total"] == page["bands"]["high(>=80)"] + page["bands"]["mid(50-79)"]
        assert all(r["reasons"] for r in page["items"])
        nxt = client.get(url, params={**q, "offset": 20}, headers=ops_staff).json()
        assert not {r["user_id"] for r in nxt["items"]} & {r["user_id"] for r in page["items"]}
        early = client.get(url, params={"as_of": EARLY.isoformat()}, headers=analyst).json()
        assert early["model_id"] == hospital["early"].model_id  # the model of that day
        assert client.get(url, params=q, headers=auditor).status_code == 403
        # an analyst (pseudonymous scope) gets the counts, never patient ids
        withheld = client.get(url, params=q, headers=analyst).json()
        assert withheld["ids_withheld"] and withheld["items"] == []
        assert withheld["total"] == page["total"] and withheld["bands"] == page["bands"]
        assert not page["ids_withheld"]
        bad = client.get("/api/v1/models/..%2F..%2Fetc", headers=analyst)
        assert bad.status_code in (404, 422)
    from careops.state.store import read_audit

    assert "churn.score.read" in [r["action"] for r in read_audit(admin.state)]
    admin.close()


def test_stored_scores_become_smart_tags_for_tags_and_segments(hospital):
    from careops.models.clv import service as clv
    from careops.segments.evaluate import count
    from careops.state.store import read_audit
    from careops.tags.compute import compute_tags

    ops = hospital["ops"]
    churn = service.score(ops, END, store=True).table.to_pylist()
    value = clv.score(ops, END, store=True).table.to_pylist()
    names = ["churn_score", "churn_reasons", "churn_driver", "predicted_ltv", "ltv_tier_predicted"]
    with ops.warehouse(read_only=True) as con:
        tags = {r["user_id"]: r for r in compute_tags(con, END, names).to_pylist()}
        high = count(con, "churn_score >= 80", END)
    assert all(tags[r["user_id"]]["churn_score"] == r["churn_score"] for r in churn)
    assert all(tags[r["user_id"]]["churn_reasons"] == r["reasons"] for r in churn)
    assert all(tags[r["user_id"]]["churn_driver"] == r["churn_driver"] for r in churn)
    scored = {r["user_id"] for r in churn}
    assert all(t["churn_score"] is None for u, t in tags.items() if u not in scored)
    assert high == sum(r["churn_score"] >= 80 for r in churn) > 0
    assert all(
        abs(tags[r["user_id"]]["predicted_ltv"] - r["predicted_value"]) < 0.01
        and tags[r["user_id"]]["ltv_tier_predicted"] == r["ltv_tier"]
        for r in value
    )
    actions = [r["action"] for r in read_audit(ops.state)]
    assert "churn.score.store" in actions and "clv.score.store" in actions


def test_reasons_diagnosis_against_the_simulators_true_driver(hospital):
    """Leavers diagnosed from the facts before they went quiet, against the driver the
    simulator drew their stop from (`sim.engine.stop_driver`)."""
    from careops.models.churn.drivers import DRIVERS

    r = service.reasons_report(
        hospital["ops"], END, model_id=hospital["late"].model_id, sim_dir=hospital["sim"]
    )
    assert sum(r.at_risk.counts.values()) == r.at_risk.patients > 500
    assert r.at_risk.mean_score >= 50 and set(r.at_risk.counts) == set(DRIVERS)
    assert r.churned is not None and r.churned.patients > 500
    confirm = get_settings().models.churn_confirm_days
    assert r.churned_window == (
        END - dt.timedelta(days=confirm + 28),
        END - dt.timedelta(days=confirm),
    )
    t = r.truth
    assert t is not None and t.patients > 0.8 * r.churned.patients
    # most true leavers of this simulator leave in their first weeks (`new_user`) or at their
    # settled rate (`unknown`): both are mostly found (measured 0.77 overall; answering
    # "new_user" for everyone scores 0.83 overall but a balanced agreement of only
    # 1 / (true drivers), here 0.25 against 0.40). The few leavers who stopped over complaints
    # (9 of 780) are not found: docs/models.md, gaps.
    assert t.by_true_driver["new_user"]["found"] >= 0.7
    assert t.by_true_driver["unknown"]["found"] >= 0.7
    assert t.agreement >= 0.7
    assert t.balanced_agreement > 1.5 / len(t.by_true_driver)


def test_one_patients_reasons_add_up_to_the_model_margin(hospital):
    from careops.errors import NotFound
    from careops.models.churn.diagnosis import contributions
    from careops.models.churn.drivers import FEATURE_DRIVER
    from careops.models.churn.evaluate import population

    ops = hospital["ops"]
    # the contributions and the bias add up to LightGBM's raw score, for every patient
    _, model = service.load(ops, END, hospital["late"].model_id)
    with ops.warehouse(read_only=True) as con:
        f = population(con, END, ops.settings)
        everyone = set(con.table("patients").user_id.to_pyarrow().to_pylist())
    contrib, bias = contributions(model, f)
    margin = model.booster.predict(f.matrix(model.encoding, model.features), raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1) + bias, margin, rtol=0, atol=1e-9)
    # one patient: the same score, reasons and driver as the scoring run
    table = service.score(ops, END).table
    risky = table.filter(pc.greater_equal(table["churn_score"], 60)).to_pylist()[0]
    p = service.patient_reasons(ops, END, risky["user_id"])
    assert p.churn_score == risky["churn_score"] and p.driver == risky["churn_driver"]
    assert "; ".join(p.reasons) == risky["reasons"]
    i = list(f.user_id).index(risky["user_id"])
    assert abs(p.margin - margin[i]) < 1e-3 and abs(p.bias - bias[i]) < 1e-3
    assert p.items and all(item.contribution > 0 for item in p.items)
    assert all(FEATURE_DRIVER[item.feature] == item.driver for item in p.items)
    assert [item.contribution for item in p.items] == sorted(
        (item.contribution for item in p.items), reverse=True
    )
    with pytest.raises(NotFound, match="no patient"):
        service.patient_reasons(ops, END, "no-such-patient")
    gone = sorted(everyone - set(f.user_id))[0]  # registered, silent for over 90 days
    with pytest.raises(NotFound, match="not scored"):
        service.patient_reasons(ops, END, gone)


def test_cli_reasons_population_patient_and_bad_input(hospital, run_cli, tmp_path):
    out = tmp_path / "reasons.json"
    args = ["--warehouse", hospital["url"]]
    code, stdout, err = run_cli(
        "churn", "reasons", "--as-of", END, "--sim", hospital["sim"], "--out", out, *args
    )
    assert code == 0, err
    assert "服务体验" in stdout and "新用户期" in stdout and "与模拟器真值对照" in stdout
    saved = json.loads(out.read_text("utf-8"))
    assert saved["truth"]["patients"] > 0 and saved["at_risk"]["phrases"]
    code, stdout, err = run_cli("--lang", "en", "churn", "reasons", "--as-of", END, *args)
    assert code == 0, err
    assert "New-user period" in stdout and "Drivers of the patients at risk" in stdout
    uid = service.score(hospital["ops"], END).table.column("user_id")[0].as_py()
    code, stdout, err = run_cli("churn", "reasons", "--as-of", END, "--user", uid, "--json", *args)
    assert code == 0, err
    one = json.loads(stdout)
    assert one["user_id"] == uid and one["driver"] and "items" in one
    for bad, words in (
        (["--out", "x.csv"], ".json"),
        (["--user", uid, "--sim", str(hospital["sim"])], "--user"),
        (["--min-score", "101"], "less than or equal to 100"),
        (["--sim", "/nonexistent"], "not a simulator"),
        (["--user", "nobody"], "no patient"),
    ):
        code, _, err = run_cli("churn", "reasons", "--as-of", END, *bad, *args)
        assert code != 0 and words in " ".join(err.split()) and "Traceback" not in err, bad


def test_the_api_serves_reasons_by_role_with_an_audit_row(hospital, tmp_path):
    from fastapi.testclient import TestClient

    from careops.api.app import create_app
    from careops.state.store import read_audit
    from tests.api.world import add_staff, isolated_settings, login

    settings = isolated_settings()
    state = f"sqlite:///{tmp_path / 's.db'}"
    app = create_app(settings, warehouse=hospital["url"], state=state)
    admin = Ops.open(hospital["url"], state, settings=settings, actor=Actor("t", "os"))
    uid = service.score(hospital["ops"], END).table.column("user_id")[0].as_py()
    with TestClient(app) as client:
        analyst = login(client, add_staff(admin, "analyst"))
        operations = login(client, add_staff(admin, "operations"))
        doctor = login(client, add_staff(admin, "medical", ("眼科不存在",)))
        q = {"as_of": END.isoformat()}
        pop = client.get("/api/v1/models/churn/reasons", params=q, headers=analyst)
        assert pop.status_code == 200, pop.text
        body = pop.json()
        assert body["model_id"] == hospital["late"].model_id and "truth" not in body
        assert sum(body["at_risk"]["counts"].values()) == body["at_risk"]["patients"]
        url = f"/api/v1/models/churn/reasons/{uid}"
        one = client.get(url, params=q, headers=operations)
        assert one.status_code == 200, one.text
        assert one.json()["user_id"] == uid and one.json()["items"]
        # analysts see no patient one by one; a doctor only their department's patients
        assert client.get(url, params=q, headers=analyst).status_code == 403
        assert client.get(url, params=q, headers=doctor).status_code == 403
        bad = client.get("/api/v1/models/churn/reasons", params={**q, "weeks": 0}, headers=analyst)
        assert bad.status_code == 422
    actions = [r["action"] for r in read_audit(admin.state)]
    assert "churn.reasons.report" in actions and "churn.reasons.patient" in actions
    admin.close()

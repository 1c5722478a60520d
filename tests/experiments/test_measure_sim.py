"""End to end on the simulator: a coupon experiment whose true uplift is known.

Users registered before the start are exposed (the global control group is held out); the
treatment arm gets coupon messages on their own channel through `careops.sim.respond`, whose
caused orders are loaded into the warehouse next to the simulated history. ARPU over the
experiment window must estimate the ground-truth uplift: Σ over sends of
P(order caused) × coupon price, P = `uplift_order_coupon` × (stopped_response_factor if the user
had truly stopped by the send), averaged over the exposed users.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow.compute as pc
import pytest

from careops.config import get_settings
from careops.experiments.definition import ExperimentDefinition
from careops.experiments.exposure import exposure_table
from careops.experiments.measure import analyze_stored
from careops.experiments.store import log_exposures, save_definition
from careops.ingest.pipeline import ingest_paths
from careops.metrics.registry import all_metrics
from careops.sim import SimConfig, simulate, vocab
from careops.sim.respond import load_truth, respond
from careops.sim.writer import table_paths
from careops.state import connect_state, migrate
from careops.warehouse import connect, create_tables
from tests.conftest import fill

UTC8 = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2025, 6, 1, tzinfo=UTC8).astimezone(dt.UTC)
END = dt.datetime(2025, 6, 15, tzinfo=UTC8).astimezone(dt.UTC)
SENDS = 10  # coupon messages per treatment user, one a day from the exposure
PRICE = vocab.TITLES[1][1] - 10.0  # SVC-CONSULT-1 with the coupon off


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp-sim")
    cfg = SimConfig(
        users=8000,
        days=120,
        seed=7,
        start=dt.date(2025, 3, 1),
        chunk_users=4000,
        truth_horizon_days=365,
    )
    out = simulate(cfg, root / "sim").out
    con = connect(f"duckdb:///{root / 'wh.duckdb'}")
    create_tables(con)
    report = ingest_paths(con, table_paths(out), settings=get_settings())
    assert report.exit_code == 0
    engine = connect_state(f"sqlite:///{root / 'state.db'}")
    migrate(engine)
    definition = ExperimentDefinition.from_dict(
        {
            "key": "coupon-sim",
            "variants": {"control": 0.5, "coupon": 0.5},
            "start": START.isoformat(),
            "end": END.isoformat(),
            "primary_metrics": ["arpu", "paid_conversion"],
            "guardrail_metrics": ["complaint_rate"],
        }
    )
    save_definition(engine, definition, known_metrics=[m.name for m in all_metrics()])
    truth, sim_cfg = load_truth(out)
    patients = con.table("patients")
    eligible = patients.filter(patients.registered_at < START).user_id.to_pyarrow()
    exposed_at = START + dt.timedelta(hours=2)
    exposures = exposure_table(definition, eligible, exposed_at)
    log_exposures(engine, exposures)
    treated = exposures.filter(pc.equal(exposures.column("variant"), "coupon"))
    idx = pc.index_in(treated.column("user_id"), truth.column("user_id"))
    channel = pc.take(truth.column("preferred_channel"), idx).to_pylist()
    sends = [
        {
            "user_id": u,
            "ts": exposed_at + dt.timedelta(days=k),
            "channel": c,
            "message_type": "coupon",
        }
        for u, c in zip(treated.column("user_id").to_pylist(), channel, strict=True)
        for k in range(SENDS)
    ]
    caused = respond(sends, out, seed=3)
    fill(con, caused)
    # ground truth: expected caused revenue per exposed user
    t = truth.to_pandas().set_index("user_id")
    uplift = t["uplift_order_coupon"]
    stop = t["true_stop_date"]
    effect = []
    for u in exposures.column("user_id").to_pylist():
        days = [(exposed_at + dt.timedelta(days=k)).astimezone(UTC8).date() for k in range(SENDS)]
        factor = sum(sim_cfg.stopped_response_factor if d >= stop[u] else 1.0 for d in days)
        effect.append(uplift[u] * factor * PRICE)
    yield con, engine, float(np.mean(effect)), caused
    con.disconnect()
    engine.dispose()


def test_arpu_lift_covers_the_true_uplift(world):
    con, engine, truth, caused = world
    out = analyze_stored(con, engine, "coupon-sim", as_of=dt.date(2025, 6, 20))
    assert out.exposed["control"] + out.exposed["coupon"] > 4000
    # the truth is what the simulator did: caused revenue per treated user (≈ 260 orders)
    realized = pc.sum(caused["orders"].column("amount_cny")).as_py() / out.exposed["coupon"]
    assert realized == pytest.approx(truth, rel=0.25)
    arpu, conversion, complaints = (m.analysis for m in out.metrics)
    lift = arpu.variants[1].frequentist
    # truth ≈ 5.8 yuan per exposed user; the estimate's CI covers it and excludes 0
    assert lift.absolute_ci[0] <= truth <= lift.absolute_ci[1]
    assert lift.absolute_ci[0] > 0
    assert conversion.kind == "proportion" and conversion.variants[1].adjusted_p_value < 0.001
    assert complaints.kind == "ratio" and complaints.variants[1].error is None
    assert not arpu.srm.flagged


def test_cuped_keeps_the_truth_covered(world):
    con, engine, truth, _ = world
    out = analyze_stored(
        con, engine, "coupon-sim", ["arpu"], as_of=dt.date(2025, 6, 20), cuped=True
    )
    a = out.metrics[0].analysis
    lift = a.variants[1].frequentist
    assert a.cuped_theta > 0 and a.variance_reduction >= 0
    assert lift.absolute_ci[0] <= truth <= lift.absolute_ci[1]

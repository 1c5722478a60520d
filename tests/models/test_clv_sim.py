"""Lifetime value on the simulator, against the hidden truth (`ground_truth/users.parquet`
`expected_spend_365d`: each user's survival-weighted expected spend over the 365 days after the
window). Both BG/NBD variants must rank and concentrate the true value clearly better than
past-year spend read as next year's, the usual spreadsheet forecast.

Measured with this seed (8,000 users, 365 days): see the thresholds below; they sit a little
under the measured values, so a regression of a few points fails.
"""

from __future__ import annotations

import datetime as dt

import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.models.clv.bgnbd import BetaGeoParams, expected_purchases_new
from careops.models.clv.evaluate import simulator_check
from careops.sim import SimConfig, simulate
from careops.sim.writer import table_paths
from careops.warehouse import connect, create_tables


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("clv-sim")
    cfg = SimConfig(users=8000, days=365, seed=11, start=dt.date(2025, 1, 1), chunk_users=8000)
    out = simulate(cfg, root / "sim").out
    con = connect(f"duckdb:///{root / 'wh.duckdb'}")
    create_tables(con)
    assert ingest_paths(con, table_paths(out), settings=get_settings()).exit_code == 0
    try:
        return simulator_check(con, out, cfg.end)
    finally:
        con.disconnect()


def test_predicted_value_beats_past_year_spend(result):
    checks, _ = result
    model, plain, past = checks["registration"], checks["first_purchase"], checks["past_year"]
    assert model.users == 8000
    # ranking and concentration of the true value
    assert model.correlation >= MEASURED["registration"][0] - 0.03
    assert model.spearman >= MEASURED["registration"][1] - 0.03
    assert model.top_decile_share >= MEASURED["registration"][2] - 0.03
    assert plain.correlation >= MEASURED["first_purchase"][0] - 0.03
    assert plain.top_decile_share >= MEASURED["first_purchase"][2] - 0.03
    for m in (model, plain):
        assert m.correlation >= past.correlation + 0.1
        assert m.top_decile_share >= past.top_decile_share + 0.08
    # the registration origin ranks patients who have not bought yet; the classic model cannot
    assert model.spearman > plain.spearman + 0.1
    # aggregate error: every forecast over-states this simulator's truth, whose patients stop at
    # a daily hazard (BG/NBD lets them drop out only after a purchase; see docs/models.md). Since
    # elderly chronic patients buy the ¥1980 annual hypertension package (renewed by ~40 %),
    # BG/NBD + Gamma-Gamma no longer beats past-year spend on the total: a gap stated, kept
    # pinned here so that a change shows
    for name in ("registration", "first_purchase", "past_year"):
        assert checks[name].aggregate_error == pytest.approx(MEASURED[name][3], abs=0.3)


#: (correlation, Spearman, top-decile share, aggregate error) measured with the seed above
MEASURED = {
    "registration": (0.775, 0.496, 0.793, 3.52),
    "first_purchase": (0.781, 0.343, 0.772, 2.74),
    "past_year": (0.657, 0.314, 0.649, 3.19),
    "registration+chronic": (0.726, 0.432, 0.794, 3.87),
    "first_purchase+chronic": (0.732, 0.337, 0.765, 2.97),
}


def test_chronic_segments_fit_better_but_do_not_predict_better(result):
    """Chronic patients buy more and drop out less: a BG/NBD per segment is far more likely
    (likelihood-ratio test), yet against the truth it ranks no better than the pooled model —
    so segmentation is an option (`--segment-by chronic`), not the default."""
    checks, reports = result
    for origin in ("registration", "first_purchase"):
        report = reports[origin]
        assert report.used and report.p_value < 1e-10 and report.df == 4
        chronic, other = report.segments["chronic"]["params"], report.segments["other"]["params"]
        # a new chronic patient is expected to buy on several times as many days in a year
        year = [expected_purchases_new(BetaGeoParams(**p), 365.0) for p in (chronic, other)]
        assert year[0] > 3 * year[1]
        segmented, pooled = checks[f"{origin}+chronic"], checks[origin]
        assert segmented.correlation == pytest.approx(MEASURED[f"{origin}+chronic"][0], abs=0.03)
        assert segmented.spearman <= pooled.spearman + 0.01
        assert segmented.top_decile_share <= pooled.top_decile_share + 0.01

"""A stored experiment analysed over its exposures and registry metrics (hand-built answers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from careops.experiments.analyze import analyze_table
from careops.experiments.measure import analyze_stored
from careops.experiments.store import log_exposures, save_definition
from careops.state import connect_state, migrate
from tests.conftest import fill
from tests.experiments import hand_built as hb

BACKENDS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
SPARK = pytest.param("spark", id="spark", marks=pytest.mark.spark)


@pytest.fixture
def engine(tmp_path):
    eng = connect_state(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(eng)
    save_definition(eng, hb.DEFINITION)
    log_exposures(eng, hb.exposures())
    yield eng
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def con(request, make_warehouse):
    wh = make_warehouse(request.param)
    fill(wh, hb.tables())
    return wh


def _by_name(outcome):
    return {m.name: m for m in outcome.metrics}


@pytest.mark.parametrize("backend", [*BACKENDS, SPARK])
def test_primary_and_guardrail_metrics_match_the_hand_computation(backend, make_warehouse, engine):
    con = make_warehouse(backend)
    fill(con, hb.tables())
    out = analyze_stored(con, engine, hb.KEY, as_of=hb.AS_OF)
    assert out.exposed == {"control": 4, "treat": 4}
    assert out.cutoff == hb.DEFINITION.end
    m = _by_name(out)
    assert [x.role for x in out.metrics] == ["primary", "primary", "guardrail"]

    arpu = m["arpu"].analysis
    assert arpu.kind == "mean" and m["arpu"].per_user
    control, treat = arpu.variants
    assert (control.n, control.mean, treat.mean) == (4, 32.5, 30.0)
    ref = stats.ttest_ind(hb.ARPU["treat"], hb.ARPU["control"], equal_var=False)
    assert treat.frequentist.p_value == pytest.approx(ref.pvalue, rel=1e-9)

    consult = m["consult_rate"].analysis
    assert consult.kind == "proportion"
    assert [v.mean for v in consult.variants] == [0.25, 0.75]

    nps = m["nps"].analysis
    assert nps.kind == "ratio" and not m["nps"].per_user
    assert [v.mean for v in nps.variants] == pytest.approx([25.0, 40.0])
    r_c, se_c = hb.ratio_se([100 * v for v in hb.NPS_NUM["control"]], hb.NPS_DEN["control"])
    r_t, se_t = hb.ratio_se([100 * v for v in hb.NPS_NUM["treat"]], hb.NPS_DEN["treat"])
    f = nps.variants[1].frequentist
    assert f.absolute_lift == pytest.approx(r_t - r_c)
    half = f.absolute_ci[1] - f.absolute_lift
    df = (se_c**2 + se_t**2) ** 2 / (se_c**4 / 3 + se_t**4 / 3)
    assert half == pytest.approx(stats.t.ppf(0.975, df) * np.hypot(se_c, se_t), rel=1e-9)

    # three comparisons corrected together (Holm): the smallest p is multiplied by 3
    p = sorted(x.analysis.variants[1].frequentist.p_value for x in out.metrics)
    adjusted = sorted(x.analysis.variants[1].adjusted_p_value for x in out.metrics)
    assert adjusted[0] == pytest.approx(min(1.0, 3 * p[0]))
    assert out.metrics[0].analysis.srm.p_value == pytest.approx(1.0)


def test_cuped_uses_the_equal_length_pre_period(con, engine):
    out = analyze_stored(con, engine, hb.KEY, ["arpu"], as_of=hb.AS_OF, cuped=True)
    assert out.pre_start == hb.DEFINITION.start - (hb.DEFINITION.end - hb.DEFINITION.start)
    got = out.metrics[0].analysis
    import pyarrow as pa

    rows = pa.table(
        {
            "variant": ["control"] * 4 + ["treat"] * 4,
            "y": hb.ARPU["control"] + hb.ARPU["treat"],
            "x": hb.ARPU_PRE["control"] + hb.ARPU_PRE["treat"],
        }
    )
    ref = analyze_table(rows, "variant", "y", "x", kind="mean", control="control")
    assert got.cuped_theta == pytest.approx(ref.cuped_theta, rel=1e-9)
    assert got.variants[1].frequentist.p_value == pytest.approx(
        ref.variants[1].frequentist.p_value, rel=1e-9
    )


def test_as_of_inside_the_experiment_cuts_the_window_there(con, engine):
    import datetime as dt

    out = analyze_stored(con, engine, hb.KEY, ["arpu"], as_of=dt.date(2025, 6, 6))
    # cut-off 06-06 00:00: c1's 06-03 order counts, t1's 06-05 order counts, 06-06 does not
    control, treat = out.metrics[0].analysis.variants
    assert (control.mean, treat.mean) == (25.0, pytest.approx(80 / 3))
    # t2 was exposed on 06-08: not yet part of the experiment (treat: 80, 0, 0)
    assert out.exposed == {"control": 4, "treat": 3}


def test_control_can_be_chosen(con, engine):
    out = analyze_stored(con, engine, hb.KEY, ["arpu"], as_of=hb.AS_OF, control="treat")
    assert out.metrics[0].analysis.control == "treat"
    assert out.metrics[0].analysis.variants[1].frequentist.absolute_lift == pytest.approx(2.5)

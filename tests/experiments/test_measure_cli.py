"""`careops experiment analyze --experiment KEY`: output, and every bad input named clearly."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from careops.errors import InputError, NotFound
from careops.experiments.definition import ExperimentDefinition
from careops.experiments.exposure import EXPOSURE_SCHEMA
from careops.experiments.measure import analyze_stored
from careops.experiments.store import log_exposures, save_definition
from careops.metrics.errors import AsOfError, MetricError, UnknownMetricError
from careops.state import connect_state, migrate
from careops.warehouse import connect, create_tables
from tests.conftest import fill
from tests.experiments import hand_built as hb
from tests.metrics.hospital import L


@pytest.fixture
def paths(tmp_path):
    state = f"sqlite:///{tmp_path / 'state.db'}"
    engine = connect_state(state)
    migrate(engine)
    save_definition(engine, hb.DEFINITION)
    log_exposures(engine, hb.exposures())
    engine.dispose()
    wh = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    con = connect(wh)
    create_tables(con)
    fill(con, hb.tables())
    con.disconnect()
    return state, wh


@pytest.fixture
def open_both(paths):
    state, wh = paths
    engine, con = connect_state(state), connect(wh)
    yield engine, con
    con.disconnect()
    engine.dispose()


def test_cli_prints_every_metric_in_chinese_with_srm(run_cli, paths):
    state, wh = paths
    code, out, err = run_cli(
        "experiment",
        "analyze",
        "--experiment",
        hb.KEY,
        "--as-of",
        "2025-07-01",
        "--state",
        state,
        "-w",
        wh,
    )
    assert code == 0, err
    for text in (
        "实验 exp-hand",
        "曝光用户",
        "客单价(ARPU) (arpu) · 主要指标",
        "净推荐值(NPS) (nps) · 护栏指标",
        "比率型，delta 法",
        "样本比例检验 (SRM)",
        "校正后 p",
        "跨指标与组别联合校正",
    ):
        assert text in out, text


def test_cli_json_with_cuped(run_cli, paths):
    state, wh = paths
    code, out, err = run_cli(
        "experiment",
        "analyze",
        "-e",
        hb.KEY,
        "--metric",
        "arpu",
        "--metric",
        "nps",
        "--as-of",
        "2025-07-01",
        "--cuped",
        "--json",
        "--state",
        state,
        "-w",
        wh,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["experiment"] == hb.KEY and data["exposed"] == {"control": 4, "treat": 4}
    arpu, nps = data["metrics"]
    assert arpu["measure"] == "per_user" and nps["measure"] == "ratio"
    assert [v["mean"] for v in arpu["variants"]] == [32.5, 30.0]
    assert arpu["cuped_theta"] is not None and nps["cuped_theta"] is not None
    assert data["window"]["pre_start"] == "2025-05-17T16:00:00+00:00"


def test_cli_refuses_file_options_with_experiment(run_cli, paths):
    state, wh = paths
    code, _, err = run_cli(
        "experiment", "analyze", "-e", hb.KEY, "--metric-col", "y", "--state", state, "-w", wh
    )
    assert code == 2 and "drop --metric-col" in err
    code, _, err = run_cli(
        "experiment", "analyze", "x.csv", "--variant-col", "g", "--metric-col", "y", "--cuped"
    )
    assert code == 2 and "--cuped only go(es) with --experiment" in err


def test_unknown_experiment_lists_the_known_ones(open_both):
    engine, con = open_both
    with pytest.raises(NotFound, match=r"no experiment 'exp-hnad'; known: exp-hand"):
        analyze_stored(con, engine, "exp-hnad", as_of=hb.AS_OF)


def test_unknown_metric_names_the_closest(open_both):
    engine, con = open_both
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'arpuu'.*did you mean 'arpu'"):
        analyze_stored(con, engine, hb.KEY, ["arpuu"], as_of=hb.AS_OF)


def test_an_analysis_metric_is_refused_naming_the_usable_ones(open_both):
    engine, con = open_both
    with pytest.raises(MetricError, match=r"'funnel' is an analysis.*use a unit metric: .*arpu"):
        analyze_stored(con, engine, hb.KEY, ["funnel"], as_of=hb.AS_OF)


def test_as_of_before_the_start(open_both):
    engine, con = open_both
    with pytest.raises(
        AsOfError,
        match=r"as_of 2025-05-20 is not after the start of "
        r"experiment 'exp-hand' \(2025-06-01T00:00:00\+08:00\)",
    ):
        analyze_stored(con, engine, hb.KEY, ["arpu"], as_of=dt.date(2025, 5, 20))


def test_control_that_is_not_a_variant(open_both):
    engine, con = open_both
    with pytest.raises(InputError, match=r"control 'ctrl' is not a variant.*control, treat"):
        analyze_stored(con, engine, hb.KEY, ["arpu"], as_of=hb.AS_OF, control="ctrl")


def _second(engine, variants, exposures=()):
    d = ExperimentDefinition.from_dict(
        {
            "key": "exp-two",
            "variants": variants,
            "start": L(2025, 6, 1, 0).isoformat(),
            "end": L(2025, 6, 15, 0).isoformat(),
            "primary_metrics": ["arpu"],
        }
    )
    save_definition(engine, d)
    rows = [
        {"experiment_key": "exp-two", "user_id": u, "variant": v, "exposed_at": L(2025, 6, 2, 10)}
        for u, v in exposures
    ]
    log_exposures(engine, pa.Table.from_pylist(rows, schema=EXPOSURE_SCHEMA))


def test_no_exposures(open_both):
    engine, con = open_both
    _second(engine, {"control": 0.5, "treat": 0.5})
    with pytest.raises(InputError, match=r"experiment 'exp-two' has no exposures yet"):
        analyze_stored(con, engine, "exp-two", as_of=hb.AS_OF)


def test_a_variant_with_no_users_is_shown_in_its_row(open_both):
    engine, con = open_both
    users = hb.CONTROL + hb.TREAT
    _second(
        engine,
        {"control": 0.5, "treat": 0.3, "empty": 0.2},
        [(u, "control" if i % 2 else "treat") for i, u in enumerate(users)],
    )
    out = analyze_stored(con, engine, "exp-two", as_of=hb.AS_OF)
    a = out.metrics[0].analysis
    empty = a.variants[-1]
    assert (empty.variant, empty.n, empty.error) == ("empty", 0, "empty_arm")
    assert out.exposed["empty"] == 0
    assert a.variants[1].error is None


def test_ratio_metric_without_answers_in_an_arm(open_both):
    engine, con = open_both
    # c2 answered, the others did not: exposing only c2 (control) and c3, c4 (treat)
    _second(
        engine,
        {"control": 0.5, "treat": 0.5},
        [("c1", "control"), ("c2", "control"), ("c3", "treat"), ("t4", "treat")],
    )
    out = analyze_stored(con, engine, "exp-two", ["nps"], as_of=hb.AS_OF)
    row = out.metrics[0].analysis.variants[1]
    assert row.n == 2 and row.error == "no_units"

"""Per-user analysis: same numbers as SciPy/statsmodels on the raw rows; clear errors."""

import math

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from careops.errors import ConfigError, InputError
from careops.experiments.analyze import analyze_ibis, analyze_table
from careops.experiments.rows import read_users
from careops.experiments.stats.settings import FrequentistSettings

WEIGHTS = {"control": 0.4, "coupon": 0.3, "sms": 0.3}


def arrays(users, metric):
    group = np.array(users.column("group").to_pylist())
    values = users.column(metric).to_numpy()
    return {g: values[group == g] for g in ("control", "coupon", "sms")}


def row(analysis, name):
    return next(v for v in analysis.variants if v.variant == name)


def test_mean_metric_matches_scipy_welch(users):
    a = analyze_table(users, "group", "spend", weights=WEIGHTS)
    assert a.kind == "mean" and a.control == "control"
    by = arrays(users, "spend")
    for name in ("coupon", "sms"):
        ref = stats.ttest_ind(by[name], by["control"], equal_var=False)
        r = row(a, name)
        assert r.n == len(by[name])
        assert r.mean == pytest.approx(by[name].mean(), rel=1e-12)
        assert r.frequentist.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    p = [row(a, n).frequentist.p_value for n in ("coupon", "sms")]
    holm = multipletests(p, method="holm")[1]
    assert [row(a, n).adjusted_p_value for n in ("coupon", "sms")] == pytest.approx(holm)
    assert not a.srm.flagged and a.notes == ()


def test_proportion_metric_matches_statsmodels(users):
    a = analyze_table(users, "group", "renewed")
    assert a.kind == "proportion"
    by = arrays(users, "renewed")
    _, p = proportions_ztest(
        [by["sms"].sum(), by["control"].sum()], [len(by["sms"]), len(by["control"])]
    )
    assert row(a, "sms").frequentist.p_value == pytest.approx(p, rel=1e-9)
    assert 0.0 <= row(a, "sms").bayesian.chance_to_win <= 1.0
    assert a.notes == ("srm_equal_split",)
    # a 40/30/30 design read as an equal split looks like a broken assignment
    assert a.srm.flagged


def test_cuped_matches_welch_on_adjusted_values(users):
    a = analyze_table(users, "group", "spend", "pre_spend", weights=WEIGHTS)
    y, x = users.column("spend").to_numpy(), users.column("pre_spend").to_numpy()
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    adjusted = y - theta * (x - x.mean())
    group = np.array(users.column("group").to_pylist())
    ref = stats.ttest_ind(
        adjusted[group == "coupon"], adjusted[group == "control"], equal_var=False
    )
    assert a.cuped_theta == pytest.approx(theta, rel=1e-9)
    assert row(a, "coupon").frequentist.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert row(a, "coupon").frequentist.absolute_lift == pytest.approx(
        adjusted[group == "coupon"].mean() - adjusted[group == "control"].mean(), rel=1e-9
    )
    rho = np.corrcoef(x, y)[0, 1]
    assert a.variance_reduction == pytest.approx(rho**2, abs=0.02)
    plain = analyze_table(users, "group", "spend", weights=WEIGHTS)
    width = np.diff(row(a, "coupon").frequentist.absolute_ci)[0]
    plain_width = np.diff(row(plain, "coupon").frequentist.absolute_ci)[0]
    assert width < plain_width * math.sqrt(1 - rho**2) * 1.05


def test_sequential_intervals_are_wider(users):
    fixed = analyze_table(users, "group", "spend", weights=WEIGHTS)
    seq = analyze_table(
        users,
        "group",
        "spend",
        weights=WEIGHTS,
        frequentist=FrequentistSettings(sequential=True),
    )
    f, s = row(fixed, "coupon").frequentist, row(seq, "coupon").frequentist
    assert s.sequential and (s.absolute_ci[1] - s.absolute_ci[0]) > (
        f.absolute_ci[1] - f.absolute_ci[0]
    )


def test_files_round_trip(users, tmp_path):
    pacsv.write_csv(users, tmp_path / "u.csv")
    pq.write_table(users, tmp_path / "u.parquet")
    a = analyze_table(read_users(tmp_path / "u.csv"), "group", "spend")
    b = analyze_table(read_users(tmp_path / "u.parquet"), "group", "spend")
    assert row(a, "coupon").frequentist.p_value == pytest.approx(
        row(b, "coupon").frequentist.p_value, rel=1e-12
    )
    (tmp_path / "u.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file kind"):
        read_users(tmp_path / "u.xlsx")
    with pytest.raises(InputError, match="does not exist"):
        read_users(tmp_path / "missing.csv")


def test_warehouse_path_gives_the_same_answer(users, warehouse):
    """The per-variant sums run inside each backend (DuckDB, PostgreSQL, Spark) and give the
    same comparison as the local file path."""
    warehouse.create_table("experiment_users_test", users)
    remote = analyze_ibis(
        warehouse.table("experiment_users_test"), "group", "spend", "pre_spend", weights=WEIGHTS
    )
    local = analyze_table(users, "group", "spend", "pre_spend", weights=WEIGHTS)
    for name in ("control", "coupon", "sms"):
        assert row(remote, name).n == row(local, name).n
    for name in ("coupon", "sms"):
        assert row(remote, name).frequentist.p_value == pytest.approx(
            row(local, name).frequentist.p_value, rel=1e-9
        )


# ---------------------------------------------------------------- bad input


def table(**columns):
    return pa.table(columns)


GOOD = {"g": ["control", "t", "control", "t"], "y": [1.0, 2.0, 3.0, 5.0]}


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        (GOOD, {"metric_col": "spend"}, InputError, "metric column 'spend' is not in the data"),
        (GOOD, {"variant_col": "grp"}, InputError, "variant column 'grp' is not in the data"),
        ({**GOOD, "y": ["1", "2", "abc", "4"]}, {}, InputError, "text 'abc' at row 3"),
        (
            {**GOOD, "y": [1.0, None, 3.0, float("nan")]},
            {},
            InputError,
            "2 missing value\\(s\\), first at row 2",
        ),
        ({**GOOD, "g": ["control", None, "t", "t"]}, {}, InputError, "variant column 'g' is empty"),
        (GOOD, {"control": "ctl"}, ConfigError, "control 'ctl' is not a variant in column 'g'"),
        ({**GOOD, "g": ["a", "b", "a", "b"]}, {}, ConfigError, "name the control group"),
        ({**GOOD, "g": ["control"] * 4}, {}, InputError, "only one variant"),
        (GOOD, {"weights": {"control": 0.5, "t": 0.4}}, ConfigError, "sum to 0.9, not 1"),
        (
            GOOD,
            {"variants": ["control", "b"]},
            InputError,
            "value 't' \\(2 users\\) that is not a declared variant",
        ),
        (GOOD, {"kind": "proportion"}, InputError, "cannot be a proportion"),
        ({"g": [], "y": []}, {}, InputError, "no rows"),
    ],
)
def test_bad_input_is_a_clear_error(data, kwargs, error, message):
    args = {"variant_col": "g", "metric_col": "y", **kwargs}
    t = pa.table({"g": pa.array(data["g"], pa.string()), "y": data["y"]})
    with pytest.raises(error, match=message):
        analyze_table(t, **args)


def test_numeric_text_is_accepted():
    t = table(g=["control", "t", "control", "t"], y=[" 1", "2.5", "-3e1", "4"])
    a = analyze_table(t, "g", "y")
    assert row(a, "control").mean == pytest.approx((1 - 30) / 2)


def test_declared_variant_without_users_is_a_result_not_a_crash():
    t = table(g=["control", "t"] * 50, y=list(np.arange(100.0)))
    a = analyze_table(t, "g", "y", weights={"control": 0.4, "t": 0.4, "empty": 0.2})
    empty = row(a, "empty")
    assert empty.n == 0 and empty.error == "empty_arm"
    assert a.srm.flagged
    d = a.to_dict("en")
    assert d["variants"][2]["error_message"].startswith("an arm has no users")
    assert d["variants"][2]["frequentist"]["p_value"] is None  # NaN → null in JSON


def test_zero_variance_is_reported_per_variant():
    t = table(g=["control", "t"] * 10, y=[1.0] * 20)
    a = analyze_table(t, "g", "y", kind="mean")
    assert row(a, "t").error == "zero_variance"


def test_experiment_analysis_uses_the_design_and_drops_the_global_control(users):
    from careops.experiments.analyze import analyze_experiment
    from careops.experiments.definition import ExperimentDefinition, Variant

    exp = ExperimentDefinition(
        "renewal-offer",
        (Variant("control", 0.4), Variant("coupon", 0.3), Variant("sms", 0.3)),
        ("spend",),
    )
    held = pa.table(
        {
            "user_id": ["H1", "H2"],
            "group": ["global_control"] * 2,
            "spend": [1e6, 2e6],
            "pre_spend": [0.0, 0.0],
            "renewed": [0, 0],
        }
    )
    con = ibis.duckdb.connect()
    con.create_table("exposures", pa.concat_tables([users, held]))
    a = analyze_experiment(exp, con.table("exposures"), "spend", variant_col="group")
    local = analyze_table(users, "group", "spend", weights=exp.weights)
    assert [v.n for v in a.variants] == [v.n for v in local.variants]
    assert a.weights == exp.weights and not a.srm.flagged


def test_correction_across_metrics_and_variants(users):
    from careops.experiments.analyze import correct_across

    analyses = [analyze_table(users, "group", m, weights=WEIGHTS) for m in ("spend", "renewed")]
    raw = [v.frequentist.p_value for a in analyses for v in a.variants if not v.is_control]
    for method, ref in (("holm", "holm"), ("bh", "fdr_bh")):
        corrected = correct_across(analyses, method)
        got = [v.adjusted_p_value for a in corrected for v in a.variants if not v.is_control]
        assert got == pytest.approx(multipletests(raw, method=ref)[1], rel=1e-12)
        assert all(a.correction == method for a in corrected)


def test_warehouse_table_is_validated_in_the_backend(users, warehouse):
    from careops.experiments.analyze import analyze_warehouse_table

    warehouse.create_table("experiment_users_ok", users)
    a = analyze_warehouse_table(warehouse, "experiment_users_ok", "group", "renewed")
    assert a.kind == "proportion"
    bad = pa.table(
        {
            "g": ["control", "t", "control", "t"],
            "y": pa.array([1.0, None, 3.0, 4.0]),
            "label": ["a", "b", "c", "d"],
        }
    )
    warehouse.create_table("experiment_users_bad", bad)
    with pytest.raises(InputError, match="metric column 'y' has 1 missing value"):
        analyze_warehouse_table(warehouse, "experiment_users_bad", "g", "y")
    with pytest.raises(InputError, match="metric column 'label' has type string"):
        analyze_warehouse_table(warehouse, "experiment_users_bad", "g", "label")
    with pytest.raises(InputError, match="covariate column 'pre' is not in the table"):
        analyze_warehouse_table(warehouse, "experiment_users_bad", "g", "y", "pre")
    with pytest.raises(InputError, match="table 'nope' is not in the warehouse"):
        analyze_warehouse_table(warehouse, "nope", "g", "y")

"""`careops experiment analyze|power` through the real command line."""

import json
import subprocess
import sys

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from careops.cli import app
from careops.errors import ConfigError, InputError

runner = CliRunner()


@pytest.fixture
def users_csv(users, tmp_path):
    path = tmp_path / "users.csv"
    pacsv.write_csv(users, path)
    return path


def test_analyze_json(users_csv):
    result = runner.invoke(
        app,
        [
            "experiment",
            "analyze",
            str(users_csv),
            "--variant-col",
            "group",
            "--metric-col",
            "spend",
            "--covariate-col",
            "pre_spend",
            "--weights",
            "control=0.4,coupon=0.3,sms=0.3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["metric"] == "spend" and data["control"] == "control"
    coupon = data["variants"][1]
    assert coupon["variant"] == "coupon"
    assert coupon["frequentist"]["p_value"] < 0.001  # a planted +6 effect
    assert coupon["frequentist"]["absolute_ci"][0] < 6 < coupon["frequentist"]["absolute_ci"][1]
    assert data["srm"]["flagged"] is False
    assert data["cuped_theta"] > 0


def test_analyze_table_in_chinese_and_english(users_csv):
    base = [
        "experiment",
        "analyze",
        str(users_csv),
        "--variant-col",
        "group",
        "--metric-col",
        "renewed",
    ]
    zh = runner.invoke(app, base)
    assert zh.exit_code == 0, zh.output
    assert "用户数" in zh.output and "胜出概率" in zh.output and "对照组" in zh.output
    en = runner.invoke(app, [*base, "--lang", "en", "--sequential"])
    assert "Chance to win" in en.output and "sequential" in en.output
    # the 40/30/30 design read as an equal split is flagged
    assert "do not trust" in en.output


def test_power_matches_the_library():
    result = runner.invoke(
        app, ["experiment", "power", "--baseline", "0.3", "--mde", "0.1", "--relative", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    from careops.experiments.stats.power import sample_size_proportions

    assert data["control"] == sample_size_proportions(0.3, 0.1, relative=True).control
    table = runner.invoke(
        app, ["experiment", "power", "--kind", "mean", "--mde", "5", "--sd", "40"]
    )
    assert "对照组用户数" in table.output


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--metric-col", "nope"], InputError, "metric column 'nope'"),
        (["--metric-col", "spend", "--control", "ctl"], ConfigError, "control 'ctl'"),
        (
            ["--metric-col", "spend", "--weights", "control=0.5,coupon=0.3,sms=0.3"],
            ConfigError,
            "sum to 1.1",
        ),
        (["--metric-col", "spend", "--weights", "control:0.5"], ConfigError, "--weights must"),
        (["--metric-col", "spend", "--variants", "control,coupon"], InputError, "'sms'"),
    ],
)
def test_bad_options_raise_careops_errors(users_csv, args, error, message):
    result = runner.invoke(
        app, ["experiment", "analyze", str(users_csv), "--variant-col", "group", *args]
    )
    assert isinstance(result.exception, error)
    assert message in str(result.exception)


def test_entry_point_prints_the_error_without_traceback(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("group,spend\ncontrol,1\ntreatment,abc\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from careops.cli import main; main()",
            "experiment",
            "analyze",
            str(path),
            "--variant-col",
            "group",
            "--metric-col",
            "spend",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "text 'abc' at row 3" in proc.stderr  # line 3 of the file (the header is line 1)
    assert "Traceback" not in proc.stderr


def test_analyze_a_warehouse_table(users, tmp_path):
    from careops.warehouse.connect import connect

    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    con = connect(url)
    con.create_table("renewal_users", users)
    con.disconnect()
    base = ["experiment", "analyze", "--variant-col", "group", "--metric-col", "spend"]
    result = runner.invoke(app, [*base, "--table", "renewal_users", "--warehouse", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["variants"][1]["frequentist"]["p_value"] < 0.001
    neither = runner.invoke(app, base)
    assert isinstance(neither.exception, ConfigError)
    assert "either a FILE or --table" in str(neither.exception)


def test_power_echoes_its_inputs_above_the_answer():
    result = runner.invoke(app, ["experiment", "power", "--baseline", "0.3", "--mde", "0.5"])
    assert result.exit_code == 0, result.output
    inputs, table = result.output.split("样本量估算")
    flat = " ".join(inputs.split())
    for part in (
        "基线 → 目标: 30% → 80%",
        "（绝对） +50 个百分点",
        "（相对） +166.7%",
        "α = 0.05",
        "检验效能 80%",
        "双侧检验",
        "= 1 : 1",
    ):
        assert part in flat
    assert "15" in table
    en = runner.invoke(
        app,
        [
            "experiment",
            "power",
            "--kind",
            "mean",
            "--mde",
            "0.05",
            "--relative",
            "--baseline",
            "100",
            "--sd",
            "40",
            "--alpha",
            "0.01",
            "--power",
            "0.9",
            "--ratio",
            "2",
            "--lang",
            "en",
        ],
    )
    flat = " ".join(en.output.split())
    for part in (
        "baseline → target: 100 → 105",
        "MDE (absolute) +5",
        "MDE (relative) +5%",
        "per-user SD 40",
        "α = 0.01",
        "power 90%",
        "two-sided",
        "= 2 : 1",
    ):
        assert part in flat
    data = json.loads(
        runner.invoke(
            app,
            ["experiment", "power", "--baseline", "0.3", "--mde", "0.1", "--relative", "--json"],
        ).output
    )
    assert data["target"] == pytest.approx(0.33) and data["sides"] == 2
    assert (data["mde_absolute"], data["mde_relative"]) == pytest.approx((0.03, 0.1))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["control,1", "control,2", "b,3", "b,", "b,5"], "first at row 5"),
        (["control,1", "control,2", ",3", "b,4"], "first at row 4"),
        (["control,1", "b,2", "b,x"], "text 'x' at row 4"),
    ],
)
def test_file_errors_give_line_numbers_like_ingestion(tmp_path, lines, message):
    import pyarrow.parquet as pq

    path = tmp_path / "users.csv"
    path.write_text("\n".join(["group,spend", *lines]) + "\n")
    args = ["experiment", "analyze", "--variant-col", "group", "--metric-col", "spend"]
    result = runner.invoke(app, [*args, str(path)])
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)
    parquet = tmp_path / "users.parquet"  # no lines: rows count from 1
    pq.write_table(pacsv.read_csv(path), parquet)
    number = int(message.rsplit(" ", 1)[1])
    result = runner.invoke(app, [*args, str(parquet)])
    assert message.replace(str(number), str(number - 1)) in str(result.exception)

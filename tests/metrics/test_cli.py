"""`careops metrics` from the command line: text, JSON, list, and clean errors."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from careops.cli import app, main
from careops.warehouse import connect, create_tables
from tests.conftest import fill
from tests.metrics import hospital as h

runner = CliRunner()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    u = f"duckdb:///{tmp_path_factory.mktemp('cli') / 'wh.duckdb'}"
    con = connect(u)
    create_tables(con)
    fill(con, h.tables())
    con.disconnect()
    return u


def run(*args: str):
    return runner.invoke(app, list(args))


def test_metric_as_json(url):
    r = run("metrics", "d7_retention", "--as-of", "2026-03-01", "--warehouse", url, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["value"], out["numerator"], out["denominator"]) == (0.5, 2, 4)
    assert out["label"] == "7日留存" and out["as_of"] == "2026-03-01"


def test_metric_by_tag_as_text(url):
    r = run("metrics", "cac", "--as-of", "2026-01-01", "--by", "channel", "--warehouse", url)
    assert r.exit_code == 0, r.output
    assert "获客成本" in r.output and "¥420.00" in r.output and "v_douyin" in r.output


def test_funnel_and_cohort_options(url):
    r = run(
        "metrics",
        "funnel",
        "--as-of",
        "2025-07-01",
        "--warehouse",
        url,
        "--steps",
        "register,search,consult",
        "--conversion-days",
        "3",
        "--period-days",
        "60",
        "--json",
    )
    assert [s["users"] for s in json.loads(r.output)["steps"]] == [5, 3, 1]
    r = run(
        "metrics",
        "cohort_retention",
        "--as-of",
        "2026-03-01",
        "--warehouse",
        url,
        "--window-days",
        "60",
        "--grain",
        "month",
        "--lang",
        "en",
    )
    assert r.exit_code == 0, r.output
    assert "Cohort retention" in r.output and "2026-02-01" in r.output


def test_list(url):
    r = run("metrics", "list", "--json")
    names = [m["name"] for m in json.loads(r.output)]
    assert {"k_factor", "nps", "bp_control_rate", "funnel", "cohort_retention"} <= set(names)
    r = run("metrics", "list")
    assert "裂变系数" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("metrics", "d7_retension"), "did you mean 'd7_retention'"),
        (("metrics", "mau", "--as-of", "2026-13-01"), "is not a date: expected a date like"),
        (("metrics", "mau", "--as-of", "2099-01-01"), "is in the future"),
        (("metrics", "mau", "--as-of", "2020-01-01"), "before any data"),
        (("metrics", "mau", "--as-of", "2026-03-01", "--by", "colour"), "no column or tag"),
        (("metrics", "mau", "--lang", "fr"), "--lang: expected zh or en"),
    ],
)
def test_bad_input_is_a_clear_error(url, args, message, capsys, monkeypatch):
    """Through `main`, as a user runs it: exit code 2, one message, no traceback."""
    monkeypatch.setattr(sys, "argv", ["careops", *args, "--warehouse", url])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err


def test_human_output_names_the_window_and_skips_count_fractions(url):
    r = run("metrics", "repurchase_rate", "--as-of", "2025-07-01", "--warehouse", url)
    assert r.exit_code == 0, r.output
    assert "近365天" in r.output and "= 1 / 3" in r.output
    r = run("metrics", "mau", "--as-of", "2026-03-01", "--warehouse", url)
    assert "近30天" in r.output and "= 5 / 5" not in r.output and " 5" in r.output
    r = run("metrics", "ltv", "--as-of", "2026-01-01", "--warehouse", url, "--lang", "en")
    assert "all history" in r.output


def test_funnel_parameters_read_as_words_not_a_dict(url):
    r = run("metrics", "funnel", "--as-of", "2025-07-01", "--warehouse", url)
    assert r.exit_code == 0, r.output
    assert "{'steps'" not in r.output and "period_days" not in r.output
    assert "步骤 注册 → 搜索 → 问诊 → 支付 → 复购" in r.output
    assert "进入期 2025-05-02 至 2025-05-31（30天）" in r.output and "进入后30天内" in r.output


def test_empty_precise_reach_says_why(url):
    r = run("metrics", "precise_reach_rate", "--as-of", "2025-07-01", "--warehouse", url)
    assert r.exit_code == 0, r.output
    assert "暂无触达数据" in r.output and "message_delivered" in r.output
    r = run("metrics", "precise_reach_rate", "--as-of", "2025-07-01", "--warehouse", url, "--json")
    assert json.loads(r.stdout)["note"].startswith("暂无触达数据")
    r = run("metrics", "precise_reach_rate", "--as-of", "2026-01-01", "--warehouse", url, "--json")
    assert json.loads(r.stdout)["note"] is None  # v1..v3 were reached in December 2025


def test_without_as_of_the_user_learns_where_the_data_ends(url):
    from careops.metrics.context import data_end

    con = connect(url)
    end = data_end(con)
    con.disconnect()
    r = run("metrics", "mau", "--warehouse", url)
    assert r.exit_code == 0, r.output
    nxt = end + __import__("datetime").timedelta(days=1)
    assert f"数据截止 {end}" in r.output and f"--as-of {nxt}" in r.output
    r = run("metrics", "mau", "--as-of", str(nxt), "--warehouse", url)
    assert "数据截止" not in r.output


def test_breakdown_rows_follow_the_tags_declared_order(url):
    from careops.metrics.breakdown import UNKNOWN, group_order
    from careops.tags.registry import REGISTRY

    assert group_order("lifecycle", ["silent", UNKNOWN, "active", "churned", "new"]) == [
        "new",
        "active",
        "silent",
        "churned",
        UNKNOWN,
    ]
    assert group_order("age_band", ["60+", "25-34", "0-14"]) == ["0-14", "25-34", "60+"]
    assert group_order("channel", ["b", UNKNOWN, "a"]) == ["a", "b", UNKNOWN]
    r = run(
        "metrics", "ltv", "--as-of", "2026-01-01", "--by", "lifecycle", "--warehouse", url, "--json"
    )
    groups = [g["group"] for g in json.loads(r.stdout)["groups"]]
    declared = REGISTRY["lifecycle"].codes
    assert len(groups) >= 2
    assert groups == sorted(groups, key=lambda g: declared.index(g) if g in declared else 99)
    r = run("metrics", "ltv", "--as-of", "2026-01-01", "--by", "lifecycle", "--warehouse", url)
    assert "生命周期" in r.output  # the breakdown's label heads the column, not its key

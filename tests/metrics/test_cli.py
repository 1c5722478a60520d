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
    r = run("metrics", "funnel", "--as-of", "2025-07-01", "--warehouse", url,
            "--steps", "register,search,consult", "--conversion-days", "3",
            "--period-days", "60", "--json")
    assert [s["users"] for s in json.loads(r.output)["steps"]] == [5, 3, 1]
    r = run("metrics", "cohort_retention", "--as-of", "2026-03-01", "--warehouse", url,
            "--window-days", "60", "--grain", "month", "--lang", "en")
    assert r.exit_code == 0, r.output
    assert "Cohort retention" in r.output and "2026-02-01" in r.output


def test_list(url):
    r = run("metrics", "list", "--json")
    names = [m["name"] for m in json.loads(r.output)]
    assert {"k_factor", "nps", "bp_control_rate", "funnel", "cohort_retention"} <= set(names)
    r = run("metrics", "list")
    assert "裂变系数" in r.output


@pytest.mark.parametrize(("args", "message"), [
    (("metrics", "d7_retension"), "did you mean 'd7_retention'"),
    (("metrics", "mau", "--as-of", "2026-13-01"), "--as-of: expected a date"),
    (("metrics", "mau", "--as-of", "2099-01-01"), "is in the future"),
    (("metrics", "mau", "--as-of", "2020-01-01"), "before any data"),
    (("metrics", "mau", "--as-of", "2026-03-01", "--by", "colour"), "no column or tag"),
    (("metrics", "mau", "--lang", "fr"), "--lang: expected zh or en"),
])
def test_bad_input_is_a_clear_error(url, args, message, capsys, monkeypatch):
    """Through `main`, as a user runs it: exit code 2, one message, no traceback."""
    monkeypatch.setattr(sys, "argv", ["careops", *args, "--warehouse", url])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err

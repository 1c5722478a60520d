"""The HTML report: computed on the hand-built hospital, rendered, and drawn by Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from careops.report import build_report, render_html, write_report
from tests.conftest import fill
from tests.metrics import hospital as h


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from careops.warehouse import connect, create_tables

    con = connect(f"duckdb:///{tmp_path_factory.mktemp('r') / 'wh.duckdb'}")
    create_tables(con)
    fill(con, h.tables())
    return con


@pytest.fixture(scope="module")
def zh_report(data):
    return build_report(data, h.AS_OF_CONVERSION)


def options(page: str) -> dict:
    m = re.search(r"var OPTIONS = (\{.*?\});\n", page, re.S)
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_report_in_chinese_by_default(zh_report):
    report = zh_report
    page = render_html(report)
    assert '<html lang="zh-CN">' in page
    for text in ("互联网医院运营指标报告", "转化漏斗", "付费转化率", "7日留存", "血压控制率"):
        assert text in page
    kpis = {k["name"]: k for k in report.kpis}
    assert kpis["paid_conversion"]["value"] == "25.0%"
    assert kpis["paid_conversion"]["detail"] == "1 / 4"
    assert kpis["arpu"]["value"] == "¥15.00"
    funnel = options(page)["chart-funnel"]["series"][0]["data"]
    assert [d["value"] for d in funnel] == [5, 3, 2, 2, 1]
    assert funnel[0]["name"] == "注册"


def test_report_is_self_contained(zh_report):
    page = render_html(zh_report)
    assert "echarts.init" in page and "Apache Software Foundation" in page  # ECharts inlined
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"?https?:", page)  # no CDN


def test_report_in_english(data, tmp_path):
    path = write_report(build_report(data, h.AS_OF_VALUE, lang="en"), tmp_path / "r" / "x.html")
    page = path.read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Internet hospital operations report" in page
    channels = options(page)["chart-channels"]
    assert "v_douyin" in channels["xAxis"]["data"]


@pytest.mark.browser
def test_report_renders_in_headless_chromium(zh_report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (make browser)")
    path = write_report(zh_report, tmp_path / "report.html")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--virtual-time-budget=5000", "--dump-dom",
         path.as_uri()], capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert 'data-rendered="yes"' in dom  # the chart script ran to the end without an error
    for chart in ("chart-funnel", "chart-cohort", "chart-channels", "chart-layers",
                  "chart-medical"):
        block = dom.split(f'id="{chart}"', 1)[1][:3000]
        assert "<svg" in block, chart


def test_report_command(tmp_path):
    from typer.testing import CliRunner

    from careops.cli import app
    from careops.warehouse import connect, create_tables

    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    con = connect(url)
    create_tables(con)
    fill(con, h.tables())
    con.disconnect()
    out = tmp_path / "report.html"
    r = CliRunner().invoke(app, ["report", "--as-of", "2025-07-01", "--warehouse", url,
                                 "--out", str(out), "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert "Paid conversion" in out.read_text(encoding="utf-8")


def test_report_with_an_unknown_layer_fails_first(data):
    from careops.metrics import BreakdownError

    with pytest.raises(BreakdownError, match="no column or tag called 'lifecycel'; did you mean "
                                             "'lifecycle'"):
        build_report(data, h.AS_OF_CONVERSION, by="lifecycel")


def test_layer_breakdown_reads_as_chinese_labels(data):
    """Breakdown charts name a layer's groups by their labels (活跃用户), not their codes."""
    page = render_html(build_report(data, h.AS_OF_CONVERSION, by="lifecycle"))
    charts = options(page)
    groups = [x for o in charts.values()
              for x in (o.get("xAxis") or {}).get("data", []) if isinstance(o.get("xAxis"), dict)]
    lifecycle = {"新用户", "活跃用户", "低频用户", "沉默用户", "流失用户"}
    assert lifecycle & set(groups)
    assert not {"new", "active", "occasional", "silent", "churned"} & set(groups)

"""The HTML report: computed on the hand-built hospital, rendered, and drawn by Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pyarrow as pa
import pytest

from careops.report import build_report, render_html, write_report
from careops.report.render import kpi_groups
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
    return json.loads(m.group(1))


def test_report_in_chinese_by_default(zh_report):
    report = zh_report
    page = render_html(report)
    assert '<html lang="zh-CN">' in page
    for text in ("互联网医院运营指标报告", "转化漏斗", "付费转化率", "7日留存", "血压控制率"):
        assert text in page
    kpis = {k["name"]: k for g in kpi_groups(report, "zh") for k in g["cards"]}
    assert kpis["paid_conversion"]["value"] == "25.0%"
    assert kpis["paid_conversion"]["detail"].endswith(" · 1 / 4")
    assert kpis["arpu"]["value"] == "¥15.00"
    funnel = options(page)["chart-funnel"]["series"][0]["data"]
    assert [d["value"] for d in funnel] == [5, 3, 2, 2, 1]
    assert funnel[0]["name"] == "注册"


def test_report_is_self_contained(zh_report):
    page = render_html(zh_report)
    assert "echarts.init" in page and "Apache Software Foundation" in page  # ECharts inlined
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"?https?:", page)  # no CDN


def test_report_in_english(data, tmp_path):
    path = write_report(build_report(data, h.AS_OF_VALUE), tmp_path / "r" / "x.html", "en")
    page = path.read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Internet hospital operations report" in page
    channels = options(page)["chart-channels"]
    assert "v_douyin (< 30 users)" in channels["xAxis"]["data"]  # too few to show its LTV


@pytest.mark.browser
def test_report_renders_in_headless_chromium(zh_report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (make browser)")
    path = write_report(zh_report, tmp_path / "report.html")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-rendered="yes"' in dom  # the chart script ran to the end without an error
    for chart in (
        "chart-funnel",
        "chart-cohort",
        "chart-channels",
        "chart-layers",
        "chart-medical",
    ):
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
    r = CliRunner().invoke(
        app,
        ["report", "--as-of", "2025-07-01", "--warehouse", url, "--out", str(out), "--lang", "en"],
    )
    assert r.exit_code == 0, r.output
    assert "Paid conversion" in out.read_text(encoding="utf-8")


def test_report_with_an_unknown_layer_fails_first(data):
    from careops.metrics import BreakdownError

    with pytest.raises(
        BreakdownError, match="no column or tag called 'lifecycel'; did you mean 'lifecycle'"
    ):
        build_report(data, h.AS_OF_CONVERSION, by="lifecycel")


def test_layer_breakdown_reads_as_chinese_labels(data):
    """Breakdown charts name a layer's groups by their labels (活跃用户), not their codes."""
    page = render_html(build_report(data, h.AS_OF_CONVERSION, by="lifecycle"))
    charts = options(page)
    groups = [
        x.split("(")[0]
        for o in charts.values()  # "(不足30人)" marks small groups
        for x in (o.get("xAxis") or {}).get("data", [])
        if isinstance(o.get("xAxis"), dict)
    ]
    lifecycle = {"新用户", "活跃用户", "低频用户", "沉默用户", "流失用户"}
    assert lifecycle & set(groups)
    assert not {"new", "active", "occasional", "silent", "churned"} & set(groups)


def test_charts_show_final_values_without_animation(zh_report):
    charts = options(render_html(zh_report))
    assert all(o["animation"] is False for o in charts.values())


def test_cohort_colour_scale_spans_the_data_with_one_legend(zh_report):
    heat = options(render_html(zh_report))["chart-cohort"]
    top = max(v for *_, v in heat["series"][0]["data"])
    vm = heat["visualMap"]
    assert vm["min"] == 0 and (top <= vm["max"] < top + 5 or vm["max"] == 100)
    assert vm["calculable"] is False and vm["text"] == [f"{vm['max']}%", "0%"]


def _result(name, label, unit, by, groups):
    """A metric result (codes only: `label` is what the chart must show, from the catalogue)."""
    from datetime import date

    from careops.metrics.result import GroupValue, MetricResult

    gs = tuple(GroupValue(g, v, v * n if v else 0, n) for g, v, n in groups)
    return MetricResult(name, unit, date(2026, 1, 1), None, 0, 0, by=by, groups=gs)


def test_breakdown_charts_order_groups_name_axes_and_hide_small_groups():
    from careops.report import charts

    rows = [("silent", 0.1, 40), ("active", 0.5, 200), ("new", 0.3, 12)]
    bars = charts.rate_bars(
        {"d7_retention": _result("d7_retention", "7日留存", "ratio", "lifecycle", rows)}, "zh"
    )
    assert bars["xAxis"]["data"] == ["新用户(不足30人)", "活跃用户", "沉默用户"]
    assert bars["series"][0]["data"] == [None, 50.0, 10.0]  # 12 users: no rate shown
    assert bars["xAxis"]["axisLabel"]["rotate"] and bars["xAxis"]["axisLabel"]["interval"] == 0
    ch = charts.channel_chart(
        {
            "new_users": _result(
                "new_users", "新增用户", "count", "channel", [("douyin", 300, 1), ("tiny", 5, 1)]
            ),
            "cac": _result(
                "cac", "获客成本", "cny", "channel", [("douyin", 600, 300), ("tiny", 9, 5)]
            ),
            "ltv": _result(
                "ltv", "历史LTV", "cny", "channel", [("douyin", 80, 400), ("tiny", 1487, 7)]
            ),
        },
        "zh",
    )
    names = {s["name"]: s for s in ch["series"]}
    assert names["新增用户(右轴)"]["yAxisIndex"] == 1 and names["历史LTV(左轴)"]["yAxisIndex"] == 0
    assert names["历史LTV(左轴)"]["data"] == [80, None]
    assert ch["yAxis"][0]["name"].startswith("¥") and "新增用户" in ch["yAxis"][1]["name"]
    assert ch["xAxis"]["data"] == ["抖音", "tiny(不足30人)"]  # channels read as labels


def test_report_names_windows_funnel_parameters_breakdown_and_empty_reach(data):
    report = build_report(data, h.AS_OF_CONVERSION, by="lifecycle")
    page = render_html(report)
    kpis = {k["name"]: k for g in kpi_groups(report, "zh") for k in g["cards"]}
    assert kpis["repurchase_rate"]["detail"].startswith("近365天 · ")
    assert kpis["ltv"]["detail"].startswith("累计 · ")
    assert "暂无触达数据" in kpis["precise_reach_rate"]["note"]
    assert "暂无触达数据" in page and "近365天" in page
    assert "步骤 注册 → 搜索 → 问诊 → 支付 → 复购" in page and "{&#x27;steps" not in page
    assert "分层留存与转化（按生命周期）" in page and "按 lifecycle" not in page


def test_report_says_where_the_data_ends(data):
    from datetime import timedelta

    from careops.metrics.context import data_end

    end = data_end(data)
    page = render_html(build_report(data, h.AS_OF_CONVERSION))
    assert f"数据截止 {end}" in page and 'class="stale"' not in page
    late = end + timedelta(days=40)
    page = render_html(build_report(data, late))
    assert 'class="stale"' in page and f"--as-of {end + timedelta(days=1)}" in page


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    """The report of the hand-built hospital with channel v_douyin renamed to markup."""
    from careops.warehouse import create_tables, warehouse

    tables = h.tables()
    patients = tables["patients"]
    channels = [
        HOSTILE if c == "v_douyin" else c for c in patients.column("source_channel").to_pylist()
    ]
    tables["patients"] = patients.set_column(
        patients.column_names.index("source_channel"),
        "source_channel",
        pa.array(channels, pa.string()),
    )
    with warehouse(f"duckdb:///{tmp_path_factory.mktemp('x') / 'wh.duckdb'}") as con:
        create_tables(con)
        fill(con, tables)
        return render_html(build_report(con, h.AS_OF_VALUE))


def test_hostile_channel_names_show_as_text(hostile_page):
    """A channel (or group) name holding markup is escaped in the page and cannot end the
    chart script: the value shows as text, never runs."""
    page = hostile_page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("<script>") == 2  # ECharts and the chart code, nothing else
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    )  # the channel table shows the name as text
    channels_chart = options(page)["chart-channels"]
    assert any(x.startswith(HOSTILE) for x in channels_chart["xAxis"]["data"])  # JSON intact


@pytest.mark.browser
def test_hostile_channel_names_run_nothing_in_chromium(hostile_page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (make browser)")
    path = tmp_path / "hostile.html"
    path.write_text(hostile_page.replace("alert(1)", "document.title='pwned'"), encoding="utf-8")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-rendered="yes"' in dom  # the chart script ran to its end
    markup = re.sub(r"<script>.*?</script>", "", dom, flags=re.S)  # ECharts' own code out
    assert "<img" not in markup  # the name was never parsed as an element
    assert "pwned" not in dom.split("</title>", 1)[0]  # nor its handler run


def test_channels_read_as_chinese_labels_in_the_table(zh_report):
    page = render_html(zh_report)
    table = page.split('class="channel-table"', 1)[1].split("</table>", 1)[0]
    assert "<th>渠道</th>" in table and "<th>获客成本</th>" in table


def test_report_data_carries_codes_only(zh_report):
    """The data functions return codes and numbers; words come at rendering."""
    kpi = zh_report.kpis[0]
    assert (kpi.name, kpi.category, kpi.unit) == ("new_users", "acquisition", "count")
    assert not hasattr(zh_report, "lang")
    assert "New users" in render_html(zh_report, "en") and "新增用户" in render_html(zh_report)


def test_report_data_is_the_same_on_every_backend(warehouse, zh_report):
    """The report's data functions run on DuckDB, PostgreSQL and Spark with the same answers,
    and the page renders from any of them."""
    fill(warehouse, h.tables())
    data = build_report(warehouse, h.AS_OF_CONVERSION)
    got = {k.name: (k.value, k.numerator, k.denominator) for k in data.kpis}
    want = {k.name: (k.value, k.numerator, k.denominator) for k in zh_report.kpis}
    assert got.keys() == want.keys()
    for name, (value, num, den) in want.items():
        assert got[name][1:] == pytest.approx((num, den)), name
        assert got[name][0] == pytest.approx(value), name
    assert "转化漏斗" in render_html(data)

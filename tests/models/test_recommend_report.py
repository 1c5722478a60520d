"""The recommendation report page on literal figures: every section present in Chinese (and
English on request), data values escaped (a hostile item or rule name stays text), bars drawn
as inline SVG in proportion, ids masked."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from careops.models.recommend.report import RecReport, mask_id, render_html, svg_bars


def _card(n, ndcg):
    return {"patients": n, "precision": 0.1, "recall": 0.2, "ndcg": ndcg}


def _report(name: str = "感冒发烧科普02", rule: str = "成人服务") -> RecReport:
    kinds = ("service", "package", "content", "doctor")
    warm = {k: {"model": _card(10, 0.6), "popularity": _card(10, 0.3)} for k in ("all", *kinds)}
    warm["package"]["popularity"]["ndcg"] = None
    return RecReport(
        as_of=dt.date(2025, 12, 1),
        model_id="recommend-x",
        k=10,
        sample=300,
        coverage={
            "patients": 300,
            "model": 290,
            "fallback": 10,
            "full": 300,
            "items_shown": 40,
            "items": 50,
            "by_kind": {k: {"shown": 10, "items": 20} for k in kinds},
        },
        quality={
            "as_of": "2025-12-01",
            "test_end": "2025-12-31",
            "warm": warm,
            "cold": {"fallback": _card(5, 0.3), "popularity": _card(5, 0.1)},
            "notes": ["note"],
            "source": "test",
        },
        blocked=[{"rule": rule, "why": "面向成人", "patients": 3, "items": 8}],
        examples=[
            {
                "patient": mask_id("U00000123"),
                "source": "model",
                "items": [{"rank": 1, "kind": "content", "name": name, "reason": "浏览过内容"}],
            }
        ],
    )


def test_page_has_every_section_in_chinese():
    html = render_html(_report())
    for word in ("个性化推荐报告", "覆盖", "推荐质量", "医疗规则拦截", "示例", "测试窗", "热门"):
        assert word in html
    assert 'lang="zh-CN"' in html
    assert html.count("<svg") == 3 and "<script" not in html
    assert "U0*****23" in html and "U00000123" not in html
    assert "40 / 50" in html


def test_page_in_english():
    html = render_html(_report(), "en")
    assert "Recommendation report" in html and "Blocked by the medical rules" in html
    assert 'lang="en"' in html


def test_hostile_names_stay_text():
    evil = "<script>alert(1)</script>"
    html = render_html(_report(name=evil, rule=evil + '"&'))
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # table, example, svg label


def test_bars_are_in_proportion_and_missing_values_draw_nothing():
    svg = str(svg_bars(["a", "b", "c"], [("x", [1.0, 0.5, None], "#000")], top=1.0, width=360))
    widths = [float(w) for w in re.findall(r'<rect x="150" y="\d+" width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    assert "—" in svg


@pytest.mark.parametrize(("uid", "want"), [("U00000123", "U0*****23"), ("abc", "***")])
def test_mask_id(uid, want):
    assert mask_id(uid) == want

"""The portrait: the value / LTV tier note, and age bands as the registry and docs give them."""

import re
from pathlib import Path

from careops.tags.portrait import tier_note
from careops.tags.registry import get_tag

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tags.md"


def test_a_note_explains_value_and_ltv_tier_when_they_disagree():
    tags = {
        "value": "mid",
        "ltv_tier": "ltv_high",
        "rfm_score": 7,
        "health_contribution": 1,
        "spend_cny": 1126.4,
    }
    assert tier_note(tags) == (
        "价值与LTV分层不同: 价值看近 365 天 RFM + 健康贡献 (得分 8, "
        "高价值需 ≥ 12 且已复购), LTV 只看累计消费 (¥1,126)"
    )
    assert tier_note(tags, "en").startswith("value and LTV tier differ: value scores RFM")
    assert tier_note(tags | {"value": "high"}) is None
    assert tier_note({"value": "low", "ltv_tier": "ltv_low"}) is None
    assert tier_note({"value": "low"}) is None


def test_age_bands_are_the_registry_ones_in_the_docs_and_the_portrait():
    tag = get_tag("age_band")
    assert tag.codes == ("0-14", "15-24", "25-34", "35-44", "45-59", "60+", "unknown")
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    listed = re.search(r"`age_band` \(([^)]*)\)", text).group(1)
    assert [c.strip() for c in listed.split(";")[0].split(",")] == list(tag.codes)
    assert [tag.value_label(c) for c in tag.codes] == [
        "0-14岁",
        "15-24岁",
        "25-34岁",
        "35-44岁",
        "45-59岁",
        "60岁及以上",
        "未知",
    ]
    assert "60岁及以上" in listed

"""The label catalogue: every entry in both languages, every tag, metric and channel named,
names as the glossary has them, and the old label modules answering from it."""

from __future__ import annotations

import re
import string

import pytest

from careops import labels as L
from careops.metrics.registry import CATEGORY_LABELS, all_metrics
from careops.tags.registry import all_tags


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_entry_has_both_languages_and_the_same_placeholders():
    for key, (zh, en) in L.CATALOGUE.items():
        assert zh.strip() and en.strip(), key
        assert _fields(zh) == _fields(en), key
        assert (
            re.search(r"[\u4e00-\u9fff]", zh)
            or key.startswith(("value.age_band.", "value.sex."))
            or zh == en
        ), f"{key}: the Chinese label has no Chinese: {zh!r}"


def test_every_tag_value_metric_and_category_is_in_the_catalogue():
    keys = []
    for t in all_tags():
        keys.append(f"tag.{t.name}")
        keys += [f"value.{t.name}.{code}" for code in t.codes]
    keys += [f"metric.{m.name}" for m in all_metrics()]
    keys += [f"category.{c}" for c in CATEGORY_LABELS]
    assert L.missing(keys) == []


def test_every_tag_and_metric_has_a_chinese_and_an_english_description():
    for t in all_tags():
        zh, en = L.tag_description(t.name, "zh"), L.tag_description(t.name, "en")
        assert re.search(r"[\u4e00-\u9fff]", zh), t.name
        assert en == t.description
    for m in all_metrics():
        zh, en = L.metric_description(m.name, "zh"), L.metric_description(m.name, "en")
        assert re.search(r"[\u4e00-\u9fff]", zh), m.name
        assert en == m.description


def test_every_simulated_channel_reads_in_chinese():
    from careops.sim import SimConfig

    for code in SimConfig().channels:
        assert L.has(f"channel.{code}"), code
        assert re.search(r"[\u4e00-\u9fff]", L.channel_label(code, "zh")), code
    assert L.channel_label("douyin", "en") == "Douyin"
    assert L.channel_label("a_new_channel", "zh") == "a_new_channel"  # unknown: the code
    assert L.group_label("channel", "wechat_ads", "zh") == "微信广告"
    assert L.group_label("source_channel", None, "en") == "unknown"


# From /work/shared/GLOSSARY.md (Layers table and Metrics line), copied literally.
GLOSSARY_VALUES = {
    "lifecycle": {
        "new": "新用户",
        "active": "活跃用户",
        "occasional": "低频用户",
        "silent": "沉默用户",
        "churned": "流失用户",
    },
    "health_need": {
        "health_management": "健康管理型",
        "acute": "急症问诊型",
        "prevention": "预防保健型",
        "medical_resources": "医疗资源型",
    },
    "value": {"high": "高价值", "mid": "中价值", "low": "低价值"},
    "data_richness": {"basic": "基础数据型", "behavioral": "行为数据型", "medical": "医疗数据型"},
    "active_subgroup": {
        "frequent_consulter": "高频问诊",
        "health_manager": "健康管理",
        "interactive": "互动参与",
    },
    "health_stage": {
        "prevention": "预防期",
        "self_check": "症状自查期",
        "in_treatment": "治疗期",
        "recovery": "康复期",
    },
    "need_priority": {"high": "高", "mid": "中", "low": "低"},
}
GLOSSARY_TAGS = {
    "lifecycle": "生命周期",
    "health_need": "健康需求",
    "value": "价值",
    "data_richness": "数据丰富度",
    "health_stage": "健康阶段",
    "churn_risk": "流失预警",
    "frequent_consulter": "高频问诊",
    "health_manager": "健康管理",
    "interactive": "互动参与",
    "chronic": "慢病患者",
    "elderly": "老年人",
    "child": "儿童",
}
# metric → the glossary's Chinese term (the label must contain it)
GLOSSARY_METRICS = {
    "cac": "获客成本",
    "precise_reach_rate": "精准触达率",
    "consult_rate": "问诊率",
    "booking_rate": "预约率",
    "paid_conversion": "付费转化率",
    "arpu": "客单价",
    "d1_retention": "次日留存",
    "d7_retention": "7日留存",
    "d30_retention": "30日留存",
    "mau": "月活",
    "monthly_active_days": "月活跃天数",
    "repurchase_rate": "复购率",
    "silent_recall_rate": "召回率",
    "k_factor": "裂变系数",
    "share_rate": "分享率",
    "roi": "投资回报率",
    "nps": "净推荐值",
    "satisfaction": "满意度",
    "adherence_rate": "用药依从性",
    "bp_control_rate": "血压控制率",
    "glucose_control_rate": "血糖控制率",
    "package_activation_rate": "服务包激活",
    "renewal_rate": "续费率",
    "ltv": "LTV",
}


@pytest.mark.parametrize("dimension", sorted(GLOSSARY_VALUES))
def test_layer_values_read_as_the_glossary_has_them(dimension):
    for code, zh in GLOSSARY_VALUES[dimension].items():
        assert L.value_label(dimension, code, "zh") == zh


def test_tags_and_metrics_read_as_the_glossary_has_them():
    for name, zh in GLOSSARY_TAGS.items():
        assert L.tag_label(name, "zh") == zh, name
    for name, term in GLOSSARY_METRICS.items():
        assert term in L.metric_label(name, "zh"), name


def test_metric_definitions_answer_with_the_catalogue_name():
    from careops.metrics.registry import get_metric

    assert get_metric("adherence_rate").label("zh") == "用药依从性"
    assert get_metric("d7_retention").label("en") == "D7 retention"


def test_the_old_label_modules_answer_from_the_catalogue():
    from careops.experiments.labels import label as experiment_label
    from careops.i18n import LABELS, label
    from careops.metrics.format import UNIT_LABELS, window_text
    from careops.report.labels import t

    assert label("quarantined", "zh") == "隔离" and LABELS["table"] == ("表", "table")
    assert experiment_label("variant", "en") == "Variant"
    assert t("layers", "zh", by="渠道") == "分层留存与转化（按渠道）"
    assert UNIT_LABELS["cny"] == ("元", "CNY")
    assert window_text({"window_days": 30}, "zh") == "近30天"
    assert window_text({}, "en") == "all history"


def test_tag_columns_get_labels_from_the_catalogue():
    import pyarrow as pa

    from careops.tags.labels import with_labels

    table = pa.table(
        {
            "user_id": ["a", "b", "c"],
            "lifecycle": ["occasional", None, "new"],
            "chronic": [True, False, None],
        }
    )
    zh = with_labels(table)
    assert zh.column("生命周期").to_pylist() == ["低频用户", None, "新用户"]
    assert zh.column("慢病患者").to_pylist() == ["是", "否", None]
    assert with_labels(table, "en").column("lifecycle_label").to_pylist() == [
        "Occasional",
        None,
        "New",
    ]


def test_unknown_keys_are_programmer_errors_and_unknown_codes_read_as_themselves():
    with pytest.raises(KeyError):
        L.label("report.no_such_text")
    assert L.value_label("lifecycle", "reborn", "zh") == "reborn"
    assert L.value_label("lifecycle", None) == ""
    assert L.funnel_step_label("event:message_open", "zh") == "事件 message_open"
    assert L.funnel_step_label("pay", "en") == "Pay"


def test_coded_values_of_the_canonical_tables_read_in_chinese():
    from careops.schema import TABLES

    for table, field, prefix in (
        ("consultations", "mode", "mode"),
        ("orders", "category", "order_category"),
        ("orders", "status", "order_status"),
    ):
        codes = TABLES[table].column(field).enum
        assert codes, (table, field)
        for code in codes:
            assert L.has(f"{prefix}.{code}"), (table, field, code)
    assert L.code_label("mode", "video") == "视频问诊"
    assert L.code_label("order_status", "paid", "en") == "paid"
    assert L.code_label("mode", "drone") == "drone"
    for code in ("sms", "wechat", "app_push", "email", "phone", "all"):  # consents.channel
        assert L.has(f"contact_channel.{code}"), code

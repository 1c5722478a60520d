"""The label catalogue: every entry in both languages, every tag, metric and channel named,
names as the glossary has them, and the old label modules answering from it."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from careops import labels as L
from careops.metrics.registry import CATEGORIES, all_metrics
from careops.tags.registry import all_tags


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


#: entries that are meant to break the rule: the language switch names the other language;
#: a task of normal urgency and a closed one show no badge
DELIBERATE = {"page.lang.switch", "page.tasks.urgency.normal", "page.tasks.urgency.closed"}


def test_every_entry_has_both_languages_and_the_same_placeholders():
    assert set(L.CATALOGUE) >= DELIBERATE
    for key, (zh, en) in L.CATALOGUE.items():
        if key in DELIBERATE:
            continue
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
    keys += [f"category.{c}" for c in CATEGORIES]
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


def test_the_shells_look_their_words_up_in_the_one_catalogue():
    from careops.experiments.labels import label as experiment_label
    from careops.i18n import label
    from careops.metrics.format import window_text
    from careops.web.texts import text

    assert label("quarantined", "zh") == "隔离"
    assert experiment_label("variant", "en") == "Variant"
    assert text("nav.overview", "zh") == "总览" == L.label("page.nav.overview")
    assert text("login.title", "en") == "Log in"
    assert L.label("report.layers", "zh", by="渠道") == "分层留存与转化（按渠道）"
    assert L.words("recommend", "en")["title"] == "Recommendation report"
    assert L.label("unit.cny", "en") == "CNY"
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


# ---- every key the code and the templates name is in the catalogue -----------------------

SRC = Path(L.__file__).parent
#: a lookup imported by this name from this module reads keys under this prefix
SCOPED = {
    ("careops.labels", "label"): "",
    ("careops.web.texts", "text"): "page.",
    ("careops.i18n", "label"): "ingest.",
    ("careops.experiments.labels", "label"): "experiment.",
}
#: each template folder and the section its `t` reads
TEMPLATE_SECTIONS = {
    "web/templates": "page.",
    "report/templates": "report.",
    "models/recommend/templates": "recommend.",
}
#: a literal key, the whole first argument (`t("nav." ~ item)` is dynamic, left out)
_T_CALL = re.compile(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""")
_LABEL_CALL = re.compile(r"""\blabel\(\s*["']([\w.]+)["']\s*[,)]""")
_T_ATTR = re.compile(r"\bt\.(\w+)\b(?!\()")


def _code_keys(path: Path) -> list[str]:
    """The literal keys module `path` looks up (dynamic keys such as f-strings are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prefix_of: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if (node.module, a.name) in SCOPED:
                    prefix_of[a.asname or a.name] = SCOPED[(node.module, a.name)]
                if node.module == "careops" and a.name == "labels":
                    modules.add(a.asname or "labels")
    keys = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        arg, f = node.args[0], node.func
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            continue
        if isinstance(f, ast.Name) and f.id in prefix_of:
            keys.append(prefix_of[f.id] + arg.value)
        elif isinstance(f, ast.Attribute) and f.attr == "label" and isinstance(f.value, ast.Name):
            if f.value.id in modules:
                keys.append(arg.value)
        elif isinstance(f, ast.Attribute) and f.attr == "t" and path.parent.name == "web":
            keys.append("page." + arg.value)  # Page.t
    return keys


def _template_keys(path: Path, section: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    keys = [section + k for k in _T_CALL.findall(text)]
    keys += [section + k for k in _T_ATTR.findall(text) if k != "format"]
    return keys + _LABEL_CALL.findall(text)


def test_every_key_named_in_code_or_templates_is_in_the_catalogue():
    """A key a template or a module names literally must be in the one catalogue (which holds
    it in both languages: see the first test); KeyError at display time is what it prevents."""
    used: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        for key in _code_keys(path):
            used.setdefault(key, str(path.relative_to(SRC)))
    for folder, section in TEMPLATE_SECTIONS.items():
        for path in (SRC / folder).glob("*.html"):
            for key in _template_keys(path, section):
                used.setdefault(key, str(path.relative_to(SRC)))
    assert len(used) > 300  # the scan finds the keys (pages, report, CLI)
    missing = {k: where for k, where in used.items() if not L.has(k)}
    assert missing == {}


def test_the_key_scan_reads_every_way_a_key_is_named(tmp_path):
    """The scan above is not vacuous: each way of naming a key is read, dynamic keys are not."""
    page = tmp_path / "page.html"
    page.write_text(
        '{{ t("nav.overview") }} {{ t("gone", n=1) }} {{ t("nav." ~ item) }} '
        '{{ label("word.yes") }} {{ t.title }} {{ t.full.format(n=3) }}',
        encoding="utf-8",
    )
    assert sorted(_template_keys(page, "page.")) == [
        "page.full",
        "page.gone",
        "page.nav.overview",
        "page.title",
        "word.yes",
    ]
    web = tmp_path / "web"
    web.mkdir()
    module = web / "mod.py"
    module.write_text(
        "from careops import labels\n"
        "from careops.i18n import label as ingest_label\n"
        "from careops.web.texts import text\n"
        'text("nav.overview", "en"); page.t("login.title"); ingest_label("rows")\n'
        'labels.label("word.no"); text(f"nav.{x}"); other("nav.gone")\n',
        encoding="utf-8",
    )
    assert sorted(_code_keys(module)) == [
        "ingest.rows",
        "page.login.title",
        "page.nav.overview",
        "word.no",
    ]
    assert L.missing(_template_keys(page, "page.")) == ["page.gone", "page.title", "page.full"]

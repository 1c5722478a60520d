"""How layer reports read: Chinese labels, declared order, 未注册, thousands separators."""

from datetime import date

from careops.tags.layers_report import LayerCount, LayerHistory
from careops.tags.layers_view import counts_table, history_table, migration_table, omitted_note


def test_counts_table_has_labels_and_thousands_separators():
    headers, rows = counts_table(
        [
            LayerCount("lifecycle", "active", 20045, 0.5),
            LayerCount("lifecycle", "silent", 20045, 0.5),
            LayerCount("groups", "churn_risk", 1234, 0.03),
        ]
    )
    assert headers == ["维度", "分层", "用户数", "占比"]
    assert rows == [
        ["生命周期", "活跃用户", "20,045", "50.0%"],
        ["", "沉默用户", "20,045", "50.0%"],
        ["子群/特殊人群", "流失预警", "1,234", "3.0%"],
    ]
    assert counts_table([], "en")[0] == ["dimension", "layer", "users", "share"]


def test_migration_table_in_declared_order_with_not_registered_and_totals():
    rows = [
        {"from": None, "to": "new", "users": 1500},
        {"from": "active", "to": "silent", "users": 2},
        {"from": "silent", "to": "churned", "users": 1},
    ]
    headers, body = migration_table(rows, "lifecycle", date(2026, 6, 1), date(2026, 7, 1))
    assert headers == [
        "2026-06-01 \\ 2026-07-01",
        "新用户",
        "活跃用户",
        "低频用户",
        "沉默用户",
        "流失用户",
        "合计",
    ]
    assert [r[0] for r in body] == [
        "新用户",
        "活跃用户",
        "低频用户",
        "沉默用户",
        "流失用户",
        "未注册",
        "合计",
    ]
    assert body[1] == ["活跃用户", "0", "0", "0", "2", "0", "2"]
    assert body[5] == ["未注册", "1,500", "0", "0", "0", "0", "1,500"]
    assert body[6] == ["合计", "1,500", "0", "0", "2", "1", "1,503"]
    headers, body = migration_table(rows, "lifecycle", date(2026, 6, 1), date(2026, 7, 1), "en")
    assert headers[1] == "New" and body[5][0] == "not registered"


def test_history_table_and_the_omitted_note():
    hist = LayerHistory(
        [{"user_id": "u1", "day": date(2026, 6, 1), "from": None, "to": "silent"}], total=20045
    )
    assert history_table(hist, "lifecycle") == (
        ["用户", "日期", "从", "到"],
        [["u1", "2026-06-01", "—", "沉默用户"]],
    )
    assert omitted_note(hist) == (
        "共 20,045 行, 另有 20,044 行未显示 (用 --limit 显示更多, --user 只看一位患者)"
    )
    assert omitted_note(LayerHistory([], 0)) is None

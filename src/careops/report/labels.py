"""Report texts in Chinese (default) and English."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "互联网医院运营指标报告", "en": "Internet hospital operations report"},
    "as_of": {"zh": "统计截至", "en": "As of"},
    "as_of_note": {"zh": "（仅统计该日 00:00 医院时间之前的数据）",
                   "en": "(facts before 00:00 of that day, hospital time)"},
    "generated": {"zh": "生成时间", "en": "Generated"},
    "timezone": {"zh": "医院时区", "en": "Hospital timezone"},
    "kpis": {"zh": "核心指标", "en": "Key metrics"},
    "funnel": {"zh": "转化漏斗", "en": "Conversion funnel"},
    "funnel_note": {"zh": "{params}；按顺序完成各步骤的用户，流失为与上一步之差",
                    "en": "{params}; users completing each step in order, dropped = "
                          "difference to the step before"},
    "cohort": {"zh": "注册周同期群留存", "en": "Retention by registration week"},
    "cohort_note": {"zh": "第 n 日留存 = 注册后恰好第 n 天活跃；空白表示该日尚未结束",
                    "en": "Dn = active exactly on day n after registering; blank = day n "
                          "not over yet"},
    "channels": {"zh": "渠道获客与价值", "en": "Acquisition and value by channel"},
    "layers": {"zh": "分层留存与转化（按{by}）", "en": "Retention and conversion by {by}"},
    "medical": {"zh": "医疗价值", "en": "Medical value"},
    "step": {"zh": "步骤", "en": "Step"},
    "users": {"zh": "用户数", "en": "Users"},
    "from_previous": {"zh": "环节转化率", "en": "From previous"},
    "from_first": {"zh": "总转化率", "en": "From first"},
    "dropped": {"zh": "流失人数", "en": "Dropped"},
    "cohort_col": {"zh": "同期群", "en": "Cohort"},
    "size": {"zh": "人数", "en": "Size"},
    "channel": {"zh": "渠道", "en": "Channel"},
    "no_data": {"zh": "暂无数据", "en": "No data"},
    "small_group": {"zh": "(不足{n}人)", "en": " (< {n} users)"},
    "small_note": {"zh": "不足 {n} 人的分组不显示比例与均值（标注“不足{n}人”）",
                   "en": "groups of fewer than {n} users show no rates or means (marked)"},
    "axis_left": {"zh": "(左轴)", "en": " (left axis)"},
    "axis_right": {"zh": "(右轴)", "en": " (right axis)"},
    "data_end": {"zh": "数据截止", "en": "Data end"},
    "footer": {"zh": "CareOps 运营驾驶舱 · 指标定义见 docs/metrics.md",
               "en": "CareOps cockpit · metric definitions in docs/metrics.md"},
}


def t(key: str, lang: str, **kw: object) -> str:
    """The text `key` in `lang`."""
    return TEXT[key][lang].format(**kw)

"""Interface labels of the experiment commands, Chinese by default with English available."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "variant": {"zh": "组别", "en": "Variant"},
    "n": {"zh": "用户数", "en": "Users"},
    "mean": {"zh": "均值", "en": "Mean"},
    "absolute_lift": {"zh": "绝对提升", "en": "Abs. lift"},
    "relative_lift": {"zh": "相对提升", "en": "Rel. lift"},
    "p_value": {"zh": "p 值", "en": "p-value"},
    "adjusted_p": {"zh": "校正后 p", "en": "Adj. p"},
    "chance_to_win": {"zh": "胜出概率", "en": "Chance to win"},
    "expected_loss": {"zh": "预期损失", "en": "Expected loss"},
    "control": {"zh": "对照组", "en": "control"},
    "srm": {"zh": "样本比例检验 (SRM)", "en": "Sample-ratio check (SRM)"},
    "srm_ok": {"zh": "分组比例正常", "en": "split matches the design"},
    "srm_bad": {
        "zh": "分组比例异常：分流或埋点可能有误，结果不可信",
        "en": "split does not match the design: assignment or logging is broken; "
        "do not trust these results",
    },
    "metric": {"zh": "指标", "en": "Metric"},
    "kind_proportion": {"zh": "比例型", "en": "proportion"},
    "kind_mean": {"zh": "均值型", "en": "mean"},
    "kind_ratio": {"zh": "比率型，delta 法", "en": "ratio, delta method"},
    "experiment": {"zh": "实验", "en": "Experiment"},
    "window": {"zh": "观察窗口", "en": "window"},
    "exposed": {"zh": "曝光用户", "en": "exposed users"},
    "pre_period": {"zh": "CUPED 前置期", "en": "CUPED pre-period"},
    "role_primary": {"zh": "主要指标", "en": "primary"},
    "role_guardrail": {"zh": "护栏指标", "en": "guardrail"},
    "across_metrics": {"zh": "跨指标与组别联合校正", "en": "across metrics and variants"},
    "cuped": {"zh": "CUPED 方差缩减", "en": "CUPED variance reduction"},
    "variance_removed": {"zh": "方差减少", "en": "variance removed"},
    "sequential": {"zh": "序贯检验（可随时查看）", "en": "sequential (safe to peek)"},
    "correction": {"zh": "多重比较校正", "en": "Multiple-comparison correction"},
    "title": {"zh": "A/B 实验分析", "en": "A/B experiment analysis"},
    "power_title": {"zh": "样本量估算", "en": "Sample size"},
    "per_arm_control": {"zh": "对照组用户数", "en": "Control users"},
    "per_arm_treatment": {"zh": "实验组用户数", "en": "Treatment users"},
    "total": {"zh": "总用户数", "en": "Total users"},
    "achieved_power": {"zh": "实际检验效能", "en": "Achieved power"},
    "significant": {"zh": "显著", "en": "significant"},
}


def label(key: str, lang: str = "zh") -> str:
    """The label of `key` in `lang` (`zh` or `en`)."""
    return LABELS[key]["en" if lang == "en" else "zh"]

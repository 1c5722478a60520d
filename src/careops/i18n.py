"""Chinese and English labels for what the CLI, API and pages show (zh by default).

Stored data (quarantine reasons, ledger messages) is written in English; `translate` renders it
in Chinese phrase by phrase for display, so one record reads well in both languages.
"""

from __future__ import annotations

import re

from careops.config import Lang

LABELS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "table": ("表", "table"),
    "rows": ("行数", "rows"),
    "loaded": ("已加载", "loaded"),
    "duplicates": ("重复(跳过)", "duplicates"),
    "quarantined": ("隔离", "quarantined"),
    "flagged": ("标记(未知用户)", "flagged"),
    "source": ("文件", "source"),
    "status": ("结果", "status"),
    "reason": ("原因", "reason"),
    "record": ("记录", "record"),
    "field": ("字段", "field"),
    "load_id": ("批次", "load"),
    "ingest_title": ("导入结果", "Ingestion summary"),
    "files_title": ("文件", "Files"),
    "tables_title": ("仓库中的表", "Warehouse tables"),
    "quarantine_title": ("隔离区", "Quarantine"),
    "loaded_status": ("已加载", "loaded"),
    "rejected_status": ("整批拒绝", "rejected"),
    "unreadable_status": ("无法读取", "unreadable"),
    "skipped_status": ("跳过", "skipped"),
    "already_loaded_status": ("已导入过", "already loaded"),
    "warning": ("提示", "note"),
    "next_step": ("下一步", "next"),
    "quarantine_hint": ("查看隔离的记录: careops quarantine list", "See the quarantined records:"
                        " careops quarantine list"),
}

_PHRASES: list[tuple[str, str]] = [
    (r"required field is empty", "必填字段为空"),
    (r"not a number", "不是数字"),
    (r"not a whole number", "不是整数"),
    (r"not a valid date/time", "不是有效的日期时间"),
    (r"not a valid date", "不是有效的日期"),
    (r"not valid JSON", "不是有效的 JSON"),
    (r"in the future", "时间在未来"),
    (r"before 1900", "早于 1900 年"),
    (r"implausible: before (\d+)", r"不合理: 早于 \1 年"),
    (r"unknown value", "未知取值"),
    (r"expected one of", "应为以下之一"),
    (r"below the minimum", "低于最小值"),
    (r"above the maximum", "高于最大值"),
    (r"duplicate (.+?) with different values \(first at (.+?)\)",
     r"\1 重复且内容不同(首次出现在 \2)"),
    (r"unit missing for LOINC", "缺少单位, LOINC"),
    (r"is not valid for LOINC", "不适用于 LOINC"),
    (r"implausible value", "数值不合理"),
    (r"expected (\d+) fields, found (\d+) \(truncated or malformed line\)",
     r"应有 \1 列, 实际 \2 列(行被截断或格式错误)"),
    (r"malformed JSON", "JSON 格式错误"),
    (r"a line must hold one JSON object", "每行必须是一个 JSON 对象"),
    (r"missing required column\(s\)", "缺少必需的列"),
    (r"Rename the columns or use --mapping", "请重命名列或使用 --mapping 映射"),
    (r"records are bad", "条记录有误"),
    (r"nothing of this file was loaded", "本文件未导入任何数据"),
    (r"Fix the rows listed by", "请修正以下命令列出的行"),
    (r"and ingest the file again", "然后重新导入该文件"),
    (r"same content already loaded", "相同内容已导入过"),
    (r"nothing to do", "无需操作"),
    (r"unknown kind of file", "无法识别的文件类型"),
    (r"pass --kind to load it", "可用 --kind 指定"),
    (r"columns not in the canonical table were kept in ingest_extras",
     "非标准列已保存在 ingest_extras 表"),
    (r"\brow (\d+)", r"第 \1 行"),
    (r"\bline (\d+)", r"第 \1 行"),
    (r"expected ", "应为 "),
    (r"found ", "实际 "),
    (r"accepted: ", "可接受: "),
]


def label(key: str, lang: Lang = "zh") -> str:
    """The label of `key` in `lang`."""
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def translate(text: str, lang: Lang = "zh") -> str:
    """Render an English message stored in the data in `lang` (phrase by phrase)."""
    if lang == "en" or not text:
        return text
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, repl, text)
    return text

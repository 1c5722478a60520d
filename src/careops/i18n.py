"""Stored English messages rendered in Chinese; the labels moved to `careops.labels`.

Stored data (quarantine reasons, ledger messages) is written in English; `translate` renders it
in Chinese phrase by phrase for display, so one record reads well in both languages.
"""

from __future__ import annotations

import re

from careops.config import Lang
from careops.labels import scoped

#: `label(key, lang)`: the ingestion words, `ingest.<key>` of the label catalogue
label = scoped("ingest")

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
    (
        r"duplicate (.+?) with different values \(first at (.+?)\)",
        r"\1 重复且内容不同(首次出现在 \2)",
    ),
    (r"unit missing for LOINC", "缺少单位, LOINC"),
    (r"is not valid for LOINC", "不适用于 LOINC"),
    (r"implausible value", "数值不合理"),
    (
        r"expected (\d+) fields, found (\d+) \(truncated or malformed line\)",
        r"应有 \1 列, 实际 \2 列(行被截断或格式错误)",
    ),
    (r"malformed JSON", "JSON 格式错误"),
    (r"a line must hold one JSON object", "每行必须是一个 JSON 对象"),
    (r"missing required column\(s\)", "缺少必需的列"),
    (r"Rename the columns or use --mapping", "请重命名列或使用 --mapping 映射"),
    (r"Rename the columns or map them", "请重命名列或用映射文件 (--mapping) 映射"),
    (r"name its kind to load it", "请指明文件类型"),
    (r"or name its kind", "或指明文件类型"),
    (r"(\d+) of (\d+) records are bad", r"\2 条记录中 \1 条有误"),
    (r"nothing of this file was loaded", "本文件未导入任何数据"),
    (r"same content already loaded", "相同内容已导入过"),
    (r"nothing to do", "无需操作"),
    (r"unknown kind of file", "无法识别的文件类型"),
    (r"\(not CSV, Parquet, JSON Lines or FHIR\)", "(不是 CSV、Parquet、JSON Lines 或 FHIR)"),
    (r"pass --kind to load it", "可用 --kind 指定"),
    (r"columns match no canonical table", "列名与任何标准表都不对应"),
    (
        r"cannot tell which table this file holds from its name or columns",
        "无法从文件名或列名判断这个文件属于哪张表",
    ),
    (
        r"name the file after the table \((.+?)\) or pass --kind",
        r"请按表名命名文件(如 \1)或用 --kind 指定",
    ),
    (r"not valid (\S+) text", r"不是有效的 \1 文本"),
    (r"not UTF-8 text", "不是有效的 UTF-8 文本"),
    (
        r"pass the right --encoding, e\.g\. --encoding (\w+)",
        r"请用 --encoding 指定正确的编码, 如 --encoding \1",
    ),
    (r"pass the right --encoding", "请用 --encoding 指定正确的编码"),
    (
        r"cannot tell the text encoding; pass --encoding \(e\.g\. (\w+)\)",
        r"无法判断文本编码, 请用 --encoding 指定(如 \1)",
    ),
    (r"unknown encoding (.+?) \(try (.+?)\)", r"未知编码 \1(可试 \2)"),
    (r"the file is empty \(no header, no rows\)", "文件为空(没有表头, 也没有数据行)"),
    (r"no header line; the first line must name the columns", "没有表头: 第一行必须是列名"),
    (r"header repeats column\(s\)", "表头中重复的列"),
    (r"unreadable Parquet", "无法读取的 Parquet 文件"),
    (r"the file may be truncated", "文件可能不完整"),
    (r"unreadable CSV", "无法读取的 CSV 文件"),
    (r"the file cannot be read", "文件无法读取"),
    (r"cannot be read", "无法读取"),
    (
        r"not a FHIR resource or Bundle \(no resourceType\)",
        "不是 FHIR 资源或 Bundle(没有 resourceType)",
    ),
    (r"is not a FHIR resource \(no resourceType\)", "不是 FHIR 资源(没有 resourceType)"),
    (r"no resourceType", "没有 resourceType"),
    (r"not a FHIR input", "不是 FHIR 输入"),
    (
        r"reference a Medication that is not in this input: their drug code is left empty",
        "引用的 Medication 不在本次输入中: 药品编码留空",
    ),
    (r"has no id", "没有 id"),
    (r"is not a number", "不是数字"),
    (r"is not a whole number", "不是整数"),
    (r"not consulted", "未读取"),
    (r", ignored", ", 已忽略"),
    (r"at byte (\d+)", r"位于第 \1 字节"),
    (
        r"columns not in the canonical table were kept in ingest_extras",
        "非标准列已保存在 ingest_extras 表",
    ),
    (
        r"replaces load\(s\) (.+?): (\d+) row\(s\) removed first",
        r"更正之前的导入 \1: 先删除了其中 \2 行",
    ),
    (r"^not mapped: ", "未映射的资源(已计数, 不是错误): "),
    (r"; found ([^.]*)\. ", r"; 文件中的列: \1. "),
    (r"invalid start byte", "无效的起始字节"),
    (r"invalid continuation byte", "无效的后续字节"),
    (r"unexpected end of data", "数据意外结束"),
    (r"\brow (\d+)", r"第 \1 行"),
    (r"\bline (\d+)", r"第 \1 行"),
    (r"expected ", "应为 "),
    (r"found ", "实际 "),
    (r"accepted: ", "可接受: "),
]


#: a message written in both languages already: an optional "file: " prefix, the Chinese, then
#: " / " and the English
_BILINGUAL = re.compile(
    r"^(?P<prefix>[^\u4e00-\u9fff\n]*?: )?(?P<zh>[^\n]*?[\u4e00-\u9fff][^\n]*?) / "
    r"(?P<en>[A-Za-z].*)$",
    re.S,
)


def translate(text: str, lang: Lang = "zh") -> str:
    """Render an English message stored in the data in `lang` (phrase by phrase)."""
    if not text:
        return text
    both = _BILINGUAL.match(text)
    if both:  # written in both languages ("中文 / English"): the one asked for
        return (both["prefix"] or "") + (both["en"] if lang == "en" else both["zh"])
    if lang == "en":
        return text
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, repl, text)
    return text

"""How layer reports read to people: labelled tables (Chinese by default), declared order,
thousands separators. Shared by `careops layers …` and `careops demo`."""

from __future__ import annotations

from datetime import date

from careops.tags.layers_report import LayerCount, LayerHistory
from careops.tags.registry import get_tag

GROUPS = ("子群/特殊人群", "Sub-groups / special groups")
NOT_REGISTERED = ("未注册", "not registered")
TOTAL = ("合计", "total")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


def dimension_label(dimension: str, lang: str = "zh") -> str:
    """生命周期, 价值 … for a layer dimension; the groups row has its own name."""
    return _pick(GROUPS, lang) if dimension == "groups" else get_tag(dimension).label(lang)


def value_label(dimension: str, code: str | None, lang: str = "zh") -> str:
    """A layer value as people read it; None (no row at that date) reads 未注册."""
    return (
        _pick(NOT_REGISTERED, lang) if code is None else get_tag(dimension).value_label(code, lang)
    )


def count_label(count: LayerCount, lang: str = "zh") -> str:
    """A layer (活跃用户) or a group flag (慢病患者) as people read it."""
    if count.dimension == "groups":
        return get_tag(count.code).label(lang)
    return value_label(count.dimension, count.code, lang)


def counts_json(counts: list[LayerCount], lang: str = "zh") -> list[dict]:
    """`careops layers --json`: each count's codes with its label in `lang`."""
    return [
        {
            "dimension": c.dimension,
            "code": c.code,
            "label": count_label(c, lang),
            "users": c.users,
            "share": c.share,
        }
        for c in counts
    ]


def counts_table(counts: list[LayerCount], lang: str = "zh") -> tuple[list[str], list[list[str]]]:
    """Headers and rows of `careops layers`: a dimension's name on its first row only."""
    headers = (
        ["维度", "分层", "用户数", "占比"]
        if lang == "zh"
        else ["dimension", "layer", "users", "share"]
    )
    rows, previous = [], None
    for c in counts:
        dim = dimension_label(c.dimension, lang) if c.dimension != previous else ""
        rows.append([dim, count_label(c, lang), f"{c.users:,}", f"{c.share:.1%}"])
        previous = c.dimension
    return headers, rows


def migration_table(
    rows: list[dict], dimension: str, start: date, end: date, lang: str = "zh"
) -> tuple[list[str], list[list[str]]]:
    """The migration matrix: layers at `start` down, at `end` across, in declared order, with
    totals; users registered in between in a last 未注册 row."""
    declared = list(get_tag(dimension).codes)
    seen = [r["from"] for r in rows] + [r["to"] for r in rows]
    extra = sorted({c for c in seen if c is not None and c not in declared})
    codes = declared + extra
    froms = codes + ([None] if any(r["from"] is None for r in rows) else [])
    cells = {(r["from"], r["to"]): r["users"] for r in rows}
    total = _pick(TOTAL, lang)
    headers = [f"{start} \\ {end}", *(value_label(dimension, c, lang) for c in codes), total]
    body = []
    for f in froms:
        line = [cells.get((f, t), 0) for t in codes]
        body.append([value_label(dimension, f, lang), *(f"{n:,}" for n in line), f"{sum(line):,}"])
    sums = [sum(cells.get((f, t), 0) for f in froms) for t in codes]
    body.append([total, *(f"{n:,}" for n in sums), f"{sum(sums):,}"])
    return headers, body


def history_table(
    history: LayerHistory, dimension: str, lang: str = "zh"
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of `careops layers history` (labels, "—" before the first snapshot)."""
    headers = ["用户", "日期", "从", "到"] if lang == "zh" else ["user", "day", "from", "to"]
    label = get_tag(dimension).value_label
    return headers, [
        [
            r["user_id"],
            str(r["day"]),
            "—" if r["from"] is None else label(r["from"], lang),
            "—" if r["to"] is None else label(r["to"], lang),
        ]
        for r in history.rows
    ]


def omitted_note(history: LayerHistory, lang: str = "zh") -> str | None:
    """ "另有 N 行未显示" when --limit cut the list, else None."""
    if not history.omitted:
        return None
    if lang == "zh":
        return (
            f"共 {history.total:,} 行, 另有 {history.omitted:,} 行未显示 "
            "(用 --limit 显示更多, --user 只看一位患者)"
        )
    return (
        f"{history.total:,} rows, {history.omitted:,} not shown "
        "(--limit for more, --user for one patient)"
    )

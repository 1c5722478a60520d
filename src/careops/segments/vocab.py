"""The values of event conditions: labels accepted for fixed vocabularies (bought(category="药品")
→ drug, measured("血压") → bp), and warnings for free values that never occur in the warehouse
(consulted(department="心内科") when the hospital says 心血管内科), naming the closest ones."""

from __future__ import annotations

import difflib

from ibis.backends import BaseBackend

from careops.segments.errors import RuleError
from careops.segments.rules import BoolOp, Event, Node, Not

ORDER_CATEGORIES = (
    ("consultation", "问诊", "Consultation"),
    ("drug", "药品", "Drug"),
    ("checkup", "体检", "Check-up"),
    ("package", "服务包", "Service package"),
    ("device", "设备", "Device"),
    ("other", "其他", "Other"),
)
MEASURE_KINDS = (("bp", "血压", "Blood pressure"), ("glucose", "血糖", "Blood glucose"))
#: (event condition, argument) → (table, column) whose values the argument is matched against
FREE_VALUES = {
    ("consulted", "department"): ("consultations", "department"),
    ("did", "name"): ("events", "name"),
    ("did_not", "name"): ("events", "name"),
    ("measured", "kind"): ("observations", "code"),
}


def _code(value: str, vocabulary: tuple[tuple[str, str, str], ...]) -> str | None:
    for code, zh, en in vocabulary:
        if value in (code, zh) or value.lower() == en.lower():
            return code
    return None


def normalise(kind: str, values: dict) -> dict:
    """Event arguments with labels turned into codes; an unknown order category is an error."""
    out = dict(values)
    if kind == "bought" and "category" in out:
        code = _code(out["category"], ORDER_CATEGORIES)
        if code is None:
            allowed = ", ".join(f"{c} ({zh})" for c, zh, _ in ORDER_CATEGORIES)
            raise RuleError(
                f"bought: {out['category']!r} 不是订单类别, 可选 {allowed} / category "
                f"{out['category']!r} is not an order category; use one of {allowed}"
            )
        out["category"] = code
    if kind == "measured" and isinstance(out.get("kind"), str):
        out["kind"] = _code(out["kind"], MEASURE_KINDS) or out["kind"]
    return out


def closest(value: str, known: list[str], n: int = 3) -> list[str]:
    """Up to `n` known values nearest to `value`: those holding its characters in order (心内科 →
    心血管内科) first, then by similarity."""

    def in_order(short: str, long: str) -> bool:
        it = iter(long)
        return all(ch in it for ch in short)

    scored = []
    for k in known:
        ratio = difflib.SequenceMatcher(None, value, k).ratio()
        ordered = in_order(value, k) or in_order(k, value)
        if ordered or ratio >= 0.5:
            scored.append((not ordered, -ratio, k))
    return [k for _, _, k in sorted(scored)[:n]]


def _events(node: Node) -> list[Event]:
    if isinstance(node, BoolOp):
        return [e for x in node.items for e in _events(x)]
    if isinstance(node, Not):
        return _events(node.item)
    return [node] if isinstance(node, Event) else []


def rule_warnings(con: BaseBackend, rule, lang: str = "zh") -> list[str]:
    """One line per event-condition value that no row of the warehouse has, with the closest
    known values (the rule stays valid: such a condition matches nobody, or for did_not
    everyone)."""
    from careops.segments.compile import check
    from careops.segments.rules import parse_rule

    node, _ = check(parse_rule(rule))
    have = set(con.list_tables())
    out, cache = [], {}
    for event in _events(node):
        for (kind, arg), (table, column) in FREE_VALUES.items():
            value = event.kw().get(arg)
            if event.kind != kind or not isinstance(value, str):
                continue
            if kind == "measured" and value in ("bp", "glucose"):
                continue
            if (table, column) not in cache:
                values = (
                    con.table(table).select(column).distinct().to_pyarrow().column(0).to_pylist()
                    if table in have
                    else []
                )
                cache[table, column] = sorted(v for v in values if v is not None)
            known = cache[table, column]
            if value in known:
                continue
            near = closest(value, known)
            everyone = kind == "did_not"
            if lang == "zh":
                hint = f"; 最接近的: {', '.join(near)}" if near else ""
                out.append(
                    f"{kind}({arg}={value!r}): 仓库中没有这个值, 条件"
                    f"{'对所有人成立' if everyone else '不会匹配任何人'}{hint}"
                )
            else:
                hint = f"; closest: {', '.join(near)}" if near else ""
                out.append(
                    f"{kind}({arg}={value!r}): no row of the warehouse has this value, "
                    f"so the condition matches {'everyone' if everyone else 'nobody'}"
                    f"{hint}"
                )
    return out

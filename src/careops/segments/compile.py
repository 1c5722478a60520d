"""Check a rule against the tag registry and compile it to an Ibis boolean expression.

Tag names must exist, values must fit the tag's type (category values may be given as codes or
as their Chinese/English labels), and event conditions must be known functions with known
arguments. Every value becomes an Ibis literal: rule text never becomes SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import ibis.expr.types as ir

from careops.segments import vocab
from careops.segments.errors import RuleError
from careops.segments.rules import OPS, BoolOp, Compare, Event, Node, Not, Value, to_text
from careops.tags import codes
from careops.tags.context import TagContext
from careops.tags.errors import TagError
from careops.tags.registry import Tag, resolve_tag, unknown_message


@dataclass(frozen=True)
class EventSpec:
    positional: tuple[str, ...]
    optional: tuple[str, ...]
    help: str


EVENTS: dict[str, EventSpec] = {
    "searched": EventSpec(
        ("text",),
        ("within", "times"),
        'searched("失眠", within="30d", times=1): a search whose query contains the text',
    ),
    "viewed": EventSpec(
        (),
        ("topic", "within", "times"),
        'viewed(topic="高血压", within="30d", times=1): content views (whose '
        "topic contains the text)",
    ),
    "did": EventSpec(
        ("name",),
        ("within", "times"),
        'did("share", within="30d", times=2): app events of that name',
    ),
    "did_not": EventSpec(
        ("name",), ("within",), 'did_not("app_open", within="7d"): no such app event'
    ),
    "consulted": EventSpec(
        (),
        ("department", "within", "times"),
        'consulted(department="心血管内科", within="90d", times=1)',
    ),
    "bought": EventSpec(
        (),
        ("category", "within", "times", "min_amount"),
        'bought(category="药品", within="90d", times=2): paid orders',
    ),
    "measured": EventSpec(
        ("kind",),
        ("within", "times"),
        'measured("bp", within="30d"): bp (血压), glucose (血糖) or a LOINC code',
    ),
}
_WITHIN = re.compile(r"^(\d+)\s*([dwDW]?)$")


def _fail_type(tag: Tag, value: Value, what: str) -> RuleError:
    return RuleError(f"tag {tag.name!r} ({tag.label_zh}) is {what}; {value!r} does not fit")


def _scalar(tag: Tag, value: Value):
    t = tag.type
    if value is None:
        raise RuleError(
            f"{tag.name!r} 与 null 比较请用 'is null' 或 'is not null' / compare {tag.name!r} "
            "with null using 'is null' or 'is not null'"
        )
    if t in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail_type(tag, value, "a number")
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise _fail_type(tag, value, "true/false")
        return value
    if t in ("string", "category"):
        if not isinstance(value, str):
            raise _fail_type(tag, value, "text")
        if t == "category":
            for code, zh, en in tag.values:
                if value in (code, zh, en):
                    return code
            allowed = ", ".join(f"{c} ({zh})" for c, zh, _ in tag.values)
            raise RuleError(
                f"{value!r} 不是标签 {tag.name!r} 的取值, 可选 {allowed} / {value!r} is not a "
                f"value of tag {tag.name!r}; use one of {allowed}"
            )
        return value
    if t in ("date", "timestamp"):
        try:
            d = date.fromisoformat(value) if t == "date" else datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise _fail_type(tag, value, f"a {t} (YYYY-MM-DD)") from None
        return d
    raise RuleError(
        f"标签 {tag.name!r} 的类型 {t} 不能在规则中比较 / tag {tag.name!r} has type {t}, which "
        "rules cannot compare"
    )


def check(node: Node) -> tuple[Node, list[str]]:
    """Validate a rule; return it with values normalised and the tag names it reads."""
    names: list[str] = []

    def walk(n: Node) -> Node:
        if isinstance(n, BoolOp):
            return BoolOp(n.op, tuple(walk(x) for x in n.items))
        if isinstance(n, Not):
            return Not(walk(n.item))
        if isinstance(n, Event):
            return _check_event(n)
        try:
            tag = resolve_tag(n.tag)  # a label (生命周期) becomes the tag's name
        except TagError as exc:
            raise RuleError(str(exc)) from None
        if tag.name not in names:
            names.append(tag.name)
        return Compare(tag.name, n.op, _check_compare(tag, n))

    return walk(node), names


def _check_compare(tag: Tag, n: Compare):
    op, value = n.op, n.value
    if op == "true":
        if tag.type != "bool":
            raise RuleError(
                f"标签 {tag.name!r} 不是真/假值, 请比较它, 如 {tag.name} == … / tag {tag.name!r} "
                f"is not true/false; compare it, e.g. {tag.name} == …"
            )
        return None
    if op in ("is null", "is not null"):
        return None
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise RuleError(
                f"{tag.name} between: 需要两个值 (下限和上限) / needs two values (low and high)"
            )
        if tag.type not in ("int", "float", "date", "timestamp"):
            raise RuleError(
                f"标签 {tag.name!r} 不是数字或日期, 不能用 'between' / tag {tag.name!r} is not a "
                "number or date: 'between' does not apply"
            )
        return [_scalar(tag, v) for v in value]
    if op in ("in", "not in"):
        if not isinstance(value, list | tuple) or not value:
            raise RuleError(f"{tag.name} {op}: 需要非空列表 [..] / needs a non-empty list [..]")
        return [_scalar(tag, v) for v in value]
    if op == "contains":
        if tag.type != "string" or not isinstance(value, str):
            raise RuleError(
                f"'contains' 需要文本标签和文本值 ({tag.name!r} 是 {tag.type}) / 'contains' "
                f"needs a text tag and a text value ({tag.name!r} is {tag.type})"
            )
        return value
    if op not in OPS:
        raise RuleError(f"未知的运算符 {op!r} / unknown operator {op!r}")
    if op not in ("==", "!=") and tag.type in ("string", "category", "bool"):
        raise RuleError(
            f"标签 {tag.name!r} 是 {tag.type}, 只能用 == 、!= (或 in) 比较 / tag {tag.name!r} is "
            f"{tag.type}: only == and != (or in) compare it"
        )
    return _scalar(tag, value)


def _days(value: Value, where: str) -> int | None:
    if value is None:
        return None
    m = _WITHIN.match(str(value)) if not isinstance(value, bool) else None
    if not m:
        raise RuleError(
            f'{where}: within={value!r} 不是时间窗, 请写 "30d" 或 "4w" / within={value!r} is not '
            'a window; use e.g. "30d" or "4w"'
        )
    n = int(m.group(1)) * (7 if m.group(2).lower() == "w" else 1)
    if n <= 0:
        raise RuleError(f"{where}: within 至少为 1 天 / within must be at least 1 day")
    return n


def _check_event(n: Event) -> Event:
    spec = EVENTS.get(n.kind)
    if spec is None:
        raise RuleError(
            unknown_message("event condition", n.kind, EVENTS) + f"; known: {', '.join(EVENTS)}"
        )
    if len(n.args) > len(spec.positional):
        raise RuleError(f"{n.kind}: 参数过多 / too many arguments; {spec.help}")
    kw = n.kw()
    for key in kw:
        if key not in (*spec.positional, *spec.optional):
            raise RuleError(
                unknown_message(
                    f"argument of {n.kind}()",
                    key,
                    (*spec.positional, *spec.optional),
                    what_zh=f" {n.kind}() 参数",
                )
                + f"; {spec.help}"
            )
    values = dict(zip(spec.positional, n.args, strict=False)) | kw
    for key in spec.positional:
        if not isinstance(values.get(key), str) or not values[key]:
            raise RuleError(f"{n.kind}: {key} 应为文本 / needs {key} as text; {spec.help}")
    _days(values.get("within"), n.kind)
    times = values.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise RuleError(
            f"{n.kind}: times 应为 ≥ 1 的整数, 实际 {times!r} / times must be a whole number "
            f"≥ 1, got {times!r}"
        )
    for key in ("department", "category", "topic"):
        if key in values and not isinstance(values[key], str):
            raise RuleError(f"{n.kind}: {key} 应为文本 / {key} must be text")
    if "min_amount" in values and (
        isinstance(values["min_amount"], bool) or not isinstance(values["min_amount"], int | float)
    ):
        raise RuleError(f"{n.kind}: min_amount 应为数字 / min_amount must be a number")
    return Event(n.kind, (), tuple(vocab.normalise(n.kind, values).items()))


def _event_users(ctx: TagContext, n: Event) -> tuple[ir.Column, bool]:
    """Users meeting an event condition (and whether the condition is negated)."""
    kw = n.kw()
    days = _days(kw.get("within"), n.kind)
    times = int(kw.get("times", 1))
    negate = n.kind == "did_not"
    table, ts = {
        "consulted": ("consultations", "started_at"),
        "bought": ("orders", "ts"),
        "measured": ("observations", "ts"),
    }.get(n.kind, ("events", "ts"))
    t = ctx.facts(table, ts)
    if days is not None:  # the time window first: a cheap comparison, skips old row groups
        t = t.filter(ctx.since(t[ts], days))
    if n.kind in ("searched", "viewed", "did", "did_not"):
        # the value of properties.query / .topic, read as JSON: the text of the whole document
        # would match the key ("query") and miss values written with \u escapes
        if n.kind == "searched":
            t = t.filter(
                t.name == "search", ctx.prop(t.properties, "query").contains(str(kw["text"]))
            )
        elif n.kind == "viewed":
            t = t.filter(t.name == "view_content")
            if "topic" in kw:
                t = t.filter(ctx.prop(t.properties, "topic").contains(str(kw["topic"])))
        else:
            t = t.filter(t.name == str(kw["name"]))
    elif n.kind == "consulted":
        if "department" in kw:
            t = t.filter(t.department == str(kw["department"]))
    elif n.kind == "bought":
        t = t.filter(t.status == "paid")
        if "category" in kw:
            t = t.filter(t.category == str(kw["category"]))
        if "min_amount" in kw:
            t = t.filter(t.amount_cny >= float(kw["min_amount"]))
    else:  # measured
        kind = str(kw["kind"])
        codes_ = {"bp": codes.BP_CODES, "glucose": codes.GLUCOSE_CODES}.get(kind, (kind,))
        t = t.filter(t.code.isin(codes_))
    if times > 1:
        grouped = t.group_by("user_id").aggregate(n=t.count())
        return grouped.filter(grouped.n >= times).user_id, negate
    return t.user_id, negate


def build(node: Node, t: ir.Table, ctx: TagContext) -> ir.BooleanValue:
    """The Ibis condition of a checked rule over a table of tags (`user_id` + tags)."""
    if isinstance(node, BoolOp):
        parts = [build(x, t, ctx) for x in node.items]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if node.op == "and" else (out | p)
        return out
    if isinstance(node, Not):
        return ~build(node.item, t, ctx)
    if isinstance(node, Event):
        users, negate = _event_users(ctx, node)
        hit = t.user_id.isin(users)
        return ~hit if negate else hit
    col = t[node.tag]
    op, v = node.op, node.value
    if op == "true":
        return col.fill_null(False)
    if op == "is null":
        return col.isnull()
    if op == "is not null":
        return col.notnull()
    if op == "between":
        return col.between(v[0], v[1]).fill_null(False)
    if op == "in":
        return col.isin(v).fill_null(False)
    if op == "not in":
        return (~col.isin(v)).fill_null(False)
    if op == "contains":
        return col.contains(v).fill_null(False)
    expr = {
        "==": col == v,
        "!=": col != v,
        ">": col > v,
        ">=": col >= v,
        "<": col < v,
        "<=": col <= v,
    }[op]
    return expr.fill_null(False)


def describe(node: Node) -> str:
    return to_text(node)

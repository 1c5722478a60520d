"""The segment rule language: a tree of conditions, its text form and its JSON/YAML form.

Text form (keywords `and`, `or`, `not`, `between … and …`, `in [...]`, `is [not] null`,
`contains`; strings in double or single quotes):

    searched("失眠", within="30d") and sex == "F" and age between 25 and 45
    lifecycle in ["silent", "churned"] and not did("app_open", within="7d")
    chronic and days_without_bp >= 30

JSON / YAML form (the same tree):

    {"and": [{"event": "searched", "args": ["失眠"], "within": "30d"},
             {"tag": "sex", "op": "==", "value": "F"},
             {"tag": "age", "op": "between", "value": [25, 45]}]}

Tags may be named by their Chinese label too (`生命周期 == "沉默用户"`). The parser only builds
this tree; names are checked against the tag registry (labels become names) and values are bound
as literals when the tree is compiled, so no text from a rule ever becomes SQL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from careops.segments.errors import RuleError

Value = str | int | float | bool | None
OPS = ("==", "!=", ">=", "<=", ">", "<")
# limits that keep a hostile rule from exhausting the parser or the engine (a real segment
# is a handful of conditions, a few levels deep)
MAX_DEPTH = 32  # nested parentheses, `not`s and JSON levels
MAX_CONDITIONS = 1000  # comparisons and event conditions in one rule
MAX_LENGTH = 100_000  # characters of rule text
MAX_INT = 2**63 - 1  # numbers must fit the engines' BIGINT / DOUBLE


@dataclass(frozen=True)
class Compare:
    tag: str
    op: str  # one of OPS, "between", "in", "not in", "contains", "is null", "is not null", "true"
    value: Any = None


@dataclass(frozen=True)
class Event:
    kind: str
    args: tuple[Value, ...] = ()
    kwargs: tuple[tuple[str, Value], ...] = ()

    def kw(self) -> dict[str, Value]:
        return dict(self.kwargs)


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...] = field(default_factory=tuple)


Node = Compare | Event | Not | BoolOp

# ---------------------------------------------------------------- text form

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|>=|<=|>|<|=)
  | (?P<punct>[()\[\],])
  | (?P<name>[^\W\d]\w*)
""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "between", "in", "is", "null", "true", "false", "contains"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def value(self) -> Value:
        if self.kind == "num":
            if len(self.text) > 30:  # before converting: int() of 4,300+ digits raises
                raise RuleError(
                    f"第 {self.pos + 1} 列的数字 {self.text[:20]}… 过大 / number "
                    f"{self.text[:20]}… at column {self.pos + 1} is too large (at most {MAX_INT:,})"
                )
            number = float(self.text) if "." in self.text else int(self.text)
            if abs(number) > MAX_INT:
                raise RuleError(
                    f"第 {self.pos + 1} 列的数字 {self.text[:20]}… 太大 (最大 {MAX_INT:,}) / "
                    f"第 {self.pos + 1} 列的数字 {self.text[:20]}… 过大 / number "
                    f"{self.text[:20]}… at column {self.pos + 1} is too large (at most {MAX_INT:,})"
                )
            return number
        if self.kind == "str":
            return _unescape(self.text[1:-1])
        if self.text == "true":
            return True
        if self.text == "false":
            return False
        return None


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def tokenize(text: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise RuleError(
                f"第 {pos + 1} 列的 {text[pos]!r} 无法识别: 请使用标签名、带引号的文本、数字和 "
                f"and/or/not / cannot read {text[pos]!r} at column {pos + 1}: "
                "use tag names, quoted strings, numbers and and/or/not"
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            tok_text = m.group()
            if kind == "name" and tok_text.lower() in KEYWORDS:
                kind, tok_text = "kw", tok_text.lower()
            out.append(Token(kind, tok_text, pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise RuleError(
                f"规则长 {len(text):,} 个字符, 最多 {MAX_LENGTH:,} / the rule is {len(text):,} "
                f"characters long; at most {MAX_LENGTH:,}"
            )
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.conditions = 0

    def nested(self, tok: Token) -> None:
        """One level deeper (a '(' or a `not`); refuse past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(
                f"规则在第 {tok.pos + 1} 列嵌套超过 {MAX_DEPTH} 层, 请简化 / the rule nests "
                f"deeper than {MAX_DEPTH} levels at column {tok.pos + 1}; "
                "simplify it (and/or lists need no parentheses)"
            )

    def counted(self, node: Node) -> Node:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise RuleError(
                f"规则的条件超过 {MAX_CONDITIONS} 个; 多个取值请用 `in [...]`, "
                f"或保存较小的人群再组合 / the rule has more than {MAX_CONDITIONS} conditions; "
                "use `in [...]` for lists of values, or save smaller segments and combine them"
            )
        return node

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def where(self, tok: Token | None) -> str:
        return "at the end" if tok is None else f"at column {tok.pos + 1}"

    def fail(self, expected_zh: str, expected: str) -> RuleError:
        tok = self.peek()
        got = "the end of the rule" if tok is None else repr(tok.text)
        where_zh = "规则结尾处" if tok is None else f"第 {tok.pos + 1} 列"
        got_zh = "规则结尾" if tok is None else repr(tok.text)
        return RuleError(
            f"{where_zh}应为{expected_zh}, 实际是 {got_zh} / expected {expected} "
            f"{self.where(tok)}, found {got}"
        )

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        tok = self.peek()
        if tok is not None and tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(
        self, kind: str, text: str | None = None, what: tuple[str, str] | None = None
    ) -> Token:
        """The next token if it is `kind` (`text`); else an error naming `what` (zh, en)."""
        tok = self.accept(kind, text)
        if tok is None:
            name = repr(text or kind)
            raise self.fail(*(what or (name, name)))
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise RuleError("规则为空 / the rule is empty")
        node = self.or_expr()
        if self.peek() is not None:
            tok = self.peek()
            if tok.text == ")":
                raise RuleError(
                    f"第 {tok.pos + 1} 列的 ')' 没有对应的 '(' / unbalanced ')' at column "
                    f"{tok.pos + 1}: no '(' opens it"
                )
            raise self.fail("'and'、'or' 或规则结尾", "'and', 'or' or the end of the rule")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.accept("kw", "or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.accept("kw", "and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Node:
        tok = self.accept("kw", "not")
        if tok:
            self.nested(tok)
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        open_tok = self.accept("punct", "(")
        if open_tok:
            self.nested(open_tok)
            node = self.or_expr()
            if not self.accept("punct", ")"):
                raise RuleError(
                    f"第 {open_tok.pos + 1} 列的 '(' 缺少对应的 ')' / unbalanced '(' at column "
                    f"{open_tok.pos + 1}: missing ')' {self.where(self.peek())}"
                )
            self.depth -= 1
            return node
        name = self.accept("name")
        if name is None:
            raise self.fail(
                "标签名、事件条件 (如 searched(\"…\")) 或 '('",
                "a tag name, an event condition like searched(\"…\") or '('",
            )
        if self.accept("punct", "("):
            return self.counted(self.call(name))
        return self.counted(self.comparison(name.text))

    def value(self) -> Value:
        tok = self.peek()
        if tok is not None and (
            tok.kind in ("num", "str")
            or (tok.kind == "kw" and tok.text in ("true", "false", "null"))
        ):
            self.i += 1
            return tok.value
        raise self.fail(
            "取值 (数字、带引号的文本、true、false 或 null)",
            "a value (a number, a quoted string, true, false or null)",
        )

    def call(self, name: Token) -> Event:
        args: list[Value] = []
        kwargs: list[tuple[str, Value]] = []
        if not self.accept("punct", ")"):
            while True:
                if (
                    self.peek()
                    and self.peek().kind == "name"
                    and self.peek(1)
                    and self.peek(1).text == "="
                ):
                    key = self.expect("name").text
                    self.expect("op", "=")
                    kwargs.append((key, self.value()))
                else:
                    if kwargs:
                        raise self.fail(
                            "命名参数之后只能是命名参数 (name=value)",
                            "a keyword argument (name=value) after keyword ones",
                        )
                    args.append(self.value())
                if self.accept("punct", ")"):
                    break
                if not self.accept("punct", ","):
                    raise RuleError(
                        f"第 {name.pos + 1} 列 {name.text} 后的 '(' 缺少 ',' 或 ')' / unbalanced "
                        f"'(' after {name.text} at column {name.pos + 1}: expected ',' or ')' "
                        f"{self.where(self.peek())}"
                    )
        return Event(name.text, tuple(args), tuple(kwargs))

    def comparison(self, tag: str) -> Compare:
        if self.accept("kw", "between"):
            lo = self.value()
            self.expect("kw", "and", ("'between … and …' 中的 'and'", "'and' in 'between … and …'"))
            return Compare(tag, "between", [lo, self.value()])
        if self.accept("kw", "not"):
            self.expect("kw", "in", ("'not' 之后的 'in'", "'in' after 'not'"))
            return Compare(tag, "not in", self.value_list())
        if self.accept("kw", "in"):
            return Compare(tag, "in", self.value_list())
        if self.accept("kw", "is"):
            negate = bool(self.accept("kw", "not"))
            self.expect("kw", "null", ("'is' 之后的 'null'", "'null' after 'is'"))
            return Compare(tag, "is not null" if negate else "is null")
        if self.accept("kw", "contains"):
            return Compare(tag, "contains", self.value())
        op = self.accept("op")
        if op is not None:
            if op.text == "=":
                raise RuleError(
                    f"比较请用 '==', 不是 '=' (第 {op.pos + 1} 列) / use '==' to compare, not "
                    f"'=' (column {op.pos + 1})"
                )
            return Compare(tag, op.text, self.value())
        return Compare(tag, "true")

    def value_list(self) -> list[Value]:
        open_tok = self.expect("punct", "[", ("列表开头的 '['", "'[' to start a list"))
        values = [self.value()]
        while self.accept("punct", ","):
            values.append(self.value())
        if not self.accept("punct", "]"):
            raise RuleError(
                f"第 {open_tok.pos + 1} 列的 '[' 缺少 ']' / unbalanced '[' at column "
                f"{open_tok.pos + 1}: missing ']'"
            )
        return values


def parse_text(text: str) -> Node:
    """Parse the readable text form of a rule."""
    return _Parser(text).parse()


# ---------------------------------------------------------------- JSON / YAML form


def from_data(data: Any, path: str = "rule") -> Node:
    """Build a rule from its JSON/YAML structure, naming the path of any mistake."""
    _check_data(data, path)
    return _from_data(data, path)


def _check_data(data: Any, path: str) -> None:
    """Refuse a structure nested past MAX_DEPTH or holding more than MAX_CONDITIONS conditions,
    before anything recurses into it."""
    stack, conditions = [(data, 0)], 0
    while stack:
        item, depth = stack.pop()
        if depth > 2 * MAX_DEPTH + 2:  # each level is an object and a list
            raise RuleError(
                f"{path}: 嵌套超过 {MAX_DEPTH} 层, 请简化规则 / nested deeper than {MAX_DEPTH} "
                "levels; simplify the rule"
            )
        if isinstance(item, dict):
            conditions += "tag" in item or "event" in item
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and not abs(item) <= MAX_INT  # also NaN and infinity
        ):
            raise RuleError(f"{path}: 数字 {item!r} 超出范围 / the number {item!r} is out of range")
        if conditions > MAX_CONDITIONS:
            raise RuleError(
                f"{path}: 条件超过 {MAX_CONDITIONS} 个 / more than {MAX_CONDITIONS} conditions"
            )


def _from_data(data: Any, path: str) -> Node:
    if not isinstance(data, dict):
        raise RuleError(
            f"{path}: 应为对象, 实际是 {type(data).__name__} / expected an object, got "
            f"{type(data).__name__}"
        )
    if "and" in data or "or" in data:
        op = "and" if "and" in data else "or"
        items = data[op]
        if not isinstance(items, list) or not items:
            raise RuleError(
                f"{path}.{op}: 应为非空的条件列表 / expected a non-empty list of conditions"
            )
        return BoolOp(op, tuple(_from_data(x, f"{path}.{op}[{i}]") for i, x in enumerate(items)))
    if "not" in data:
        return Not(_from_data(data["not"], f"{path}.not"))
    if "tag" in data:
        tag, op = data["tag"], data.get("op", "true")
        if not isinstance(tag, str):
            raise RuleError(f"{path}.tag: 应为标签名 / expected a tag name")
        allowed = (*OPS, "between", "in", "not in", "contains", "is null", "is not null", "true")
        if op not in allowed:
            raise RuleError(
                f"{path}.op: 未知的运算符 {op!r}, 可选 {', '.join(allowed)} / unknown operator "
                f"{op!r}; use one of {', '.join(allowed)}"
            )
        return Compare(tag, op, data.get("value"))
    if "event" in data:
        args = data.get("args", [])
        if not isinstance(args, list):
            raise RuleError(f"{path}.args: 应为列表 / expected a list")
        kwargs = tuple((k, v) for k, v in data.items() if k not in ("event", "args"))
        return Event(str(data["event"]), tuple(args), kwargs)
    raise RuleError(
        f"{path}: 应为以下键之一: and、or、not、tag、event / expected one of the keys and, or, "
        "not, tag, event"
    )


def to_data(node: Node) -> dict:
    """The JSON/YAML structure of a rule."""
    if isinstance(node, BoolOp):
        return {node.op: [to_data(x) for x in node.items]}
    if isinstance(node, Not):
        return {"not": to_data(node.item)}
    if isinstance(node, Compare):
        out: dict[str, Any] = {"tag": node.tag}
        if node.op != "true":
            out["op"] = node.op
        if node.op not in ("true", "is null", "is not null"):
            out["value"] = node.value
        return out
    out = {"event": node.kind}
    if node.args:
        out["args"] = list(node.args)
    return out | dict(node.kwargs)


def _lit(v: Value) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


def to_text(node: Node, parent: str | None = None) -> str:
    """The readable text form of a rule."""
    if isinstance(node, BoolOp):
        text = f" {node.op} ".join(to_text(x, node.op) for x in node.items)
        return f"({text})" if parent is not None and parent != node.op else text
    if isinstance(node, Not):
        return f"not {to_text(node.item, 'not')}"
    if isinstance(node, Event):
        parts = [_lit(a) for a in node.args] + [f"{k}={_lit(v)}" for k, v in node.kwargs]
        return f"{node.kind}({', '.join(parts)})"
    if node.op == "true":
        return node.tag
    if node.op in ("is null", "is not null"):
        return f"{node.tag} {node.op}"
    if node.op == "between":
        lo, hi = node.value
        return f"{node.tag} between {_lit(lo)} and {_lit(hi)}"
    if node.op in ("in", "not in"):
        return f"{node.tag} {node.op} [{', '.join(_lit(v) for v in node.value)}]"
    return f"{node.tag} {node.op} {_lit(node.value)}"


def parse_rule(rule: str | dict | Node) -> Node:
    """A rule from its text form, its JSON/YAML text, or its structure."""
    if isinstance(rule, Compare | Event | Not | BoolOp):
        return rule
    if isinstance(rule, dict):
        return from_data(rule)
    if not isinstance(rule, str):
        raise RuleError(
            f"规则应为文本或 JSON/YAML 对象, 不是 {type(rule).__name__} / a rule is text or a "
            f"JSON/YAML object, not {type(rule).__name__}"
        )
    stripped = rule.strip()
    if stripped.startswith("{"):
        if len(stripped) > MAX_LENGTH:
            raise RuleError(
                f"规则长 {len(stripped):,} 个字符, 最多 {MAX_LENGTH:,} / the rule is "
                f"{len(stripped):,} characters long; at most {MAX_LENGTH:,}"
            )
        try:
            return from_data(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise RuleError(
                f"规则看起来是 JSON, 但格式无效 / the rule looks like JSON but is not valid: {exc}"
            ) from None
        except RecursionError:
            raise RuleError(
                f"规则嵌套超过 {MAX_DEPTH} 层 / the rule nests deeper than {MAX_DEPTH} levels"
            ) from None
    return parse_text(rule)

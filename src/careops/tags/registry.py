"""The tag registry: every tag defined once, with its labels, kind, type and Ibis builder.

A tag's builder receives a `Scope` and returns an Ibis column expression over one row per
patient. It reads per-user aggregates ("families", see `families.py`) through
`scope.col("family.column")` and other tags through `scope.tag("name")`, so derived tags
(lifecycle from inactive days, value tier from RFM) are written once and computed in one query.
Smart tags (churn score, predicted LTV) register the same way when their models exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import ibis.expr.types as ir

from careops.tags.errors import TagError

Kind = Literal["static", "dynamic", "smart"]
TagType = Literal["string", "category", "int", "float", "bool", "date", "timestamp"]

IBIS_TYPES: dict[str, str] = {
    "string": "string",
    "category": "string",
    "int": "int64",
    "float": "float64",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


@dataclass(frozen=True)
class Tag:
    """One tag: identity, labels, kind, value type and how to compute it."""

    name: str
    label_zh: str
    label_en: str
    kind: Kind
    type: TagType
    description: str
    build: Callable[[Scope], ir.Value]
    values: tuple[tuple[str, str, str], ...] = ()  # (code, zh, en) for categories
    dimension: str | None = None  # set for the four layer dimensions

    def label(self, lang: str = "zh") -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def value_label(self, code: object, lang: str = "zh") -> str:
        for value, zh, en in self.values:
            if value == code:
                return zh if lang == "zh" else en
        return "" if code is None else str(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(v for v, _, _ in self.values)


REGISTRY: dict[str, Tag] = {}


def register(tag: Tag) -> Tag:
    """Add a tag to the registry (a name may be defined only once)."""
    if tag.name in REGISTRY:
        raise TagError(f"标签 {tag.name!r} 定义了两次 / tag {tag.name!r} is defined twice")
    REGISTRY[tag.name] = tag
    return tag


def tag(
    name: str,
    label_zh: str,
    label_en: str,
    kind: Kind,
    type: TagType,
    description: str,
    *,
    values: tuple[tuple[str, str, str], ...] = (),
    dimension: str | None = None,
):
    """Decorator form of `register` for a builder function."""

    def wrap(build: Callable[[Scope], ir.Value]) -> Callable[[Scope], ir.Value]:
        register(Tag(name, label_zh, label_en, kind, type, description, build, values, dimension))
        return build

    return wrap


def get_tag(name: str) -> Tag:
    """The tag called `name`, or an error naming the closest known tag."""
    _load_builtin()
    try:
        return REGISTRY[name]
    except KeyError:
        raise TagError(unknown_message("tag", name, REGISTRY)) from None


def resolve_tag(text: str) -> Tag:
    """A tag by name or by its label (生命周期 → lifecycle, "Lifecycle" too); else an error naming
    the closest tag and `careops tags list`."""
    _load_builtin()
    if text in REGISTRY:
        return REGISTRY[text]
    labels = {t.label_zh: t for t in REGISTRY.values()} | {
        t.label_en.lower(): t for t in REGISTRY.values()
    }
    found = labels.get(text) or labels.get(text.lower())
    if found is not None:
        return found
    known = {t.name: t.name for t in REGISTRY.values()} | {
        t.label_zh: f"{t.name} ({t.label_zh})" for t in REGISTRY.values()
    }
    close = difflib.get_close_matches(text, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {known[close[0]]!r}?" if close else ""
    raise TagError(
        f"未知标签 {text!r} / unknown tag {text!r}{hint} (`careops tags list` shows every tag)"
    )


def all_tags() -> list[Tag]:
    _load_builtin()
    return list(REGISTRY.values())


#: the Chinese of the things `unknown_message` names
_WHAT_ZH = {"tag": "标签", "event condition": "事件条件", "saved segment": "已保存的人群"}


def unknown_message(what: str, name: str, known, what_zh: str | None = None) -> str:
    """ "未知的标签 'x'; 是否是 'y'? / unknown tag 'x'; did you mean 'y'?" """
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    hint_zh = f"; 是否是 {close[0]!r}?" if close else ""
    zh = what_zh or _WHAT_ZH.get(what, what)
    return f"未知的{zh} {name!r}{hint_zh} / unknown {what} {name!r}{hint}"


def _load_builtin() -> None:
    # the built-in tag modules register themselves on import
    from careops.tags import builtin  # noqa: F401


class Scope:
    """What a tag builder sees: family columns and other tags over the patient table."""

    def __init__(self, ctx, wide: ir.Table) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.wide = wide
        self._memo: dict[str, ir.Value] = {}
        self._stack: list[str] = []

    def col(self, ref: str) -> ir.Value:
        """A family column, `family.column` (joined onto the patients)."""
        family, column = ref.split(".", 1)
        return self.wide[f"{family}__{column}"]

    def tag(self, name: str) -> ir.Value:
        """Another tag's value expression (computed once per query)."""
        if name in self._memo:
            return self._memo[name]
        if name in self._stack:
            raise TagError(
                f"标签之间循环依赖: {' → '.join(self._stack)} / tags depend on each other in a "
                f"cycle: {' → '.join(self._stack)}"
            )
        self._stack.append(name)
        try:
            expr = get_tag(name).build(self)
        finally:
            self._stack.pop()
        self._memo[name] = expr
        return expr

"""Red flags first: words that send a patient to an emergency room now, before any department.

The rules are data (`data/red_flags.yaml`, sources named there): a rule fires when each of its
word groups has a word in the text that is not negated (不胸痛 is not chest pain: the same scan
as the ranker, `careops.triage.scan`), and, for a `child` rule, the text is about a child. The
answer is the fixed advice "请立即拨打120或前往急诊" with the rule that fired.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from careops.errors import InvalidInput
from careops.triage.kb import _data, normalise, shipped
from careops.triage.scan import scan


@dataclass(frozen=True)
class Rule:
    """One red flag: its id, Chinese name, word groups (all needed) and test phrasings."""

    id: str
    name: str
    groups: tuple[tuple[str, ...], ...]
    child: bool
    fires: tuple[str, ...]
    quiet: tuple[str, ...]


@dataclass(frozen=True)
class RedFlags:
    """The rules, the advice, and the lexicon that finds their words."""

    advice: str
    rules: tuple[Rule, ...]
    terms: dict[str, int]  # word → index into `keys`
    keys: tuple[tuple[tuple[int, int], ...], ...]  # word index → ((rule, group), …)
    max_len: int


@dataclass(frozen=True)
class Emergency:
    """A red flag that fired: the rule and the advice."""

    rule: str
    name: str
    advice: str
    words: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "name": self.name,
            "advice": self.advice,
            "words": list(self.words),
        }


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput(
            f"red_flags {where}: 应为非空词表 / expected a list of words", field="red_flags"
        )
    return tuple(v.strip() for v in value)


def parse(data: object) -> RedFlags:
    """Rules from the parsed YAML, validated (ids unique, groups non-empty lists of words)."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise InvalidInput(
            "red_flags: 需要 rules 列表 / a `rules` list is needed", field="red_flags"
        )
    advice = data.get("advice")
    if not isinstance(advice, str) or not advice.strip():
        raise InvalidInput("red_flags: 需要 advice / `advice` is needed", field="red_flags")
    rules: list[Rule] = []
    for k, r in enumerate(data["rules"], 1):
        where = f"rule {k}"
        if not isinstance(r, dict) or not isinstance(r.get("id"), str):
            raise InvalidInput(f"red_flags {where}: 需要 id / an `id` is needed", field="red_flags")
        if any(x.id == r["id"] for x in rules):
            raise InvalidInput(
                f"red_flags {where}: id {r['id']!r} 重复 / duplicate", field="red_flags"
            )
        groups = r.get("all")
        if not isinstance(groups, list) or not groups:
            raise InvalidInput(
                f"red_flags {r['id']}: 需要 all / `all` groups needed", field="red_flags"
            )
        rules.append(
            Rule(
                id=r["id"],
                name=str(r.get("name") or r["id"]),
                groups=tuple(_str_list(g, f"{r['id']} all[{i}]") for i, g in enumerate(groups)),
                child=bool(r.get("child", False)),
                fires=_str_list(r.get("fires", []) or ["-"], f"{r['id']} fires"),
                quiet=_str_list(r.get("quiet", []) or ["-"], f"{r['id']} quiet"),
            )
        )
    index: dict[str, list[tuple[int, int]]] = {}
    for ri, rule in enumerate(rules):
        for gi, group in enumerate(rule.groups):
            for w in group:
                index.setdefault(normalise(w), []).append((ri, gi))
    words = list(index)
    return RedFlags(
        advice=advice.strip(),
        rules=tuple(rules),
        terms={w: i for i, w in enumerate(words)},
        keys=tuple(tuple(index[w]) for w in words),
        max_len=max(map(len, words)),
    )


def load(path: Path | None = None) -> RedFlags:
    """The rules of a YAML file, or the shipped ones (cached)."""
    if path is None:
        return shipped_rules()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"red_flags 无法读取 / cannot read {path}: {exc}", field="red_flags"
        ) from None
    return parse(data)


@functools.cache
def shipped_rules() -> RedFlags:
    return parse(yaml.safe_load(_data("red_flags.yaml").read_text(encoding="utf-8")))


def check(
    text: str, *, child: bool | None = None, flags: RedFlags | None = None
) -> Emergency | None:
    """The first red flag that fires for `text`, or None. `child`: whether the text is about a
    child (computed from the text when None)."""
    flags = flags or shipped_rules()
    norm = normalise(text)
    hits = scan(norm, flags.terms, flags.max_len, normalised=True)
    met: dict[int, dict[int, str]] = {}
    for h in hits:
        if h.negated:
            continue
        for ri, gi in flags.keys[h.key]:
            met.setdefault(ri, {}).setdefault(gi, h.term)
    for ri, rule in enumerate(flags.rules):
        got = met.get(ri, {})
        if len(got) < len(rule.groups):
            continue
        if rule.child:
            if child is None:
                from careops.triage.zeroshot import is_child

                kb = shipped()
                child = is_child(text, scan(norm, kb.terms, kb.max_term, normalised=True), kb)
            if not child:
                continue
        return Emergency(rule.id, rule.name, flags.advice, tuple(got[g] for g in sorted(got)))
    return None

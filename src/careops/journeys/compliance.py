"""Medical-advertising copy checker (医疗广告合规), run on every message template at validation.

Rules live in `compliance_rules.yaml` (shipped) plus the hospital's own file (setting
`journeys.compliance_rules`, same shape, its rules added, same ids replaced). A rule fires on
literal `words` or regular-expression `patterns`; a hit that lies inside one of the rule's
`except` phrases ("最近" for "最") does not fire. `require_any` rules fire when none of their
phrases is present (a marketing message without a disclaimer). Matching ignores case and
full-width/half-width differences (NFKC), so "１００％有效" is caught as "100%有效".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from careops.errors import ConfigError
from careops.journeys import yamlsafe

Severity = Literal["block", "warn"]
MAX_TEXT = 20_000


class Rule(BaseModel):
    """One copy rule."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    severity: Severity
    label: dict[Literal["zh", "en"], str]
    words: list[str] = Field(default_factory=list, max_length=2000)
    patterns: list[str] = Field(default_factory=list, max_length=200)
    except_: list[str] = Field(default_factory=list, alias="except", max_length=2000)
    purposes: list[Literal["marketing", "service", "medical"]] | None = None
    require_any: list[str] = Field(default_factory=list, max_length=200)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"正则无效 / invalid regular expression {p!r}: {exc}") from None
        return v


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(max_length=500)


@dataclass(frozen=True)
class Finding:
    """A rule that fired: where (character offset in the text) and on which words."""

    rule: str
    severity: Severity
    label_zh: str
    label_en: str
    words: str
    start: int
    end: int

    def message(self) -> str:
        head = f"{self.label_zh} / {self.label_en} [{self.rule}]"
        return f"{head}: 「{self.words}」" if self.words else head


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    regex: re.Pattern[str] | None
    exceptions: tuple[str, ...]
    required: tuple[str, ...]


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _compile(rule: Rule) -> _Compiled:
    parts = [re.escape(_norm(w)) for w in sorted(rule.words, key=len, reverse=True) if w]
    parts += [f"(?:{p})" for p in rule.patterns]
    regex = re.compile("|".join(parts)) if parts else None
    return _Compiled(
        rule,
        regex,
        tuple(_norm(e) for e in rule.except_ if e),
        tuple(_norm(r) for r in rule.require_any if r),
    )


def load_rules(path: Path | str | None = None) -> list[Rule]:
    """The shipped rules, with the rules of `path` added (a rule with the same id replaced)."""
    shipped = resources.files("careops.journeys").joinpath("compliance_rules.yaml").read_text()
    rules = {r.id: r for r in _parse(shipped, "compliance_rules.yaml")}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"合规规则文件不存在 / compliance rules file not found: {p}")
        rules.update({r.id: r for r in _parse(p.read_bytes(), str(p))})
    return list(rules.values())


def _parse(text: str | bytes, source: str) -> list[Rule]:
    try:
        doc = yamlsafe.load(text)
        return RuleSet.model_validate(doc.data).rules
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}:{exc.column}: {exc.message}") from None
    except ValidationError as exc:
        raise ConfigError(f"{source}: 合规规则无效 / invalid compliance rules: {exc}") from None


@lru_cache(maxsize=8)
def _checker(path: str | None) -> tuple[_Compiled, ...]:
    return tuple(_compile(r) for r in load_rules(path))


def check(text: str, purpose: str = "marketing", rules_path: str | None = None) -> list[Finding]:
    """Every finding of the rules on `text` (a message of `purpose`), by position."""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    norm = _norm(text)
    if len(norm) != len(text):  # NFKC changed lengths (ligatures): positions are of the norm
        text = norm
    findings: list[Finding] = []
    for c in _checker(rules_path):
        r = c.rule
        if r.purposes is not None and purpose not in r.purposes:
            continue
        if c.required:
            if not any(req in norm for req in c.required):
                findings.append(Finding(r.id, r.severity, r.label["zh"], r.label["en"], "", 0, 0))
            continue
        if c.regex is None:
            continue
        for m in c.regex.finditer(norm):
            if m.end() == m.start() or _excepted(norm, m.start(), m.end(), c.exceptions):
                continue
            findings.append(
                Finding(
                    r.id,
                    r.severity,
                    r.label["zh"],
                    r.label["en"],
                    text[m.start() : m.end()],
                    m.start(),
                    m.end(),
                )
            )
    return sorted(findings, key=lambda f: (f.start, f.rule))


def _excepted(norm: str, start: int, end: int, exceptions: tuple[str, ...]) -> bool:
    """Whether the hit [start, end) lies inside an occurrence of an exception phrase."""
    for phrase in exceptions:
        lo = max(0, start - len(phrase) + 1)
        i = norm.find(phrase, lo)
        while i != -1 and i <= start:
            if i + len(phrase) >= end:
                return True
            i = norm.find(phrase, i + 1)
    return False

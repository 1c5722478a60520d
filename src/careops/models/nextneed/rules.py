"""Next-need rules an operator writes (`data/rules.yaml`): their shape, validated when read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from careops.errors import ConfigError
from careops.journeys import yamlsafe

RULES_FILE = Path(__file__).parent / "data" / "rules.yaml"
_NEED = re.compile(r"^[a-z][a-z0-9_]{1,47}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Facts(_Strict):
    """Facts of a patient a rule looks for (any of them)."""

    orders: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    diagnoses: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()

    def codes(self) -> list[tuple[str, str]]:
        """(fact kind, value): kinds `order`, `dept`, `dx`, `cond` (dx/cond are prefixes)."""
        return (
            [("order", v) for v in self.orders]
            + [("dept", v) for v in self.departments]
            + [("dx", v.upper()) for v in self.diagnoses]
            + [("cond", v.upper()) for v in self.conditions]
        )


class NeedRule(_Strict):
    need: str
    label: str = Field(min_length=1, max_length=60)
    why: str = ""
    when: Facts
    within_days: int | None = Field(None, ge=1, le=3650)
    unless: Facts | None = None
    unless_ever: Facts | None = None
    priority: int = Field(5, ge=0, le=100)

    @model_validator(mode="after")
    def _check(self) -> NeedRule:
        if not _NEED.match(self.need):
            raise ValueError(
                "need 应为小写字母、数字、下划线 (2–48 个) / need must be a lower-case code "
                "(letters, digits, underscores; 2–48)"
            )
        if not self.when.codes():
            raise ValueError("when 没有任何条件 / `when` names no fact")
        if self.within_days is None and any(
            k in ("order", "dept", "dx") for k, _ in self.when.codes()
        ):
            raise ValueError(
                "订单、科室、诊断条件需要 within_days / order, department and diagnosis facts "
                "need within_days"
            )
        return self


class RuleFile(_Strict):
    rules: tuple[NeedRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RuleFile:
        seen = set()
        for r in self.rules:
            if r.need in seen:
                raise ValueError(f"need {r.need!r} 重复 / defined twice")
            seen.add(r.need)
        return self


@dataclass(frozen=True)
class NeedRules:
    rules: tuple[NeedRule, ...]
    source: str


def _where(exc: ValidationError, doc: yamlsafe.Located) -> str:
    problems = []
    for e in exc.errors()[:5]:
        loc = tuple(e["loc"])
        line, _ = doc.mark(loc)
        what = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            what = "未知字段 / unknown field"
        problems.append(f"line {line}: {'.'.join(map(str, loc)) or '(top)'}: {what}")
    return "; ".join(problems)


def parse(text: str | bytes, source: str) -> NeedRules:
    """Rules from YAML text; `ConfigError` naming `source`, line and field."""
    try:
        doc = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{source}: 规则文件应为映射 (rules) / a rule file is a mapping (rules)")
    try:
        return NeedRules(RuleFile.model_validate(doc.data).rules, source)
    except ValidationError as exc:
        raise ConfigError(
            f"{source}: 下一步需求规则无效 / invalid next-need rules: {_where(exc, doc)}"
        ) from None


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> NeedRules:
    """The shipped rules, or a hospital's own file."""
    p = Path(path) if path else RULES_FILE
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"读不到规则文件 / cannot read rule file {p}: {exc.strerror}") from None
    return parse(text, p.name)

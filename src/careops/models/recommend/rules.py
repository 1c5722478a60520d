"""Medical constraints and interest rules of recommendations (`data/rules.yaml`), as data an
operator reads and edits, validated when read.

`Rules.allowed(patients, items)` is the one place the constraints are applied: a boolean matrix
(patients × items), False where any matching eligibility rule refuses the patient (age, sex, a
recorded condition) or the item's kind is never recommended (prescription drugs). A patient
whose age or sex is unknown is refused every item an age or sex rule restricts. Every ranking,
the collaborative model's and the fallback's, goes through it, so no path can break a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from careops.errors import ConfigError
from careops.journeys import yamlsafe

RULES_FILE = Path(__file__).parent / "data" / "rules.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Selector(_Strict):
    items: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()


class Eligibility(_Selector):
    """Who the matching items may be recommended to."""

    name: str = Field(min_length=1)
    why: str = ""
    min_age: int | None = Field(None, ge=0, le=130)
    max_age: int | None = Field(None, ge=0, le=130)
    sex: Literal["M", "F"] | None = None
    exclude_conditions: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Eligibility:
        if not (self.items or self.kinds or self.departments or self.topics):
            raise ValueError("规则未选中任何项目 / the rule selects no item (items, kinds, ...)")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age 大于 max_age / min_age above max_age")
        if not (
            self.min_age is not None
            or self.max_age is not None
            or self.sex
            or self.exclude_conditions
        ):
            raise ValueError("规则没有限制 / the rule restricts nothing (age, sex, conditions)")
        return self


class Interest(_Selector):
    """Items a recorded condition makes relevant (fallback and reasons)."""

    conditions: tuple[str, ...] = Field(min_length=1)
    label: str = Field(min_length=1)


class RuleFile(_Strict):
    never_kinds: tuple[str, ...] = ("drug",)
    eligibility: tuple[Eligibility, ...] = ()
    interests: tuple[Interest, ...] = ()


@dataclass(frozen=True)
class Items:
    """The recommendable universe: parallel arrays, one entry per item."""

    key: np.ndarray  # "kind:id", unique
    item_id: np.ndarray
    kind: np.ndarray  # service / package / content / doctor (a catalogue device is a service)
    source_kind: np.ndarray  # the catalogue's own kind (drug, device, ...) or doctor
    name: np.ndarray
    department: np.ndarray  # "" when none
    topic: np.ndarray  # "" when none

    def __len__(self) -> int:
        return len(self.key)


@dataclass(frozen=True)
class Patients:
    """Who recommendations are for: parallel arrays, one entry per patient."""

    user_id: np.ndarray
    age: np.ndarray  # whole years as of the date, -1 unknown
    sex: np.ndarray  # M / F / U
    conditions: list[frozenset[str]]  # recorded ICD-10 codes of active conditions

    def __len__(self) -> int:
        return len(self.user_id)

    def take(self, rows: np.ndarray | slice) -> Patients:
        """The patients at `rows` (indices or a slice), in that order."""
        if isinstance(rows, slice):
            conds = self.conditions[rows]
        else:
            conds = [self.conditions[i] for i in rows]
        return Patients(self.user_id[rows], self.age[rows], self.sex[rows], conds)

    @cached_property
    def _flat(self) -> tuple[np.ndarray, pa.Array]:
        """(patient index, code) per recorded condition, once per `Patients`."""
        rows = [i for i, c in enumerate(self.conditions) if c for _ in c]
        codes = [code for c in self.conditions if c for code in c]
        return np.asarray(rows, dtype=np.int64), pa.array(codes, pa.string())

    def has_any(self, prefixes: tuple[str, ...]) -> np.ndarray:
        """Per patient: a recorded code matches one of `prefixes` (as `has_condition`), by
        vectorised string kernels over every patient's codes at once."""
        out = np.zeros(len(self), dtype=bool)
        rows, codes = self._flat
        if not prefixes or len(codes) == 0:
            return out
        hit = np.zeros(len(codes), dtype=bool)
        for p in prefixes:
            hit |= pc.equal(codes, p).to_numpy(zero_copy_only=False)
            hit |= pc.starts_with(codes, p + ".").to_numpy(zero_copy_only=False)
        out[rows[hit]] = True
        return out


def _selects(sel: _Selector, items: Items) -> np.ndarray:
    m = np.isin(items.item_id, list(sel.items)) | np.isin(items.kind, list(sel.kinds))
    m |= np.isin(items.source_kind, list(sel.kinds))
    m |= np.isin(items.department, list(sel.departments)) & (items.department != "")
    m |= np.isin(items.topic, list(sel.topics)) & (items.topic != "")
    return m


def has_condition(codes: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    """A recorded code matches a prefix (E11 matches E11 and E11.9, not E110)."""
    return any(c == p or c.startswith(p + ".") for c in codes for p in prefixes)


@dataclass(frozen=True)
class Rules:
    """The validated rule file."""

    spec: RuleFile
    source: str

    def never(self, items: Items) -> np.ndarray:
        """Items never recommended to anyone (their kind is in `never_kinds`)."""
        never = list(self.spec.never_kinds)
        return np.isin(items.source_kind, never) | np.isin(items.kind, never)

    def refusals(
        self, patients: Patients, items: Items
    ) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """Each constraint as (name, why, patients it refuses, items it covers): the
        never-recommended kinds first (refusing everyone), then each eligibility rule that
        selects an item."""
        never = self.never(items)
        out = [
            (
                "从不推荐 never: " + ", ".join(self.spec.never_kinds),
                "处方药由医生开具, 不作推荐 / prescription items are never recommended",
                np.ones(len(patients), dtype=bool),
                never,
            )
        ]
        age, sex = patients.age, patients.sex
        for rule in self.spec.eligibility:
            cols = _selects(rule, items)
            if not cols.any():
                continue
            good = np.ones(len(patients), dtype=bool)
            if rule.min_age is not None:
                good &= (age >= 0) & (age >= rule.min_age)
            if rule.max_age is not None:
                good &= (age >= 0) & (age <= rule.max_age)
            if rule.sex is not None:
                good &= sex == rule.sex
            if rule.exclude_conditions:
                good &= ~patients.has_any(rule.exclude_conditions)
            out.append((rule.name, rule.why, ~good, cols))
        return out

    def allowed(self, patients: Patients, items: Items) -> np.ndarray:
        """patients × items: may this item be recommended to this patient."""
        ok = np.ones((len(patients), len(items)), dtype=bool)
        for _, _, refused, cols in self.refusals(patients, items):
            if refused.any() and cols.any():
                ok[np.ix_(refused, cols)] = False
        return ok

    def interest(self, patients: Patients, items: Items) -> tuple[np.ndarray, list[list[str]]]:
        """patients × items: 1 where a recorded condition makes the item relevant; and per
        patient the labels of their conditions' interests (for reasons)."""
        boost = np.zeros((len(patients), len(items)), dtype=np.float32)
        labels: list[list[str]] = [[] for _ in range(len(patients))]
        for rule in self.spec.interests:
            cols = _selects(rule, items)
            rows = patients.has_any(rule.conditions)
            if rows.any() and cols.any():
                boost[np.ix_(rows, cols)] = 1.0
            for i in np.flatnonzero(rows):
                labels[i].append(rule.label)
        return boost, labels

    def interest_labels(self, patients: Patients, items: Items) -> np.ndarray:
        """patients × items: index of the first interest of the patient's conditions that
        selects the item (into `spec.interests`), −1 none."""
        out = np.full((len(patients), len(items)), -1, dtype=np.int16)
        for i in reversed(range(len(self.spec.interests))):
            rule = self.spec.interests[i]
            cols = _selects(rule, items)
            rows = patients.has_any(rule.conditions)
            if rows.any() and cols.any():
                out[np.ix_(rows, cols)] = i
        return out


def _where(exc: ValidationError, doc: yamlsafe.Located) -> str:
    problems = []
    for e in exc.errors()[:5]:
        loc = tuple(e["loc"])
        dotted = ".".join(str(p) for p in loc)
        line, _ = doc.mark(loc)
        what = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            what = "未知字段 / unknown field"
        problems.append(f"line {line}: {dotted or '(top)'}: {what}")
    return "; ".join(problems)


def parse(text: str | bytes, source: str) -> Rules:
    """Rules from YAML text; `ConfigError` naming `source`, line and field."""
    try:
        doc = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"{source}: 规则文件应为映射 (eligibility, interests) / a rule file is a mapping"
        )
    try:
        return Rules(RuleFile.model_validate(doc.data), source)
    except ValidationError as exc:
        raise ConfigError(f"{source}: 推荐规则无效 / invalid rules: {_where(exc, doc)}") from None


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> Rules:
    """The shipped rules, or a hospital's own file."""
    p = Path(path) if path else RULES_FILE
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"读不到推荐规则文件 / cannot read rule file {p}: {exc.strerror}"
        ) from None
    return parse(text, p.name)

"""The paediatric dose-limit table (`data/dosage.yaml`): its shape, validated when it is read.

Limits are data, not code. A table that is wrong in any way is refused whole with a message
naming the file, the drug, the field and the reason (`ConfigError`): an unknown key, a limit
without a cited source, a source id that does not exist, a low end above a high end, a
recommended dose above its own maximum, bands that leave a gap, overlap or do not reach 18
years, a name or alias that two drugs share.
"""

from __future__ import annotations

import math
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from careops.errors import ConfigError
from careops.journeys import yamlsafe

#: paediatrics ends at 18 years: every drug's bands reach exactly this age (exclusive)
ADULT_MONTHS = 216
Unit = Literal["mg", "mL", "IU"]

#: the limit fields of a band, in the order shown
RANGE_FIELDS = ("recommended_per_kg_dose", "recommended_per_kg_day", "recommended_dose")
MAX_FIELDS = (
    "max_per_kg_dose",
    "max_per_kg_day",
    "max_dose",
    "max_day",
    "max_doses_per_day",
    "min_interval_hours",
)
DRUG_LIMIT_FIELDS = ("min_age_months", "adult_max_dose", "adult_max_day")
CITABLE = (*DRUG_LIMIT_FIELDS, *RANGE_FIELDS, *MAX_FIELDS)


def _positive() -> float | None:
    return Field(default=None, gt=0, le=1_000_000, allow_inf_nan=False)


def _range() -> list[float] | None:
    return Field(default=None, min_length=2, max_length=2)


class _Strict(BaseModel):
    # strict: a YAML `yes` or "10" is not a number; unknown keys are errors
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Text(_Strict):
    """A label in both languages."""

    zh: str = Field(min_length=1, max_length=300)
    en: str = Field(min_length=1, max_length=300)


class Cite(_Strict):
    """Where a limit comes from: a source id and the figure as that source gives it."""

    source: str = Field(min_length=1, max_length=64)
    says: str = Field(min_length=1, max_length=500)


class Band(_Strict):
    """The limits for ages `from_months <= age < to_months`."""

    from_months: int = Field(ge=0, le=ADULT_MONTHS)
    to_months: int = Field(ge=1, le=ADULT_MONTHS)
    recommended_per_kg_dose: list[float] | None = _range()
    recommended_per_kg_day: list[float] | None = _range()
    recommended_dose: list[float] | None = _range()
    max_per_kg_dose: float | None = _positive()
    max_per_kg_day: float | None = _positive()
    max_dose: float | None = _positive()
    max_day: float | None = _positive()
    max_doses_per_day: int | None = Field(default=None, ge=1, le=24)
    min_interval_hours: float | None = Field(default=None, gt=0, le=24, allow_inf_nan=False)
    no_dose_limit: str | None = Field(default=None, min_length=1, max_length=300)

    @field_validator(*RANGE_FIELDS)
    @classmethod
    def _low_high(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        low, high = v
        if not all(math.isfinite(x) and x > 0 for x in v):
            raise ValueError(f"必须是正数 / must be positive numbers, got [{low}, {high}]")
        if low > high:
            raise ValueError(f"下限 {low} 大于上限 {high} / low end {low} is above high end {high}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Band:
        if self.from_months >= self.to_months:
            raise ValueError(
                f"from_months {self.from_months} 不小于 to_months {self.to_months} / "
                f"from_months {self.from_months} is not below to_months {self.to_months}"
            )
        pairs = [
            ("recommended_per_kg_dose", 1, "max_per_kg_dose"),
            ("recommended_per_kg_day", 1, "max_per_kg_day"),
            ("recommended_dose", 1, "max_dose"),
        ]
        for rng, end, cap in pairs:
            r, c = getattr(self, rng), getattr(self, cap)
            if r is not None and c is not None and r[end] > c:
                raise ValueError(
                    f"{rng} 上限 {r[end]} 超过 {cap} {c} / {rng} high end {r[end]} is above "
                    f"{cap} {c}"
                )
        for small, big in (("max_per_kg_dose", "max_per_kg_day"), ("max_dose", "max_day")):
            s, b = getattr(self, small), getattr(self, big)
            if s is not None and b is not None and s > b:
                raise ValueError(f"{small} {s} 大于 {big} {b} / {small} {s} is above {big} {b}")
        has_cap = self.max_per_kg_dose is not None or self.max_dose is not None
        if has_cap == (self.no_dose_limit is not None):
            raise ValueError(
                "每个年龄段需要单次上限 (max_per_kg_dose 或 max_dose), 或用 no_dose_limit 说明"
                "为何没有 / each band needs a per-dose cap (max_per_kg_dose or max_dose) or, "
                "instead, no_dose_limit saying why it has none"
            )
        return self

    def used(self) -> set[str]:
        """The limit fields this band sets."""
        return {f for f in (*RANGE_FIELDS, *MAX_FIELDS) if getattr(self, f) is not None}


class Drug(_Strict):
    """One drug: names, route, unit, minimum age, adult caps, bands by age, cited sources."""

    atc: str = Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}([0-9]{2})?$")
    name: Text
    aliases: list[str] = Field(default_factory=list, max_length=100)
    route: Text
    forms: list[str] = Field(default_factory=list, max_length=20)
    unit: Unit
    min_age_months: int = Field(ge=0, lt=ADULT_MONTHS)
    adult_max_dose: float | None = _positive()
    adult_max_day: float | None = _positive()
    bands: list[Band] = Field(min_length=1, max_length=50)
    cites: dict[str, Cite]
    note: str = Field(min_length=1, max_length=2000)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        for a in v:
            if not a.strip() or len(a) > 100:
                raise ValueError(f"别名为空或过长 / empty or over-long alias {a!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Drug:
        b = self.bands
        if b[0].from_months != self.min_age_months:
            raise ValueError(
                f"bands[0].from_months {b[0].from_months} 应等于 min_age_months "
                f"{self.min_age_months} / the first band must start at min_age_months"
            )
        for i in range(1, len(b)):
            if b[i].from_months != b[i - 1].to_months:
                raise ValueError(
                    f"bands[{i}].from_months {b[i].from_months} 应等于 bands[{i - 1}].to_months "
                    f"{b[i - 1].to_months} / bands must follow each other without gap or overlap"
                )
        if b[-1].to_months != ADULT_MONTHS:
            raise ValueError(
                f"最后一个年龄段应到 {ADULT_MONTHS} 月 (18 岁) / the last band must end at "
                f"{ADULT_MONTHS} months (18 years), not {b[-1].to_months}"
            )
        if (
            self.adult_max_dose is not None
            and self.adult_max_day is not None
            and self.adult_max_dose > self.adult_max_day
        ):
            raise ValueError(
                f"adult_max_dose {self.adult_max_dose} 大于 adult_max_day {self.adult_max_day} / "
                "adult_max_dose is above adult_max_day"
            )
        used = {"min_age_months"} | set().union(*(band.used() for band in b))
        used |= {f for f in ("adult_max_dose", "adult_max_day") if getattr(self, f) is not None}
        missing = sorted(used - set(self.cites))
        if missing:
            raise ValueError(
                f"缺少来源 / no cited source for {', '.join(missing)} (cites.FIELD: "
                "{source, says})"
            )
        unused = sorted(set(self.cites) - used)
        if unused:
            raise ValueError(
                f"cites 中有未使用的字段 / cites names fields the drug does not set: "
                f"{', '.join(unused)}"
            )
        return self

    def band_at(self, age_months: float) -> Band | None:
        """The band holding `age_months`, or None below the minimum age."""
        for band in self.bands:
            if band.from_months <= age_months < band.to_months:
                return band
        return None


class DoseTable(_Strict):
    """The whole table: sources by id and drugs by key."""

    sources: dict[str, Text] = Field(min_length=1, max_length=200)
    drugs: dict[str, Drug] = Field(min_length=1, max_length=500)

    @field_validator("drugs")
    @classmethod
    def _keys(cls, v: dict[str, Drug]) -> dict[str, Drug]:
        for key in v:
            if not key.isascii() or not key.replace("_", "").isalnum() or not key.islower():
                raise ValueError(
                    f"药品键应为小写英文 / drug key {key!r} must be lower-case ASCII words"
                )
        return v

    @model_validator(mode="after")
    def _references(self) -> DoseTable:
        owner: dict[str, str] = {}
        cited = {c.source for d in self.drugs.values() for c in d.cites.values()}
        unused = sorted(set(self.sources) - cited)
        if unused:
            raise ValueError(
                f"sources: 未被任何药品引用 / sources no drug cites: {', '.join(unused)}"
            )
        for key, drug in self.drugs.items():
            for field, cite in drug.cites.items():
                if cite.source not in self.sources:
                    raise ValueError(
                        f"drugs.{key}.cites.{field}: 未知来源 / unknown source {cite.source!r} "
                        f"(known: {', '.join(sorted(self.sources))})"
                    )
            for name in names_of(key, drug):
                other = owner.setdefault(name, key)
                if other != key:
                    raise ValueError(
                        f"drugs.{key}: 名称 {name!r} 已属于 {other} / the name {name!r} also "
                        f"names {other}"
                    )
        return self


def normal(name: str) -> str:
    """A name as matched: NFKC (full-width to half-width), case-folded, spaces removed."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def names_of(key: str, drug: Drug) -> set[str]:
    """Every normalised name a drug answers to: key, names, ATC code, aliases."""
    return {normal(n) for n in (key, drug.name.zh, drug.name.en, drug.atc, *drug.aliases)}


def _where(exc: ValidationError, doc: yamlsafe.Located) -> str:
    problems = []
    for e in exc.errors()[:5]:
        loc = tuple(e["loc"])
        dotted = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(
            ".[", "["
        )
        line, _ = doc.mark(loc)
        what = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            what = "未知字段 / unknown field"
        elif e["type"] == "missing":
            what = "缺少必填字段 / required field missing"
        problems.append(f"line {line}: {dotted or '(top)'}: {what}")
    more = len(exc.errors()) - 5
    return "; ".join(problems) + (f"; … {more} more" if more > 0 else "")


def parse(text: str | bytes, source: str) -> DoseTable:
    """A dose table from YAML text; `ConfigError` naming `source`, line, drug and field."""
    try:
        doc = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"{source}: 剂量表应为映射 (sources, drugs) / a dose table is a mapping with "
            "sources and drugs"
        )
    try:
        return DoseTable.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(
            f"{source}: 剂量表无效 / invalid dose table: {_where(exc, doc)}"
        ) from None


def load_file(path: Path | str) -> DoseTable:
    """A hospital's own dose table file, validated."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"剂量表文件不存在 / dose table file not found: {p}")
    return parse(p.read_bytes(), str(p))


@lru_cache(maxsize=1)
def shipped() -> DoseTable:
    """The table shipped with CareOps (`careops/care/data/dosage.yaml`)."""
    text = resources.files("careops.care").joinpath("data/dosage.yaml").read_bytes()
    return parse(text, "dosage.yaml")

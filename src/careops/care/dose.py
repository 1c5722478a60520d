"""Paediatric dosage check (儿童剂量计算): blocks an order over a limit or under the minimum age.

`check(drug, age_months=, weight_kg=, dose_mg=, per_day=)` answers a `DoseCheck`: `allowed`,
the `reasons` it is blocked (each "中文 / English", naming the limit, its value for this child
and the ordered value), `notes` that do not block (a dose below the recommended range) and the
`limits` computed for this child. `limits_for(drug, age_months, weight_kg)` gives the limits
alone. The limits are data (`data/dosage.yaml`, see `careops.care.dose_table`), each with its
published source.

How a limit is computed for a child of weight W in the band of their age:
- per dose: the smallest of `max_per_kg_dose × W`, the band's `max_dose` and the drug's
  `adult_max_dose` (a heavy child never gets more than an adult);
- per day: the smallest of `max_per_kg_day × W`, `max_day` and `adult_max_day`; an order's
  daily amount is `dose × per_day` (equal doses), checked only when `per_day` is given;
- doses per day: `max_doses_per_day`; minimum age: `min_age_months`.
Limits are rounded to 0.001 of the unit and a dose equal to a limit is allowed.

Refused as bad input (`InvalidInput`, nothing checked): a weight or dose that is not a positive
finite number, a negative age, age 18 years or more (not a paediatric case), a weight beyond the
growth references' implausibility cut-offs for the age (`careops.care.dose_growth`), a dose in
the wrong unit for the drug (ORS is dosed in mL, vitamin D in IU). An unknown drug name is
`NotFound` with the closest names suggested (difflib over names and aliases, Chinese too).
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from careops.care import dose_growth
from careops.care.dose_table import ADULT_MONTHS, DoseTable, Drug, Unit, names_of, normal, shipped
from careops.errors import InvalidInput, NotFound

MAX_PER_DAY = 24
_UNIT_ZH = {"mg": "毫克", "mL": "毫升", "IU": "国际单位"}


@dataclass(frozen=True)
class Limits:
    """The limits of one drug for one child (amounts in `unit`; None: no such limit)."""

    drug: str
    name_zh: str
    name_en: str
    unit: Unit
    age_months: float
    weight_kg: float
    min_age_months: int
    below_min_age: bool
    band_months: tuple[int, int] | None
    recommended_per_dose: tuple[float, float] | None
    recommended_per_day: tuple[float, float] | None
    max_per_dose: float | None
    max_per_day: float | None
    max_doses_per_day: int | None
    min_interval_hours: float | None
    #: how each max was reached, e.g. {"max_per_dose": "15 mg/kg × 10 kg"}
    basis: dict[str, str] = field(default_factory=dict)
    #: the source of each limit field: {"max_per_kg_day": "WHO Pocket Book …: says …"}
    sources: dict[str, str] = field(default_factory=dict)
    weight_range_kg: tuple[float, float] = (0.0, 0.0)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class DoseCheck:
    """The answer for one order: allowed or not, why, and the limits it was held to."""

    allowed: bool
    reasons: tuple[str, ...]
    #: a code per reason: below_min_age, max_per_dose, max_per_day, max_doses_per_day
    codes: tuple[str, ...]
    notes: tuple[str, ...]
    limits: Limits
    dose: float
    per_day: int | None

    def as_dict(self) -> dict[str, Any]:
        """`{"allowed", "reasons", "codes", "notes", "dose", "per_day", "limits"}`."""
        return {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "codes": list(self.codes),
            "notes": list(self.notes),
            "dose": self.dose,
            "unit": self.limits.unit,
            "per_day": self.per_day,
            "limits": self.limits.as_dict(),
        }


_INDEXES: dict[int, tuple[DoseTable, dict[str, str], dict[str, str]]] = {}


def _index(table: DoseTable) -> tuple[dict[str, str], dict[str, str]]:
    """Normalised name → drug key, and normalised name → the name as written (cached per
    table; a table is immutable)."""
    hit = _INDEXES.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1], hit[2]
    index: dict[str, str] = {}
    display: dict[str, str] = {}
    for key, drug in table.drugs.items():
        for n in names_of(key, drug):
            index[n] = key
        for shown in (drug.name.zh, drug.name.en, key, *drug.aliases):
            display.setdefault(normal(shown), shown)
    if len(_INDEXES) > 16:
        _INDEXES.clear()
    _INDEXES[id(table)] = (table, index, display)
    return index, display


def resolve(name: str, table: DoseTable | None = None) -> tuple[str, Drug]:
    """The drug a name means (key, Chinese or English name, ATC code, brand or alias).

    `NotFound` for an unknown name, with up to three close names suggested."""
    table = table or shipped()
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("药品名为空 / drug name is empty", field="drug")
    wanted = normal(name)[:200]
    index, display = _index(table)
    if wanted in index:
        key = index[wanted]
        return key, table.drugs[key]
    close, seen = [], set()
    for c in difflib.get_close_matches(wanted, list(index), n=10, cutoff=0.5):
        if index[c] not in seen and len(close) < 3:
            seen.add(index[c])
            close.append(c)
    hint = ""
    if close:
        names = "、".join(f"{display.get(c, c)} ({index[c]})" for c in close)
        hint = f" 是否想找 / did you mean: {names}?"
    raise NotFound(
        f"未知药品 / unknown drug {name[:100]!r}.{hint} (careops dose list)", field="drug"
    )


def _float(value: Any) -> float:
    """`value` as a float; an int too large for a float is infinity (refused by the callers)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _number(value: Any, field_name: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"{what}必须是数字 / {field_name} must be a number", field=field_name)
    v = _float(value)
    if not math.isfinite(v) or v <= 0:
        raise InvalidInput(
            f"{what}必须是大于 0 的数 / {field_name} must be above 0, got {v:g}",
            field=field_name,
        )
    return v


def _age(age_months: Any) -> float:
    if isinstance(age_months, bool) or not isinstance(age_months, numbers.Real):
        raise InvalidInput("年龄必须是数字 / age_months must be a number", field="age_months")
    age = _float(age_months)
    if math.isnan(age) or age < 0:
        raise InvalidInput(
            f"年龄(月)不能为负 / age_months must be 0 or more, got {age:g}",
            field="age_months",
        )
    if age >= ADULT_MONTHS:
        raise InvalidInput(
            f"年龄 {age:g} 个月已满 18 岁, 不是儿童用药, 本检查不适用 / age {age:g} months is "
            "18 years or more: not a paediatric case, this check does not apply",
            field="age_months",
        )
    return age


def _weight(weight_kg: Any, age: float) -> tuple[float, tuple[float, float]]:
    w = _number(weight_kg, "weight_kg", "体重")
    low, high = dose_growth.weight_bounds(age)
    if not low <= w <= high:
        ref = dose_growth.reference_of(age)
        raise InvalidInput(
            f"体重 {w:g} kg 与年龄 {age:g} 个月不符 (合理范围 {low:g}–{high:g} kg, {ref}) / "
            f"weight {w:g} kg is implausible at {age:g} months (plausible {low:g}–{high:g} kg "
            f"by the {ref} weight-for-age reference): check the weight and the age",
            field="weight_kg",
        )
    return w, (low, high)


def _r(x: float) -> float:
    return round(x, 3)


def _cap(
    candidates: list[tuple[float | None, str]],
) -> tuple[float | None, str]:
    present = [(v, why) for v, why in candidates if v is not None]
    if not present:
        return None, ""
    value, why = min(present, key=lambda c: c[0])
    return _r(value), why


def limits_for(
    drug: str, age_months: float, weight_kg: float, *, table: DoseTable | None = None
) -> Limits:
    """The limits of `drug` for a child of `age_months` and `weight_kg` (validated as in
    `check`). Below the drug's minimum age the amounts are None and `below_min_age` is set."""
    table = table or shipped()
    key, d = resolve(drug, table)
    age = _age(age_months)
    w, bounds = _weight(weight_kg, age)
    band = d.band_at(age)
    u = d.unit
    sources = {
        f: f"{table.sources[c.source].zh} / {table.sources[c.source].en}: {c.says}"
        for f, c in d.cites.items()
    }
    common = {
        "drug": key,
        "name_zh": d.name.zh,
        "name_en": d.name.en,
        "unit": u,
        "age_months": age,
        "weight_kg": w,
        "min_age_months": d.min_age_months,
        "sources": sources,
        "weight_range_kg": bounds,
    }
    if band is None:
        return Limits(
            **common,
            below_min_age=True,
            band_months=None,
            recommended_per_dose=None,
            recommended_per_day=None,
            max_per_dose=None,
            max_per_day=None,
            max_doses_per_day=None,
            min_interval_hours=None,
        )
    per_kg = f"{u}/kg"
    dose_caps: list[tuple[float | None, str]] = []
    day_caps: list[tuple[float | None, str]] = []
    if band.max_per_kg_dose is not None:
        dose_caps.append(
            (band.max_per_kg_dose * w, f"{band.max_per_kg_dose:g} {per_kg} × {w:g} kg")
        )
    if band.max_dose is not None:
        dose_caps.append((band.max_dose, f"{band.max_dose:g} {u}, age band"))
    if d.adult_max_dose is not None:
        dose_caps.append((d.adult_max_dose, f"{d.adult_max_dose:g} {u}, adult cap"))
    if band.max_per_kg_day is not None:
        day_caps.append(
            (band.max_per_kg_day * w, f"{band.max_per_kg_day:g} {per_kg}/day × {w:g} kg")
        )
    if band.max_day is not None:
        day_caps.append((band.max_day, f"{band.max_day:g} {u}/day, age band"))
    if d.adult_max_day is not None:
        day_caps.append((d.adult_max_day, f"{d.adult_max_day:g} {u}/day, adult cap"))
    max_dose, dose_why = _cap(dose_caps) if band.no_dose_limit is None else (None, "")
    max_day, day_why = _cap(day_caps)
    rec_dose = None
    if band.recommended_per_kg_dose:
        rec_dose = (
            _r(band.recommended_per_kg_dose[0] * w),
            _r(band.recommended_per_kg_dose[1] * w),
        )
    elif band.recommended_dose:
        rec_dose = (band.recommended_dose[0], band.recommended_dose[1])
    rec_day = None
    if band.recommended_per_kg_day:
        rec_day = (_r(band.recommended_per_kg_day[0] * w), _r(band.recommended_per_kg_day[1] * w))
    basis = {k: v for k, v in (("max_per_dose", dose_why), ("max_per_day", day_why)) if v}
    if band.no_dose_limit:
        basis["no_dose_limit"] = band.no_dose_limit
    return Limits(
        **common,
        below_min_age=False,
        band_months=(band.from_months, band.to_months),
        recommended_per_dose=rec_dose,
        recommended_per_day=rec_day,
        max_per_dose=max_dose,
        max_per_day=max_day,
        max_doses_per_day=band.max_doses_per_day,
        min_interval_hours=band.min_interval_hours,
        basis=basis,
    )


def _dose(d: Drug, dose_mg: Any, dose_ml: Any, dose_iu: Any) -> float:
    given = {u: v for u, v in (("mg", dose_mg), ("mL", dose_ml), ("IU", dose_iu)) if v is not None}
    if len(given) != 1:
        raise InvalidInput(
            "请给出一个剂量: dose_mg, dose_ml 或 dose_iu 之一 / give one dose: dose_mg, "
            "dose_ml or dose_iu",
            field="dose",
        )
    ((unit, value),) = given.items()
    if unit != d.unit:
        raise InvalidInput(
            f"{d.name.zh}按{_UNIT_ZH[d.unit]} ({d.unit}) 计量 / {d.name.en} is dosed in "
            f"{d.unit}: give dose_{d.unit.lower()}, not dose_{unit.lower()}",
            field="dose",
        )
    return _number(value, f"dose_{unit.lower()}", "剂量")


def _shown(value: Any) -> str:
    """A short rendering of a bad value (a huge int is not printed digit by digit)."""
    if isinstance(value, int) and abs(value) >= 10**9:
        return "an out-of-range number"
    return repr(value)[:40]


def _per_day(per_day: Any) -> int | None:
    if per_day is None:
        return None
    if (
        isinstance(per_day, bool)
        or not isinstance(per_day, numbers.Integral)
        or not 1 <= per_day <= MAX_PER_DAY
    ):
        raise InvalidInput(
            f"每日次数应为 1–{MAX_PER_DAY} 的整数 / per_day must be a whole number from 1 to "
            f"{MAX_PER_DAY}, got {_shown(per_day)}",
            field="per_day",
        )
    return int(per_day)


def check(
    drug: str,
    *,
    age_months: float,
    weight_kg: float,
    dose_mg: float | None = None,
    per_day: int | None = None,
    dose_ml: float | None = None,
    dose_iu: float | None = None,
    table: DoseTable | None = None,
) -> DoseCheck:
    """Check one paediatric order: `dose_*` in the drug's unit (one of them), `per_day`
    doses a day (optional). Blocked when under the minimum age, over the per-dose maximum,
    over the daily maximum (dose × per_day) or over the doses a day allowed."""
    table = table or shipped()
    key, d = resolve(drug, table)
    lim = limits_for(key, age_months, weight_kg, table=table)
    dose = _dose(d, dose_mg, dose_ml, dose_iu)
    n = _per_day(per_day)
    u = d.unit
    reasons: list[str] = []
    codes: list[str] = []
    notes: list[str] = []

    def block(code: str, text: str) -> None:
        codes.append(code)
        reasons.append(text)

    if lim.below_min_age:
        block(
            "below_min_age",
            f"未到最小用药年龄: {lim.age_months:g} 个月 < {lim.min_age_months} 个月 / below the "
            f"minimum age: {lim.age_months:g} months < {lim.min_age_months} months "
            f"({d.name.en})",
        )
    else:
        if lim.max_per_dose is not None and dose > lim.max_per_dose:
            block(
                "max_per_dose",
                f"单次剂量 {dose:g} {u} 超过单次上限 {lim.max_per_dose:g} {u} "
                f"({lim.basis['max_per_dose']}) / dose {dose:g} {u} is above the per-dose "
                f"maximum {lim.max_per_dose:g} {u} ({lim.basis['max_per_dose']})",
            )
        if n is not None and lim.max_doses_per_day is not None and n > lim.max_doses_per_day:
            block(
                "max_doses_per_day",
                f"每日 {n} 次超过上限 {lim.max_doses_per_day} 次 / {n} doses a day is above "
                f"the maximum of {lim.max_doses_per_day}",
            )
        if n is not None and lim.max_per_day is not None:
            total = round(dose * n, 6)
            if total > lim.max_per_day:
                block(
                    "max_per_day",
                    f"每日总量 {total:g} {u} ({dose:g} × {n}) 超过每日上限 {lim.max_per_day:g} "
                    f"{u} ({lim.basis['max_per_day']}) / daily amount {total:g} {u} "
                    f"({dose:g} × {n}) is above the daily maximum {lim.max_per_day:g} {u} "
                    f"({lim.basis['max_per_day']})",
                )
        rec = lim.recommended_per_dose
        if rec is not None and dose < rec[0]:
            notes.append(
                f"低于推荐单次剂量 {rec[0]:g}–{rec[1]:g} {u} / below the recommended dose "
                f"{rec[0]:g}–{rec[1]:g} {u}"
            )
        rec_day = lim.recommended_per_day
        if rec_day is not None and n is not None and round(dose * n, 6) < rec_day[0]:
            notes.append(
                f"低于推荐每日剂量 {rec_day[0]:g}–{rec_day[1]:g} {u} / below the recommended "
                f"daily amount {rec_day[0]:g}–{rec_day[1]:g} {u}"
            )
    return DoseCheck(
        allowed=not reasons,
        reasons=tuple(reasons),
        codes=tuple(codes),
        notes=tuple(notes),
        limits=lim,
        dose=dose,
        per_day=n,
    )


def catalogue(table: DoseTable | None = None) -> list[dict[str, Any]]:
    """Every drug of the table: key, names, ATC, unit, minimum age, aliases and sources."""
    table = table or shipped()
    return [
        {
            "drug": key,
            "name_zh": d.name.zh,
            "name_en": d.name.en,
            "atc": d.atc,
            "unit": d.unit,
            "route_zh": d.route.zh,
            "route_en": d.route.en,
            "min_age_months": d.min_age_months,
            "aliases": list(d.aliases),
            "sources": sorted({d.cites[f].source for f in d.cites}),
            "source_titles": {
                s: {"zh": table.sources[s].zh, "en": table.sources[s].en}
                for s in sorted({c.source for c in d.cites.values()})
            },
            "note": d.note,
        }
        for key, d in table.drugs.items()
    ]

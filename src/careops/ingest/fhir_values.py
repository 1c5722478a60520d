"""Readers of the FHIR R4 datatypes the FHIR door needs: references, codings, durations, instants.

Everything here is a small pure function over parsed JSON (dicts, lists, strings). A value that
makes a record unusable raises `RecordProblem`, which the door turns into a `Reject` naming the
field and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
SNOMED_OID = "urn:oid:2.16.840.1.113883.6.96"
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"

# ICD-10 code systems: anything naming icd-10 / icd10 (WHO http://hl7.org/fhir/sid/icd-10,
# ICD-10-CM, national editions such as "icd-10-cn"), the WHO and CM OIDs, and the Chinese
# national edition: GB/T 14396《疾病分类与代码》, OID 2.16.156.10011.2.3.3.11 in the Chinese
# health-information standards (WS/T 500 CDA documents and hospital FHIR templates).
_ICD10_WORDS = ("icd-10", "icd10", "icd_10", "icd 10", "14396", "疾病分类与代码", "国家临床版")
_CHINA_ICD10_OID = "2.16.156.10011.2.3.3.11"
_ICD10_OIDS = ("2.16.840.1.113883.6.3", "2.16.840.1.113883.6.90", _CHINA_ICD10_OID)

# Duration units (UCUM codes and common spellings) -> days.
_DAYS_PER_UNIT: dict[str, float] = {
    "min": 1 / 1440,
    "h": 1 / 24,
    "hour": 1 / 24,
    "hours": 1 / 24,
    "小时": 1 / 24,
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "天": 1.0,
    "日": 1.0,
    "wk": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "周": 7.0,
    "mo": 30.0,
    "month": 30.0,
    "months": 30.0,
    "月": 30.0,
    "个月": 30.0,
    "a": 365.0,
    "year": 365.0,
    "years": 365.0,
    "年": 365.0,
}


class RecordProblem(Exception):
    """A resource cannot be staged: `field` says which element is wrong, `reason` why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def split_reference(
    text: str, urls: Mapping[str, tuple[str, str]], field: str
) -> tuple[str | None, str]:
    """(resource type, id) that a literal reference points to.

    `urls` maps Bundle entry fullUrls to (type, id). An `urn:uuid:` not found there keeps the
    uuid as the id and an unknown type (Synthea and most servers give a resource the same uuid as
    its fullUrl). `Type/id`, `Type/id/_history/v` and absolute URLs ending in `Type/id` are read
    from the text itself.
    """
    hit = urls.get(text)
    if hit is not None:
        return hit
    if text.startswith(("urn:uuid:", "urn:oid:")):
        return None, text.rsplit(":", 1)[1]
    if text.startswith("#"):
        raise RecordProblem(field, f"reference {text!r} points to a contained resource")
    if "?" in text:
        raise RecordProblem(field, f"conditional reference {text!r} cannot be resolved")
    parts = text.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        raise RecordProblem(field, f"reference {text!r} is not of the form Type/id")
    return parts[-2], parts[-1]


def reference_id(
    ref: Any, expected: str, urls: Mapping[str, tuple[str, str]], field: str, *, required: bool
) -> str | None:
    """The id of the `expected` resource that reference `ref` points to.

    A missing reference is None, or a `RecordProblem` when `required`; a reference to another
    resource type (a Group as an Observation's subject) or one that cannot be read is a
    `RecordProblem` naming `field`.
    """
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str) or not text:
        if not required:
            return None
        if isinstance(ref, dict) and ref.get("identifier"):
            raise RecordProblem(
                field,
                f"{field} is a logical reference (identifier only); "
                f"a literal {expected} reference is needed",
            )
        raise RecordProblem(field, f"no {field} reference: the {expected} it belongs to is unknown")
    kind, rid = split_reference(text, urls, field)
    if kind is not None and kind != expected:
        raise RecordProblem(field, f"{field} {text!r} is a {kind}, not a {expected}")
    return rid


def codings(concept: Any) -> list[dict[str, Any]]:
    """The `coding` list of a CodeableConcept (empty when there is none)."""
    if isinstance(concept, dict):
        found = concept.get("coding")
        if isinstance(found, list):
            return [c for c in found if isinstance(c, dict)]
    return []


def pick_coding(concept: Any, *systems: str) -> dict[str, Any] | None:
    """The first coding of `concept` in one of `systems`, else its first coding with a code."""
    found = codings(concept)
    for c in found:
        if c.get("system") in systems and c.get("code"):
            return c
    for c in found:
        if c.get("code"):
            return c
    return None


def concept_text(concept: Any) -> str | None:
    """The human text of a CodeableConcept: its `text`, else the first coding display."""
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    if text:
        return str(text)
    for c in codings(concept):
        if c.get("display"):
            return str(c["display"])
    return None


def first_code(concept: Any) -> str | None:
    """The code of the first coding of a CodeableConcept that has one."""
    for c in codings(concept):
        if c.get("code"):
            return str(c["code"])
    return None


def has_code(concept_list: Any, code: str) -> bool:
    """Whether any CodeableConcept in `concept_list` carries a coding with `code`."""
    if not isinstance(concept_list, list):
        concept_list = [concept_list]
    return any(c.get("code") == code for concept in concept_list for c in codings(concept))


def code_system(system: Any) -> str:
    """The canonical `conditions.system` of a coding system URI: icd10, snomed or other."""
    if not isinstance(system, str):
        return "other"
    s = system.lower()
    if s.startswith(SNOMED) or s == SNOMED_OID:
        return "snomed"
    if any(w in s for w in _ICD10_WORDS):
        return "icd10"
    oid = s.removeprefix("urn:oid:")
    if oid in _ICD10_OIDS or oid.startswith(_CHINA_ICD10_OID + "."):
        return "icd10"
    return "other"


def condition_coding(concept: Any) -> tuple[str, dict[str, Any]] | None:
    """The coding a diagnosis is stored by: ICD-10 if present, else SNOMED CT, else the first."""
    found = [c for c in codings(concept) if c.get("code")]
    for wanted in ("icd10", "snomed"):
        for c in found:
            if code_system(c.get("system")) == wanted:
                return wanted, c
    return ("other", found[0]) if found else None


def number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def duration_days(quantity: Any) -> float | None:
    """A Duration (UCUM code d/wk/mo/a/h/min, or a unit word) in days; None if not readable."""
    if not isinstance(quantity, dict):
        return None
    value = number(quantity.get("value"))
    unit = quantity.get("code") or quantity.get("unit")
    if value is None or not isinstance(unit, str):
        return None
    factor = _DAYS_PER_UNIT.get(unit.strip()) or _DAYS_PER_UNIT.get(unit.strip().lower())
    return None if factor is None else value * factor


def instant(text: Any) -> datetime | None:
    """A FHIR dateTime/instant as an aware datetime (naive ones read as UTC) for comparisons.

    Partial dates (`2017`, `2017-02`) and unreadable text give None.
    """
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def period_start(period: Any) -> str | None:
    """`start` of a Period, as written."""
    return period.get("start") if isinstance(period, dict) else None

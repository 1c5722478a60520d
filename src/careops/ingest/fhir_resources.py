"""One mapper per FHIR R4 resource type: a parsed resource in, canonical staged rows out.

A mapper returns the rows it made as `(table, row)` pairs, each row a tuple in the column order
of `COLUMNS[table]` followed by `_record`; or a string naming why the resource is deliberately not
loaded (it is then counted in `Staged.skipped`, e.g. "Observation (non-numeric)"); or raises
`RecordProblem` when the resource is unusable (it becomes a `Reject`). Values stay raw: ISO
strings for dates and times, floats for measured values, ints for counts, strings elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from careops.ingest.fhir_values import (
    LOINC,
    LOINC_OID,
    SNOMED,
    UCUM,
    RecordProblem,
    codings,
    concept_text,
    condition_coding,
    duration_days,
    first_code,
    has_code,
    instant,
    number,
    period_start,
    pick_coding,
    reference_id,
    split_reference,
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("user_id", "registered_at", "birth_date", "sex", "region", "city"),
    "observations": ("observation_id", "user_id", "ts", "code", "value", "unit", "source"),
    "conditions": (
        "condition_id",
        "user_id",
        "system",
        "code",
        "display",
        "onset_at",
        "status",
        "category",
    ),
    "encounters": ("encounter_id", "user_id", "start_at", "end_at", "class", "department"),
    "prescriptions": (
        "prescription_id",
        "user_id",
        "consultation_id",
        "ts",
        "drug_code",
        "drug_name",
        "days_supply",
        "refills",
    ),
}
TABLE_OF = {
    "Patient": "patients",
    "Observation": "observations",
    "Condition": "conditions",
    "AllergyIntolerance": "conditions",
    "FamilyMemberHistory": "conditions",
    "Encounter": "encounters",
    "MedicationRequest": "prescriptions",
}

Row = tuple[Any, ...]
Mapped = list[tuple[str, Row]] | str

_SEX = {"male": "M", "female": "F"}
_NUMERIC_VALUES = ("valueQuantity", "valueInteger")
_OTHER_VALUES = (
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)
# SNOMED CT "no known allergy" findings: an AllergyIntolerance saying there is none.
_NO_KNOWN_ALLERGY = {"716186003", "409137002", "429625007", "428607008", "1003774007"}
_NOT_HAPPENED = {"entered-in-error", "cancelled"}


@dataclass
class Context:
    """What mappers may consult: the Bundle's fullUrl map, its timestamp, known Medications."""

    urls: dict[str, tuple[str, str]] = field(default_factory=dict)
    bundle_timestamp: str | None = None
    medications: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def patient(self, resource: Mapping[str, Any], element: str) -> str:
        """The Patient id that `resource[element]` (subject / patient) points to."""
        rid = reference_id(resource.get(element), "Patient", self.urls, element, required=True)
        assert rid is not None
        return rid

    def medication_key(self, ref: Mapping[str, Any]) -> str | None:
        """`Medication/<id>` for a medicationReference, None when it cannot be read."""
        text = ref.get("reference")
        if not isinstance(text, str) or not text:
            return None
        try:
            kind, mid = split_reference(text, self.urls, "medicationReference")
        except RecordProblem:
            return None
        return f"{kind or 'Medication'}/{mid}"


def patient(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """Patient → patients. `registered_at` here is the fallback (meta.lastUpdated, else the
    Bundle timestamp); the door replaces it by the patient's earliest Encounter start."""
    meta = r.get("meta")
    registered = (
        meta.get("lastUpdated") if isinstance(meta, dict) else None
    ) or ctx.bundle_timestamp
    address = r.get("address")
    first = (
        address[0] if isinstance(address, list) and address and isinstance(address[0], dict) else {}
    )
    gender = r.get("gender")
    sex = _SEX.get(gender, "U") if isinstance(gender, str) else "U"
    return [
        (
            "patients",
            (
                rid,
                registered,
                r.get("birthDate"),
                sex,
                first.get("state"),
                first.get("city"),
                f"Patient/{rid}",
            ),
        )
    ]


def observation(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """Observation → observations: the value, and one row per numeric component."""
    if r.get("status") in _NOT_HAPPENED:
        return f"Observation ({r['status']})"
    record = f"Observation/{rid}"
    # (observation_id, code, value, unit, _record) of each numeric value found
    measured: list[tuple[str, str | None, float, str | None, str]] = []
    value = _numeric_value(r, "value")
    if value is not None:
        code = pick_coding(r.get("code"), LOINC, LOINC_OID)
        measured.append((rid, code.get("code") if code else None, value[0], value[1], record))
    components = r.get("component")
    seen: set[str] = set()
    for i, comp in enumerate(components if isinstance(components, list) else []):
        if not isinstance(comp, dict):
            continue
        found = _numeric_value(comp, f"component[{i}].value")
        if found is None:
            continue
        coding = pick_coding(comp.get("code"), LOINC, LOINC_OID)
        ccode = coding.get("code") if coding else None
        oid = f"{rid}-{ccode if ccode else i}"
        if oid in seen:
            oid = f"{oid}-{i}"
        seen.add(oid)
        measured.append((oid, ccode, found[0], found[1], f"{record}#component[{i}]"))
    if not measured:
        if any(k in r for k in _OTHER_VALUES) or components:
            return "Observation (non-numeric)"
        if r.get("dataAbsentReason"):
            return "Observation (data absent)"
        if r.get("hasMember"):
            return "Observation (panel of members)"
        raise RecordProblem("value", "no value[x], no component and no dataAbsentReason")
    user = ctx.patient(r, "subject")
    ts = (
        r.get("effectiveDateTime")
        or period_start(r.get("effectivePeriod"))
        or r.get("effectiveInstant")
        or r.get("issued")
    )
    source = _observation_source(r)
    return [
        ("observations", (oid, user, ts, code, v, unit, source, rec))
        for oid, code, v, unit, rec in measured
    ]


def condition(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """Condition → conditions (ICD-10 coding preferred, then SNOMED CT, then the first)."""
    verification = first_code(r.get("verificationStatus"))
    if verification in ("entered-in-error", "refuted"):
        return f"Condition ({verification})"
    user = ctx.patient(r, "subject")
    system, code, display = _diagnosis(r.get("code"))
    category = r.get("category")
    kind = (
        "problem"
        if has_code(category, "problem-list-item")
        else "diagnosis"
        if has_code(category, "encounter-diagnosis")
        else None
    )
    return [
        (
            "conditions",
            (
                rid,
                user,
                system,
                code,
                display,
                _onset(r),
                first_code(r.get("clinicalStatus")),
                kind,
                f"Condition/{rid}",
            ),
        )
    ]


def allergy(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """AllergyIntolerance → conditions with category "allergy" (not "no known allergy")."""
    verification = first_code(r.get("verificationStatus"))
    if verification in ("entered-in-error", "refuted"):
        return f"AllergyIntolerance ({verification})"
    if any(
        c.get("system") == SNOMED and c.get("code") in _NO_KNOWN_ALLERGY
        for c in codings(r.get("code"))
    ):
        return "AllergyIntolerance (no known allergy)"
    user = ctx.patient(r, "patient")
    system, code, display = _diagnosis(r.get("code"))
    return [
        (
            "conditions",
            (
                rid,
                user,
                system,
                code,
                display,
                _onset(r),
                first_code(r.get("clinicalStatus")),
                "allergy",
                f"AllergyIntolerance/{rid}",
            ),
        )
    ]


def family_history(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """FamilyMemberHistory → one conditions row (category "family_history") per condition.

    onset_at is the date the history was recorded: the relative's onset (usually an age) is not
    a time in this patient's record.
    """
    if r.get("status") == "entered-in-error":
        return "FamilyMemberHistory (entered-in-error)"
    entries = r.get("condition")
    entries = [c for c in entries if isinstance(c, dict)] if isinstance(entries, list) else []
    if not entries:
        return "FamilyMemberHistory (no condition)"
    user = ctx.patient(r, "patient")
    rows: list[tuple[str, Row]] = []
    for i, entry in enumerate(entries):
        system, code, display = _diagnosis(entry.get("code"))
        rows.append(
            (
                "conditions",
                (
                    f"{rid}-{i}",
                    user,
                    system,
                    code,
                    display,
                    r.get("date"),
                    None,
                    "family_history",
                    f"FamilyMemberHistory/{rid}#condition[{i}]",
                ),
            )
        )
    return rows


def encounter(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """Encounter → encounters (class is the R4 Coding's code; R5's list is read too)."""
    status = r.get("status")
    if status in _NOT_HAPPENED or status == "planned":
        return f"Encounter ({status})"
    user = ctx.patient(r, "subject")
    period = r.get("period") if isinstance(r.get("period"), dict) else {}
    klass = r.get("class")
    if isinstance(klass, list):  # R5: class is a list of CodeableConcept
        klass_code = first_code(klass[0]) if klass else None
    else:
        klass_code = klass.get("code") if isinstance(klass, dict) else None
    department = _first_text(r.get("serviceType")) or _first_text(r.get("type"))
    return [
        (
            "encounters",
            (
                rid,
                user,
                period.get("start"),
                period.get("end"),
                klass_code,
                department,
                f"Encounter/{rid}",
            ),
        )
    ]


def medication_request(r: Mapping[str, Any], rid: str, ctx: Context) -> Mapped:
    """MedicationRequest → prescriptions.

    The drug comes from medicationCodeableConcept, a contained Medication, or (resolved by the
    door once the whole input is read) a Medication elsewhere in the input: then this mapper
    leaves drug_code None and drug_name the reference's display, and the door fills them.
    """
    status = r.get("status")
    if status in _NOT_HAPPENED or status == "draft":
        return f"MedicationRequest ({status})"
    if r.get("intent") in ("proposal", "plan"):
        return f"MedicationRequest ({r['intent']})"
    user = ctx.patient(r, "subject")
    try:
        consultation = reference_id(
            r.get("encounter"), "Encounter", ctx.urls, "encounter", required=False
        )
    except RecordProblem:
        consultation = None
    drug_code, drug_name = _drug(r, ctx)
    dispense = r.get("dispenseRequest") if isinstance(r.get("dispenseRequest"), dict) else {}
    refills = dispense.get("numberOfRepeatsAllowed")
    if refills is not None and (isinstance(refills, bool) or not isinstance(refills, int)):
        raise RecordProblem(
            "refills", f"dispenseRequest.numberOfRepeatsAllowed {refills!r} is not a whole number"
        )
    days = duration_days(dispense.get("expectedSupplyDuration"))
    if days is None:
        days = _days_from_dosage(r, dispense)
    supply = None if days is None else round(days)
    return [
        (
            "prescriptions",
            (
                rid,
                user,
                consultation,
                r.get("authoredOn"),
                drug_code,
                drug_name,
                supply,
                refills,
                f"MedicationRequest/{rid}",
            ),
        )
    ]


MAPPERS: dict[str, Callable[[Mapping[str, Any], str, Context], Mapped]] = {
    "Patient": patient,
    "Observation": observation,
    "Condition": condition,
    "AllergyIntolerance": allergy,
    "FamilyMemberHistory": family_history,
    "Encounter": encounter,
    "MedicationRequest": medication_request,
}


def medication_codes(r: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(drug code, drug name) of a Medication resource."""
    concept = r.get("code")
    coding = pick_coding(concept)
    return (coding.get("code") if coding else None), concept_text(concept)


# --- helpers ---------------------------------------------------------------------------------


def _numeric_value(element: Mapping[str, Any], where: str) -> tuple[float, str | None] | None:
    """(value, unit) of an element's valueQuantity / valueInteger; None if it has neither."""
    q = element.get("valueQuantity")
    if isinstance(q, dict):
        raw = q.get("value")
        if raw is None:
            return None
        value = number(raw)
        if value is None:
            raise RecordProblem("value", f"{where}Quantity.value {raw!r} is not a number")
        unit = (
            q.get("code")
            if q.get("system") == UCUM and q.get("code")
            else q.get("unit") or q.get("code")
        )
        return value, unit
    raw = element.get("valueInteger")
    if raw is not None:
        value = number(raw)
        if value is None:
            raise RecordProblem("value", f"{where}Integer {raw!r} is not a number")
        return value, None
    return None


def _observation_source(r: Mapping[str, Any]) -> str | None:
    """Where a measurement came from: the device, else the method, else the category code."""
    device = r.get("device")
    if isinstance(device, dict) and (device.get("display") or device.get("reference")):
        return str(device.get("display") or device.get("reference"))
    method = concept_text(r.get("method")) or first_code(r.get("method"))
    if method:
        return method
    categories = r.get("category")
    for concept in categories if isinstance(categories, list) else []:
        code = first_code(concept)
        if code:
            return code
    return None


def _diagnosis(concept: Any) -> tuple[str, str | None, str | None]:
    """(system, code, display) of a diagnosis CodeableConcept."""
    picked = condition_coding(concept)
    if picked is None:
        return "other", None, concept_text(concept)
    system, coding = picked
    return system, str(coding["code"]), coding.get("display") or concept_text(concept)


def _onset(r: Mapping[str, Any]) -> str | None:
    return r.get("onsetDateTime") or period_start(r.get("onsetPeriod")) or r.get("recordedDate")


def _first_text(concepts: Any) -> str | None:
    if isinstance(concepts, dict):
        return concept_text(concepts)
    for concept in concepts if isinstance(concepts, list) else []:
        text = concept_text(concept)
        if text:
            return text
    return None


def _drug(r: Mapping[str, Any], ctx: Context) -> tuple[str | None, str | None]:
    concept = r.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        coding = pick_coding(concept)
        return (coding.get("code") if coding else None), concept_text(concept)
    ref = r.get("medicationReference")
    if not isinstance(ref, dict):
        return None, None
    text = ref.get("reference")
    if isinstance(text, str) and text.startswith("#"):
        for c in r.get("contained") or []:
            if (
                isinstance(c, dict)
                and c.get("resourceType") == "Medication"
                and c.get("id") == text[1:]
            ):
                return medication_codes(c)
    return None, ref.get("display")


def _days_from_dosage(r: Mapping[str, Any], dispense: Mapping[str, Any]) -> float | None:
    """Days of supply from the dosage: the timing's bounds, else quantity ÷ daily dose."""
    dosages = [d for d in r.get("dosageInstruction") or [] if isinstance(d, dict)]
    for d in dosages:
        repeat = (d.get("timing") or {}).get("repeat") or {}
        days = duration_days(repeat.get("boundsDuration"))
        if days is not None:
            return days
        bounds = repeat.get("boundsPeriod")
        if isinstance(bounds, dict):
            start, end = instant(bounds.get("start")), instant(bounds.get("end"))
            if start and end and end > start:
                return (end - start).total_seconds() / 86400
    quantity = dispense.get("quantity")
    total = number(quantity.get("value")) if isinstance(quantity, dict) else None
    if not total or len(dosages) != 1:
        return None
    d = dosages[0]
    repeat = (d.get("timing") or {}).get("repeat") or {}
    rates = d.get("doseAndRate")
    dose_q = (
        rates[0].get("doseQuantity")
        if isinstance(rates, list) and rates and isinstance(rates[0], dict)
        else None
    )
    dose = number(dose_q.get("value")) if isinstance(dose_q, dict) else None
    frequency = number(repeat.get("frequency", 1))
    period = duration_days({"value": repeat.get("period"), "code": repeat.get("periodUnit")})
    if not dose or not frequency or not period:
        return None
    if isinstance(quantity, dict) and isinstance(dose_q, dict):
        q_unit = quantity.get("code") or quantity.get("unit")
        d_unit = dose_q.get("code") or dose_q.get("unit")
        if q_unit and d_unit and q_unit != d_unit:
            return None
    return total / (dose * frequency / period)

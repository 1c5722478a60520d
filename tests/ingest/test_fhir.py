"""The FHIR R4 door: each mapping with exact rows, references, Bundles, NDJSON, bad input.

Fixtures in tests/data/fhir are hand-written with synthetic ids and names: a transaction Bundle
in the shape of Synthea's R4 output (urn:uuid fullUrls, US Core profiles and extensions,
conditional Practitioner/Location references, Claim/EOB/Immunization/Procedure entries), and a
bulk-export directory (one resource type per .ndjson file, relative references) with one
truncated line.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from careops.errors import InputError
from careops.ingest.base import RAW, RECORD, Staged
from careops.ingest.fhir import looks_like_fhir, read_fhir
from careops.ingest.fhir_values import code_system, duration_days
from careops.schema import TABLES

DATA = Path(__file__).parents[1] / "data" / "fhir"
SYNTHEA_PATIENT = "7f3c2a10-5b1e-4c2d-9e8f-0a1b2c3d4e01"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def write_bundle(
    tmp_path: Path,
    *items: dict[str, Any] | tuple[str, dict[str, Any]],
    kind: str = "collection",
    timestamp: str | None = None,
    name: str = "bundle.json",
) -> Path:
    """A Bundle file; an item is a resource, or (fullUrl, resource)."""
    entries = [
        {"fullUrl": i[0], "resource": i[1]} if isinstance(i, tuple) else {"resource": i}
        for i in items
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": kind, "entry": entries}
    if timestamp:
        bundle["timestamp"] = timestamp
    path = tmp_path / name
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    return path


def rows(staged: Staged, table: str) -> list[dict[str, Any]]:
    """A staged table's rows without `_raw`, or [] when the door made none."""
    if table not in staged.tables:
        return []
    return [{k: v for k, v in r.items() if k != RAW} for r in staged.tables[table].to_pylist()]


def patient(pid: str = "p-1", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, **extra}


def obs(oid: str, subject: str | None = "Patient/p-1", **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
        "effectiveDateTime": "2024-01-02T08:00:00+08:00",
        **extra,
    }
    if subject:
        r["subject"] = {"reference": subject}
    return r


def qty(value: Any, unit: str, *, ucum: bool = True) -> dict[str, Any]:
    q = {"value": value, "unit": unit}
    return {**q, "system": UCUM, "code": unit} if ucum else q


# --- Patient ---------------------------------------------------------------------------------


def test_patient_maps_sex_birth_date_and_first_address(tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path,
        patient(
            "m",
            gender="male",
            birthDate="1968-04-12",
            address=[{"state": "浙江省", "city": "杭州市"}, {"state": "上海市", "city": "上海市"}],
        ),
        patient("f", gender="female", birthDate="1990"),
        patient("o", gender="other"),
        patient("u", gender="unknown"),
        patient("n"),
        timestamp="2024-05-01T00:00:00Z",
    )
    got = rows(read_fhir(path), "patients")
    assert got == [
        {
            "user_id": "m",
            "registered_at": "2024-05-01T00:00:00Z",
            "birth_date": "1968-04-12",
            "sex": "M",
            "region": "浙江省",
            "city": "杭州市",
            RECORD: "Patient/m",
        },
        {
            "user_id": "f",
            "registered_at": "2024-05-01T00:00:00Z",
            "birth_date": "1990",
            "sex": "F",
            "region": None,
            "city": None,
            RECORD: "Patient/f",
        },
        *(
            {
                "user_id": pid,
                "registered_at": "2024-05-01T00:00:00Z",
                "birth_date": None,
                "sex": "U",
                "region": None,
                "city": None,
                RECORD: f"Patient/{pid}",
            }
            for pid in ("o", "u", "n")
        ),
    ]


def test_registered_at_is_the_earliest_encounter_by_instant_not_by_text(tmp_path: Path) -> None:
    # 2023-05-01T07:00+08:00 is 2023-04-30T23:00Z: earlier than 23:30Z although it sorts later
    # as text. Without encounters: meta.lastUpdated, then the Bundle timestamp.
    def enc(eid: str, start: str, who: str = "Patient/p-1") -> dict[str, Any]:
        return {
            "resourceType": "Encounter",
            "id": eid,
            "status": "finished",
            "subject": {"reference": who},
            "period": {"start": start},
        }

    path = write_bundle(
        tmp_path,
        patient("p-1", meta={"lastUpdated": "2024-01-01T00:00:00Z"}),
        enc("e1", "2023-04-30T23:30:00Z"),
        enc("e2", "2023-05-01T07:00:00+08:00"),
        enc("e3", "2023-06-01"),
        patient("p-2", meta={"lastUpdated": "2024-02-02T10:00:00+08:00"}),
        patient("p-3"),
        timestamp="2024-03-03T03:03:03Z",
    )
    got = {r["user_id"]: r["registered_at"] for r in rows(read_fhir(path), "patients")}
    assert got == {
        "p-1": "2023-05-01T07:00:00+08:00",
        "p-2": "2024-02-02T10:00:00+08:00",
        "p-3": "2024-03-03T03:03:03Z",
    }


def test_registered_at_left_null_without_any_date(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_text(json.dumps(patient("p-9")) + "\n", encoding="utf-8")
    assert rows(read_fhir(path), "patients")[0]["registered_at"] is None


# --- Observation -----------------------------------------------------------------------------


def test_observation_quantity_unit_code_and_source(tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path,
        # UCUM quantity: unit is the UCUM code; LOINC coding chosen over a local one
        obs(
            "o1",
            code={
                "coding": [
                    {"system": "http://example.cn/lis", "code": "GLU"},
                    {"system": LOINC, "code": "2339-0"},
                ]
            },
            valueQuantity={"value": 6.1, "unit": "mmol/l", "system": UCUM, "code": "mmol/L"},
            category=[{"coding": [{"code": "laboratory"}]}],
        ),
        # not UCUM: the human unit; effectivePeriod.start; device beats method and category
        obs(
            "o2",
            effectiveDateTime=None,
            effectivePeriod={"start": "2024-01-03T00:00:00+08:00"},
            valueQuantity=qty(80.5, "公斤", ucum=False),
            device={"display": "体重秤 S1"},
            method={"text": "自测"},
            category=[{"coding": [{"code": "vital-signs"}]}],
        ),
        # only issued; method text is the source; valueInteger
        obs(
            "o3",
            effectiveDateTime=None,
            issued="2024-01-04T09:00:00.000+08:00",
            code={"coding": [{"system": LOINC, "code": "8867-4"}]},
            valueInteger=72,
            method={"coding": [{"code": "auscultation"}]},
        ),
    )
    assert rows(read_fhir(path), "observations") == [
        {
            "observation_id": "o1",
            "user_id": "p-1",
            "ts": "2024-01-02T08:00:00+08:00",
            "code": "2339-0",
            "value": 6.1,
            "unit": "mmol/L",
            "source": "laboratory",
            RECORD: "Observation/o1",
        },
        {
            "observation_id": "o2",
            "user_id": "p-1",
            "ts": "2024-01-03T00:00:00+08:00",
            "code": "29463-7",
            "value": 80.5,
            "unit": "公斤",
            "source": "体重秤 S1",
            RECORD: "Observation/o2",
        },
        {
            "observation_id": "o3",
            "user_id": "p-1",
            "ts": "2024-01-04T09:00:00.000+08:00",
            "code": "8867-4",
            "value": 72.0,
            "unit": None,
            "source": "auscultation",
            RECORD: "Observation/o3",
        },
    ]


def test_blood_pressure_panel_becomes_systolic_and_diastolic_rows(tmp_path: Path) -> None:
    def comp(code: str, v: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": qty(v, "mm[Hg]"),
        }

    panel = obs(
        "bp1",
        code={"coding": [{"system": LOINC, "code": "85354-9"}]},
        category=[{"coding": [{"code": "vital-signs"}]}],
        component=[
            comp("8480-6", 142),
            comp("8462-4", 91),
            {"code": {"coding": [{"code": "8478-0"}]}, "valueString": "not measured"},
        ],
    )
    staged = read_fhir(write_bundle(tmp_path, panel))
    assert rows(staged, "observations") == [
        {
            "observation_id": "bp1-8480-6",
            "user_id": "p-1",
            "ts": "2024-01-02T08:00:00+08:00",
            "code": "8480-6",
            "value": 142.0,
            "unit": "mm[Hg]",
            "source": "vital-signs",
            RECORD: "Observation/bp1#component[0]",
        },
        {
            "observation_id": "bp1-8462-4",
            "user_id": "p-1",
            "ts": "2024-01-02T08:00:00+08:00",
            "code": "8462-4",
            "value": 91.0,
            "unit": "mm[Hg]",
            "source": "vital-signs",
            RECORD: "Observation/bp1#component[1]",
        },
    ]
    raw = staged.tables["observations"].column(RAW).to_pylist()
    assert json.loads(raw[0]) == panel and ", " not in raw[0]  # compact JSON of the resource


def test_non_numeric_observations_are_counted_as_skipped(tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path,
        obs("c1", valueCodeableConcept={"coding": [{"code": "266919005"}]}),
        obs("c2", valueString="阴性"),
        obs("c3", valueBoolean=True),
        obs("c4", dataAbsentReason={"coding": [{"code": "asked-declined"}]}),
        obs("c5", hasMember=[{"reference": "Observation/x"}]),
        obs("c6", status="entered-in-error", valueQuantity=qty(1, "kg")),
    )
    staged = read_fhir(path)
    assert "observations" not in staged.tables and staged.rejects == []
    assert staged.skipped == {
        "Observation (non-numeric)": 3,
        "Observation (data absent)": 1,
        "Observation (panel of members)": 1,
        "Observation (entered-in-error)": 1,
    }


def test_observation_without_value_is_rejected_on_value(tmp_path: Path) -> None:
    staged = read_fhir(write_bundle(tmp_path, obs("nv"), obs("bad", valueQuantity=qty("7", "kg"))))
    assert [(r.record, r.field, r.table) for r in staged.rejects] == [
        ("Observation/nv", "value", "observations"),
        ("Observation/bad", "value", "observations"),
    ]
    assert "no value[x]" in staged.rejects[0].reason
    assert "'7' is not a number" in staged.rejects[1].reason
    assert json.loads(staged.rejects[0].raw)["id"] == "nv"


# --- subjects and references -----------------------------------------------------------------


def test_resources_without_subject_are_rejected_on_subject(tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path,
        obs("o", subject=None, valueQuantity=qty(70, "kg")),
        {"resourceType": "Condition", "id": "c", "code": {"coding": [{"code": "I10"}]}},
        {"resourceType": "Encounter", "id": "e", "status": "finished"},
        {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order"},
        {"resourceType": "AllergyIntolerance", "id": "a", "code": {"coding": [{"code": "x"}]}},
        obs("g", subject="Group/family-7", valueQuantity=qty(70, "kg")),
        obs("q", subject="Patient?identifier=urn:oid:1.2|42", valueQuantity=qty(70, "kg")),
        {
            "resourceType": "Condition",
            "id": "l",
            "subject": {"identifier": {"value": "42"}},
            "code": {"coding": [{"code": "I10"}]},
        },
    )
    staged = read_fhir(path)
    assert staged.tables == {}
    assert [(r.record, r.field, r.table) for r in staged.rejects] == [
        ("Observation/o", "subject", "observations"),
        ("Condition/c", "subject", "conditions"),
        ("Encounter/e", "subject", "encounters"),
        ("MedicationRequest/m", "subject", "prescriptions"),
        ("AllergyIntolerance/a", "patient", "conditions"),
        ("Observation/g", "subject", "observations"),
        ("Observation/q", "subject", "observations"),
        ("Condition/l", "subject", "conditions"),
    ]
    reasons = [r.reason for r in staged.rejects]
    assert "is a Group, not a Patient" in reasons[5]
    assert "conditional reference" in reasons[6]
    assert "logical reference" in reasons[7]


def test_urn_uuid_relative_and_absolute_references_give_the_patient_id(tmp_path: Path) -> None:
    # The fullUrl uuid differs from the Patient's id: user_id must be the id, not the uuid.
    uuid = "urn:uuid:0b8e6c1a-1111-4222-8333-444455556666"
    path = write_bundle(
        tmp_path,
        obs("a", subject=uuid, valueQuantity=qty(70, "kg")),  # before the Patient: forward ref
        (uuid, patient("p-77")),
        obs("b", subject="Patient/p-77", valueQuantity=qty(71, "kg")),
        obs(
            "c",
            subject="https://fhir.example-hospital.cn/r4/Patient/p-77",
            valueQuantity=qty(72, "kg"),
        ),
        obs(
            "d",
            subject="https://fhir.example-hospital.cn/r4/Patient/p-77/_history/3",
            valueQuantity=qty(73, "kg"),
        ),
        obs(
            "e",
            subject="urn:uuid:9d9d9d9d-0000-4000-8000-000000000001",
            valueQuantity=qty(74, "kg"),
        ),  # not in this Bundle: the uuid is kept as the id
        kind="transaction",
    )
    got = {r["observation_id"]: r["user_id"] for r in rows(read_fhir(path), "observations")}
    assert got == {
        "a": "p-77",
        "b": "p-77",
        "c": "p-77",
        "d": "p-77",
        "e": "9d9d9d9d-0000-4000-8000-000000000001",
    }


def test_absolute_full_urls_in_a_searchset(tmp_path: Path) -> None:
    base = "https://fhir.example-hospital.cn/r4"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 2,
        "entry": [
            {
                "fullUrl": f"{base}/Patient/p-5",
                "resource": patient("p-5", gender="female"),
                "search": {"mode": "match"},
            },
            {
                "fullUrl": f"{base}/Observation/w",
                "search": {"mode": "include"},
                "resource": obs("w", subject=f"{base}/Patient/p-5", valueQuantity=qty(55, "kg")),
            },
            {
                "fullUrl": "urn:uuid:oo",
                "search": {"mode": "outcome"},
                "resource": {"resourceType": "OperationOutcome", "issue": []},
            },
        ],
    }
    path = tmp_path / "search.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    staged = read_fhir(path)
    assert [r["user_id"] for r in rows(staged, "patients")] == ["p-5"]
    assert [r["user_id"] for r in rows(staged, "observations")] == ["p-5"]
    assert staged.skipped == {"OperationOutcome": 1}


# --- Condition, allergy, family history ------------------------------------------------------


def cond(cid: str, codings: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p-1"},
        "code": {"coding": codings},
        **extra,
    }


def test_condition_prefers_icd10_then_snomed_and_maps_status_category_onset(tmp_path: Path) -> None:
    sct = {"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes type 2"}
    path = write_bundle(
        tmp_path,
        cond(
            "c1",
            [
                sct,
                {
                    "system": "http://hl7.org/fhir/sid/icd-10-cm",
                    "code": "E11.9",
                    "display": "Type 2 diabetes mellitus without complications",
                },
            ],
            clinicalStatus={"coding": [{"code": "active"}]},
            category=[{"coding": [{"code": "problem-list-item"}]}],
            onsetDateTime="2019-03-01T00:00:00+08:00",
            recordedDate="2020-01-01",
        ),
        cond(
            "c2",
            [
                {
                    "system": "urn:oid:2.16.156.10011.2.3.3.11",
                    "code": "I10.x00",
                    "display": "原发性高血压",
                }
            ],
            clinicalStatus={"coding": [{"code": "remission"}]},
            category=[{"coding": [{"code": "encounter-diagnosis"}]}],
            onsetPeriod={"start": "2018-07-01"},
        ),
        cond(
            "c3",
            [sct],
            recordedDate="2021-02-03",
            category=[{"coding": [{"code": "health-concern"}]}],
        ),
        cond(
            "c4",
            [{"system": "http://example.cn/local-dx", "code": "GXY"}],
            **{
                "code": {
                    "coding": [{"system": "http://example.cn/local-dx", "code": "GXY"}],
                    "text": "高血压",
                }
            },
        ),
        cond("c5", [sct], verificationStatus={"coding": [{"code": "refuted"}]}),
    )
    staged = read_fhir(path)
    assert rows(staged, "conditions") == [
        {
            "condition_id": "c1",
            "user_id": "p-1",
            "system": "icd10",
            "code": "E11.9",
            "display": "Type 2 diabetes mellitus without complications",
            "onset_at": "2019-03-01T00:00:00+08:00",
            "status": "active",
            "category": "problem",
            RECORD: "Condition/c1",
        },
        {
            "condition_id": "c2",
            "user_id": "p-1",
            "system": "icd10",
            "code": "I10.x00",
            "display": "原发性高血压",
            "onset_at": "2018-07-01",
            "status": "remission",
            "category": "diagnosis",
            RECORD: "Condition/c2",
        },
        {
            "condition_id": "c3",
            "user_id": "p-1",
            "system": "snomed",
            "code": "44054006",
            "display": "Diabetes type 2",
            "onset_at": "2021-02-03",
            "status": None,
            "category": None,
            RECORD: "Condition/c3",
        },
        {
            "condition_id": "c4",
            "user_id": "p-1",
            "system": "other",
            "code": "GXY",
            "display": "高血压",
            "onset_at": None,
            "status": None,
            "category": None,
            RECORD: "Condition/c4",
        },
    ]
    assert staged.skipped == {"Condition (refuted)": 1}


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("http://hl7.org/fhir/sid/icd-10", "icd10"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "icd10"),
        ("http://example.cn/CodeSystem/ICD10-GB", "icd10"),
        ("urn:oid:2.16.840.1.113883.6.3", "icd10"),
        ("urn:oid:2.16.840.1.113883.6.90", "icd10"),
        ("urn:oid:2.16.156.10011.2.3.3.11", "icd10"),  # Chinese national ICD-10 (GB/T 14396)
        ("urn:oid:2.16.156.10011.2.3.3.11.3", "icd10"),  # an edition below it
        ("http://example.cn/GB/T14396-2016", "icd10"),
        ("http://snomed.info/sct", "snomed"),
        ("http://snomed.info/sct/900000000000207008/version/20240101", "snomed"),
        ("urn:oid:2.16.840.1.113883.6.96", "snomed"),
        ("urn:oid:2.16.840.1.113883.6.38", "other"),  # shares a prefix with ICD-10's OID
        ("urn:oid:2.16.156.10011.2.3.3.110", "other"),
        ("http://loinc.org", "other"),
        (None, "other"),
    ],
)
def test_code_system(system: str | None, expected: str) -> None:
    assert code_system(system) == expected


def test_allergy_and_family_history_become_conditions(tmp_path: Path) -> None:
    sct = "http://snomed.info/sct"
    path = write_bundle(
        tmp_path,
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": {"reference": "Patient/p-1"},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {
                "coding": [
                    {"system": sct, "code": "294505008", "display": "Allergy to amoxicillin"}
                ],
                "text": "青霉素类过敏",
            },
            "onsetDateTime": "2010-01-01",
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a2",
            "patient": {"reference": "Patient/p-1"},
            "code": {
                "coding": [{"system": sct, "code": "716186003", "display": "No known allergy"}]
            },
        },
        {
            "resourceType": "FamilyMemberHistory",
            "id": "f1",
            "status": "completed",
            "patient": {"reference": "Patient/p-1"},
            "date": "2024-01-05",
            "relationship": {"coding": [{"code": "FTH"}]},
            "condition": [
                {
                    "code": {
                        "coding": [
                            {
                                "system": "http://hl7.org/fhir/sid/icd-10",
                                "code": "I10",
                                "display": "Essential hypertension",
                            }
                        ]
                    },
                    "onsetAge": {"value": 50, "unit": "a"},
                },
                {
                    "code": {
                        "coding": [
                            {"system": sct, "code": "22298006", "display": "Myocardial infarction"}
                        ]
                    }
                },
            ],
        },
        {
            "resourceType": "FamilyMemberHistory",
            "id": "f2",
            "status": "completed",
            "patient": {"reference": "Patient/p-1"},
        },
    )
    staged = read_fhir(path)
    assert rows(staged, "conditions") == [
        {
            "condition_id": "a1",
            "user_id": "p-1",
            "system": "snomed",
            "code": "294505008",
            "display": "Allergy to amoxicillin",
            "onset_at": "2010-01-01",
            "status": "active",
            "category": "allergy",
            RECORD: "AllergyIntolerance/a1",
        },
        {
            "condition_id": "f1-0",
            "user_id": "p-1",
            "system": "icd10",
            "code": "I10",
            "display": "Essential hypertension",
            "onset_at": "2024-01-05",
            "status": None,
            "category": "family_history",
            RECORD: "FamilyMemberHistory/f1#condition[0]",
        },
        {
            "condition_id": "f1-1",
            "user_id": "p-1",
            "system": "snomed",
            "code": "22298006",
            "display": "Myocardial infarction",
            "onset_at": "2024-01-05",
            "status": None,
            "category": "family_history",
            RECORD: "FamilyMemberHistory/f1#condition[1]",
        },
    ]
    assert staged.skipped == {
        "AllergyIntolerance (no known allergy)": 1,
        "FamilyMemberHistory (no condition)": 1,
    }


# --- Encounter -------------------------------------------------------------------------------


def test_encounter_period_class_and_department(tmp_path: Path) -> None:
    def enc(eid: str, **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "Encounter",
            "id": eid,
            "status": "finished",
            "subject": {"reference": "Patient/p-1"},
            **extra,
        }

    path = write_bundle(
        tmp_path,
        enc(
            "e1",
            period={"start": "2024-01-01T09:00:00+08:00", "end": "2024-01-01T09:30:00+08:00"},
            **{
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "VR",
                }
            },
            serviceType={"text": "内分泌科"},
            type=[{"text": "复诊"}],
        ),
        enc(
            "e2",
            period={"start": "2024-01-02"},
            **{"class": {"code": "AMB"}},
            serviceType={"coding": [{"code": "0302", "display": "心内科"}]},
        ),
        enc(
            "e3",
            period={"start": "2024-01-03T10:00:00Z"},
            type=[
                {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "185349003",
                            "display": "Encounter for check up",
                        }
                    ]
                }
            ],
        ),
        enc("e4", status="planned", period={"start": "2099-01-01"}),
        enc("e5", status="cancelled"),
    )
    staged = read_fhir(path)
    assert rows(staged, "encounters") == [
        {
            "encounter_id": "e1",
            "user_id": "p-1",
            "start_at": "2024-01-01T09:00:00+08:00",
            "end_at": "2024-01-01T09:30:00+08:00",
            "class": "VR",
            "department": "内分泌科",
            RECORD: "Encounter/e1",
        },
        {
            "encounter_id": "e2",
            "user_id": "p-1",
            "start_at": "2024-01-02",
            "end_at": None,
            "class": "AMB",
            "department": "心内科",
            RECORD: "Encounter/e2",
        },
        {
            "encounter_id": "e3",
            "user_id": "p-1",
            "start_at": "2024-01-03T10:00:00Z",
            "end_at": None,
            "class": None,
            "department": "Encounter for check up",
            RECORD: "Encounter/e3",
        },
    ]
    assert staged.skipped == {"Encounter (planned)": 1, "Encounter (cancelled)": 1}


# --- MedicationRequest -----------------------------------------------------------------------


def rx(rid: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p-1"},
        "authoredOn": "2024-01-10T10:00:00+08:00",
        **extra,
    }


def test_medication_request_drug_supply_refills_and_encounter(tmp_path: Path) -> None:
    metformin = {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "860975",
                "display": "metformin 500 MG",
            }
        ],
        "text": "二甲双胍片",
    }
    twice_daily = [
        {
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "片"}}],
        }
    ]
    med_uuid = "urn:uuid:3c3c3c3c-0000-4000-8000-00000000000a"
    path = write_bundle(
        tmp_path,
        rx(
            "r1",
            medicationCodeableConcept=metformin,
            encounter={"reference": "urn:uuid:enc-1"},
            dispenseRequest={
                "numberOfRepeatsAllowed": 3,
                "expectedSupplyDuration": {"value": 2, "system": UCUM, "code": "wk"},
            },
        ),
        (
            "urn:uuid:enc-1",
            {
                "resourceType": "Encounter",
                "id": "enc-9",
                "status": "finished",
                "subject": {"reference": "Patient/p-1"},
                "period": {"start": "2024-01-10T09:00:00+08:00"},
            },
        ),
        # referenced Medication comes later in the Bundle; supply from quantity ÷ daily dose
        rx(
            "r2",
            medicationReference={"reference": med_uuid},
            encounter={"reference": "Encounter/enc-9"},
            dosageInstruction=twice_daily,
            dispenseRequest={"quantity": {"value": 60, "unit": "片"}},
        ),
        # contained Medication; supply from the dosage's boundsDuration
        rx(
            "r3",
            contained=[
                {
                    "resourceType": "Medication",
                    "id": "m",
                    "code": {"coding": [{"code": "X01"}], "text": "阿司匹林肠溶片"},
                }
            ],
            medicationReference={"reference": "#m"},
            dosageInstruction=[
                {"timing": {"repeat": {"boundsDuration": {"value": 3, "code": "mo"}}}}
            ],
            dispenseRequest={"expectedSupplyDuration": {"value": 1, "unit": "年"}},
        ),
        # a Medication that is not in the input: name from the display, code left empty
        rx(
            "r4",
            medicationReference={"reference": "Medication/gone", "display": "胰岛素"},
            dosageInstruction=[
                {
                    "timing": {
                        "repeat": {"boundsPeriod": {"start": "2024-01-10", "end": "2024-01-20"}}
                    }
                }
            ],
        ),
        (
            med_uuid,
            {
                "resourceType": "Medication",
                "id": "med-a",
                "code": {
                    "coding": [{"system": "http://example.cn/drug", "code": "A10BA02"}],
                    "text": "盐酸二甲双胍缓释片",
                },
            },
        ),
        rx("r5", status="cancelled"),
        rx("r6", intent="proposal"),
    )
    staged = read_fhir(path)
    base = {"user_id": "p-1", "ts": "2024-01-10T10:00:00+08:00"}
    assert rows(staged, "prescriptions") == [
        {
            "prescription_id": "r1",
            **base,
            "consultation_id": "enc-9",
            "drug_code": "860975",
            "drug_name": "二甲双胍片",
            "days_supply": 14,
            "refills": 3,
            RECORD: "MedicationRequest/r1",
        },
        {
            "prescription_id": "r2",
            **base,
            "consultation_id": "enc-9",
            "drug_code": "A10BA02",
            "drug_name": "盐酸二甲双胍缓释片",
            "days_supply": 30,
            "refills": None,
            RECORD: "MedicationRequest/r2",
        },
        {
            "prescription_id": "r3",
            **base,
            "consultation_id": None,
            "drug_code": "X01",
            "drug_name": "阿司匹林肠溶片",
            "days_supply": 365,
            "refills": None,
            RECORD: "MedicationRequest/r3",
        },
        {
            "prescription_id": "r4",
            **base,
            "consultation_id": None,
            "drug_code": None,
            "drug_name": "胰岛素",
            "days_supply": 10,
            "refills": None,
            RECORD: "MedicationRequest/r4",
        },
    ]
    assert staged.skipped == {
        "Medication": 1,
        "MedicationRequest (cancelled)": 1,
        "MedicationRequest (proposal)": 1,
    }
    assert any("1 MedicationRequest(s) reference a Medication" in w for w in staged.warnings)
    table = staged.tables["prescriptions"]
    assert table.schema.field("days_supply").type == pa.int64()
    assert table.schema.field("refills").type == pa.int64()


def test_medication_request_bad_refills_and_odd_structure_are_rejected(tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path,
        rx("r1", dispenseRequest={"numberOfRepeatsAllowed": "two"}),
        rx("r2", dosageInstruction=[{"timing": "每日两次"}]),
    )
    staged = read_fhir(path)
    assert [(r.record, r.field) for r in staged.rejects] == [
        ("MedicationRequest/r1", "refills"),
        ("MedicationRequest/r2", None),
    ]
    assert "unexpected MedicationRequest structure" in staged.rejects[1].reason


@pytest.mark.parametrize(
    ("quantity", "days"),
    [
        ({"value": 10, "system": UCUM, "code": "d"}, 10.0),
        ({"value": 2, "system": UCUM, "code": "wk"}, 14.0),
        ({"value": 3, "system": UCUM, "code": "mo"}, 90.0),
        ({"value": 1, "system": UCUM, "code": "a"}, 365.0),
        ({"value": 36, "system": UCUM, "code": "h"}, 1.5),
        ({"value": 5, "unit": "days"}, 5.0),
        ({"value": 2, "unit": "周"}, 14.0),
        ({"value": 5, "unit": "fortnights"}, None),
        ({"unit": "d"}, None),
        (None, None),
    ],
)
def test_duration_days(quantity: dict[str, Any] | None, days: float | None) -> None:
    assert duration_days(quantity) == days


# --- whole inputs ----------------------------------------------------------------------------


def test_synthea_shaped_transaction_bundle() -> None:
    staged = read_fhir(DATA / "synthea_transaction.json")
    p = SYNTHEA_PATIENT
    uid = "7f3c2a10-5b1e-4c2d-9e8f-0a1b2c3d4e"
    assert rows(staged, "patients") == [
        {
            "user_id": p,
            "registered_at": "2015-03-02T09:12:44+08:00",
            "birth_date": "1968-04-12",
            "sex": "M",
            "region": "Zhejiang",
            "city": "Hangzhou",
            RECORD: f"Patient/{p}",
        }
    ]
    panel = {
        "user_id": p,
        "ts": "2021-06-14T10:00:00+08:00",
        "unit": "mm[Hg]",
        "source": "vital-signs",
    }
    assert rows(staged, "observations") == [
        {
            "observation_id": f"{uid}41-8462-4",
            **panel,
            "code": "8462-4",
            "value": 92.0,
            RECORD: f"Observation/{uid}41#component[0]",
        },
        {
            "observation_id": f"{uid}41-8480-6",
            **panel,
            "code": "8480-6",
            "value": 148.0,
            RECORD: f"Observation/{uid}41#component[1]",
        },
        {
            "observation_id": f"{uid}42",
            **panel,
            "code": "29463-7",
            "value": 78.4,
            "unit": "kg",
            RECORD: f"Observation/{uid}42",
        },
    ]
    assert rows(staged, "conditions") == [
        {
            "condition_id": f"{uid}21",
            "user_id": p,
            "system": "snomed",
            "code": "59621000",
            "display": "Essential hypertension (disorder)",
            "onset_at": "2015-03-02T09:12:44+08:00",
            "status": "active",
            "category": "diagnosis",
            RECORD: f"Condition/{uid}21",
        },
        {
            "condition_id": f"{uid}31",
            "user_id": p,
            "system": "snomed",
            "code": "762952008",
            "display": "Peanut (substance)",
            "onset_at": "2015-03-02T09:12:44+08:00",
            "status": "active",
            "category": "allergy",
            RECORD: f"AllergyIntolerance/{uid}31",
        },
    ]
    assert rows(staged, "encounters") == [
        {
            "encounter_id": f"{uid}11",
            "user_id": p,
            "start_at": "2015-03-02T09:12:44+08:00",
            "end_at": "2015-03-02T09:27:44+08:00",
            "class": "AMB",
            "department": "General examination of patient (procedure)",
            RECORD: f"Encounter/{uid}11",
        },
        {
            "encounter_id": f"{uid}12",
            "user_id": p,
            "start_at": "2021-06-14T10:00:00+08:00",
            "end_at": "2021-06-14T10:15:00+08:00",
            "class": "AMB",
            "department": "Follow-up encounter (procedure)",
            RECORD: f"Encounter/{uid}12",
        },
    ]
    assert rows(staged, "prescriptions") == [
        {
            "prescription_id": f"{uid}51",
            "user_id": p,
            "consultation_id": f"{uid}12",
            "ts": "2021-06-14T10:00:00+08:00",
            "drug_code": "314076",
            "drug_name": "lisinopril 10 MG Oral Tablet",
            "days_supply": None,
            "refills": None,
            RECORD: f"MedicationRequest/{uid}51",
        }
    ]
    assert staged.rejects == [] and staged.warnings == []
    assert staged.records == 13
    assert staged.skipped == {
        "Observation (non-numeric)": 1,
        "Immunization": 1,
        "Procedure": 1,
        "Claim": 1,
        "ExplanationOfBenefit": 1,
    }


def test_staged_tables_carry_only_canonical_columns() -> None:
    for path in (DATA / "synthea_transaction.json", DATA / "bulk"):
        for name, table in read_fhir(path).tables.items():
            extra = set(table.column_names) - set(TABLES[name].names) - {RECORD, RAW}
            assert extra == set(), (name, extra)
            if "value" in table.column_names:
                assert table.schema.field("value").type == pa.float64()


def test_bulk_export_directory_with_a_malformed_line() -> None:
    staged = read_fhir(DATA / "bulk")
    assert [(r.source, r.record, r.field, r.table) for r in staged.rejects] == [
        (str(DATA / "bulk" / "Observation.000.ndjson"), "line 2", None, None)
    ]
    assert "malformed JSON on line 2" in staged.rejects[0].reason
    assert json.dumps("o-102")[1:-1] in staged.rejects[0].raw  # the line kept for repair
    assert rows(staged, "observations") == [
        {
            "observation_id": "o-101",
            "user_id": "p-001",
            "ts": "2024-02-21T07:30:00+08:00",
            "code": "2339-0",
            "value": 126.0,
            "unit": "mg/dL",
            "source": "laboratory",
            RECORD: "Observation/o-101",
        },
        {
            "observation_id": "o-103",
            "user_id": "p-002",
            "ts": "2024-02-21T00:00:00+08:00",
            "code": "55423-8",
            "value": 8412.0,
            "unit": "{steps}",
            "source": "手环",
            RECORD: "Observation/o-103",
        },
    ]
    assert rows(staged, "patients") == [
        {
            "user_id": "p-001",
            "registered_at": "2024-02-20T09:00:00+08:00",
            "birth_date": "1958-09-22",
            "sex": "F",
            "region": "浙江省",
            "city": "杭州市",
            RECORD: "Patient/p-001",
        },
        {
            "user_id": "p-002",
            "registered_at": "2024-03-05T06:30:00Z",
            "birth_date": "2016-01-10",
            "sex": "U",
            "region": None,
            "city": None,
            RECORD: "Patient/p-002",
        },
    ]
    assert rows(staged, "conditions") == [
        {
            "condition_id": "c-201",
            "user_id": "p-001",
            "system": "icd10",
            "code": "I10.x00",
            "display": "原发性高血压",
            "onset_at": "2019-05-01",
            "status": "active",
            "category": "problem",
            RECORD: "Condition/c-201",
        }
    ]
    assert rows(staged, "prescriptions") == [
        {
            "prescription_id": "rx-301",
            "user_id": "p-001",
            "consultation_id": "e-001",
            "ts": "2024-02-20T09:18:00+08:00",
            "drug_code": "86901234000012",
            "drug_name": "苯磺酸氨氯地平片 5mg",
            "days_supply": 28,
            "refills": 2,
            RECORD: "MedicationRequest/rx-301",
        }
    ]
    assert [r["department"] for r in rows(staged, "encounters")] == ["心血管内科"]
    assert staged.skipped == {"Claim": 1, "Medication": 1}
    # the NDJSON line itself is the raw record
    raw = staged.tables["observations"].column(RAW).to_pylist()[0]
    assert (
        raw
        == (DATA / "bulk" / "Observation.000.ndjson").read_text(encoding="utf-8").splitlines()[0]
    )
    assert staged.records == 10


def test_gzipped_ndjson_reads_like_plain(tmp_path: Path) -> None:
    for f in (DATA / "bulk").iterdir():
        with open(f, "rb") as src, gzip.open(tmp_path / (f.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    plain, packed = read_fhir(DATA / "bulk"), read_fhir(tmp_path)
    assert {t: rows(plain, t) for t in plain.tables} == {t: rows(packed, t) for t in packed.tables}
    assert [(r.record, r.field) for r in packed.rejects] == [("line 2", None)]
    assert packed.rejects[0].source.endswith("Observation.000.ndjson.gz")


def test_single_ndjson_file_and_a_line_that_is_not_a_resource(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    path.write_text(
        "\n".join(
            [
                json.dumps(obs("o1", valueQuantity=qty(70, "kg"))),
                "",
                '{"id": "x"}',
                "[1, 2]",
                json.dumps(obs("o2", subject=None, valueQuantity=qty(1, "kg"))),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    staged = read_fhir(path)
    assert [r["observation_id"] for r in rows(staged, "observations")] == ["o1"]
    assert [(r.record, r.field) for r in staged.rejects] == [
        ("line 3", "resourceType"),
        ("line 4", "resourceType"),
        ("Observation/o2 (line 5)", "subject"),
    ]


def test_ndjson_named_json_is_read_as_ndjson(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps(patient("a")) + "\n" + json.dumps(patient("b")) + "\n", encoding="utf-8"
    )
    assert [r["user_id"] for r in rows(read_fhir(path), "patients")] == ["a", "b"]


def test_batch_bundle_entries_without_resource_and_unknown_types(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "DELETE", "url": "Patient/old"}},
            {"resource": patient("p-1"), "request": {"method": "PUT", "url": "Patient/p-1"}},
            {"resource": {"resourceType": "Provenance", "id": "pv"}},
            {"resource": {"resourceType": "Practitioner", "id": "dr"}},
            {"resource": {"resourceType": "Practitioner", "id": "dr2"}},
            {
                "resource": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        {"resource": {"resourceType": "Organization", "id": "org"}},
                        {"resource": patient("p-2")},
                    ],
                }
            },
        ],
    }
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    staged = read_fhir(path)
    assert [r["user_id"] for r in rows(staged, "patients")] == ["p-1", "p-2"]
    assert staged.skipped == {
        "Bundle entry without resource": 1,
        "Provenance": 1,
        "Practitioner": 2,
        "Organization": 1,
    }


def test_single_resource_file_and_missing_id(tmp_path: Path) -> None:
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(patient("solo", gender="male")), encoding="utf-8")
    assert rows(read_fhir(path), "patients")[0]["user_id"] == "solo"
    nameless = write_bundle(
        tmp_path,
        {"resourceType": "Condition", "code": {}},
        ("urn:uuid:abc-1", {"resourceType": "Patient"}),
        name="noid.json",
    )
    staged = read_fhir(nameless)
    assert [r["user_id"] for r in rows(staged, "patients")] == ["abc-1"]
    assert [(r.record, r.field, r.table) for r in staged.rejects] == [
        ("Condition", "id", "conditions")
    ]


# --- unreadable input ------------------------------------------------------------------------


def test_malformed_json_file_raises_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Pat', encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"broken\.json: .* / not valid JSON \(line 1, column \d+"):
        read_fhir(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.json", "[1, 2, 3]", "not a FHIR resource or Bundle"),
        ("latin.json", '{"resourceType": "Patient", "id": "\xe9"}'.encode("latin-1"), "not UTF-8"),
        ("notes.txt", "hello", "not a FHIR input"),
        ("bad.ndjson.gz", b"not gzip at all", "cannot be read"),
    ],
)
def test_unreadable_files_raise_input_error(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_fhir(path)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_fhir(tmp_path / "nope.json")
    with pytest.raises(InputError, match=r"no \.json or \.ndjson files"):
        read_fhir(tmp_path)


def test_directory_ignores_non_fhir_json_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        '{"transactionTime": "2024-01-01T00:00:00Z"}', encoding="utf-8"
    )
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient("p")) + "\n", encoding="utf-8")
    staged = read_fhir(tmp_path)
    assert [r["user_id"] for r in rows(staged, "patients")] == ["p"]
    assert staged.warnings == [
        "manifest.json: not a FHIR resource or Bundle (no resourceType), ignored"
    ]


# --- sniffing for --kind auto ----------------------------------------------------------------


def test_looks_like_fhir(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "1", "user_id": "u", "name": "app_open"}\n', encoding="utf-8")
    table = tmp_path / "patients.csv"
    table.write_text("user_id,sex\nu,M\n", encoding="utf-8")
    packed = tmp_path / "Patient.ndjson.gz"
    packed.write_bytes(gzip.compress(b'{"id":"p","resourceType":"Patient"}\n'))
    assert looks_like_fhir(DATA / "synthea_transaction.json")  # pretty-printed, key on line 2
    assert looks_like_fhir(DATA / "bulk")
    assert looks_like_fhir(DATA / "bulk" / "Observation.000.ndjson")
    assert looks_like_fhir(packed)
    assert not looks_like_fhir(events)
    assert not looks_like_fhir(table)
    assert not looks_like_fhir(tmp_path / "missing.json")


# --- a bulk export loaded file by file -------------------------------------------------------


def test_context_files_supply_first_visits_and_medications() -> None:
    bulk = DATA / "bulk"
    everything = sorted(bulk.iterdir())
    alone = read_fhir(bulk / "Patient.ndjson")
    assert [r["registered_at"] for r in rows(alone, "patients")] == [
        "2024-03-01T02:00:00Z",
        "2024-03-05T06:30:00Z",
    ]  # meta.lastUpdated fallback
    with_context = read_fhir(bulk / "Patient.ndjson", context=everything)
    assert [r["registered_at"] for r in rows(with_context, "patients")] == [
        "2024-02-20T09:00:00+08:00",
        "2024-03-05T06:30:00Z",
    ]  # p-001's Encounter in e-001
    assert with_context.rejects == [] and with_context.records == 2  # context is not staged
    assert with_context.skipped == {}

    rx_alone = read_fhir(bulk / "MedicationRequest.ndjson")
    assert [(r["drug_code"], r["drug_name"]) for r in rows(rx_alone, "prescriptions")] == [
        (None, None)
    ]
    assert len(rx_alone.warnings) == 1
    rx = read_fhir(bulk / "MedicationRequest.ndjson", context=everything)
    assert [(r["drug_code"], r["drug_name"]) for r in rows(rx, "prescriptions")] == [
        ("86901234000012", "苯磺酸氨氯地平片 5mg")
    ]
    assert rx.warnings == []


def test_context_is_not_read_when_nothing_is_missing(tmp_path: Path) -> None:
    broken = tmp_path / "Encounter.ndjson.gz"
    broken.write_bytes(b"not gzip")  # would raise if it were opened
    staged = read_fhir(DATA / "bulk" / "Observation.000.ndjson", context=[broken])
    assert staged.warnings == [] and len(rows(staged, "observations")) == 2
    consulted = read_fhir(DATA / "bulk" / "Patient.ndjson", context=[broken])
    assert consulted.warnings and "Encounter.ndjson.gz not consulted" in consulted.warnings[0]


def test_context_skips_bundles_and_files_of_other_types(tmp_path: Path) -> None:
    visit = {
        "resourceType": "Encounter",
        "id": "e",
        "status": "finished",
        "subject": {"reference": "Patient/p-001"},
        "period": {"start": "2020-01-01T00:00:00Z"},
    }
    bundle = write_bundle(tmp_path, visit, name="other.json")
    named = tmp_path / "Observation.000.ndjson"  # named after a type that is not needed
    named.write_text(json.dumps(visit) + "\n", encoding="utf-8")
    loose = tmp_path / "part-1.ndjson"  # not named after a type: consulted
    patients = DATA / "bulk" / "Patient.ndjson"
    for context, first in (
        ([bundle, named], "2024-03-01T02:00:00Z"),
        ([loose], "2020-01-01T00:00:00Z"),
    ):
        loose.write_text(json.dumps(visit) + "\n", encoding="utf-8")
        staged = read_fhir(patients, context=context)
        assert rows(staged, "patients")[0]["registered_at"] == first

"""FHIR files through the whole ingestion (CLI → door → validator → DuckDB warehouse)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from careops.warehouse import connect

DATA = Path(__file__).parents[1] / "data" / "fhir"
UTC = dt.UTC


def test_synthea_bundle_loads_into_the_warehouse(ingest_json) -> None:
    code, report = ingest_json(DATA / "synthea_transaction.json", "--kind", "fhir")
    assert code == 0
    [file] = report["files"]
    assert file["status"] == "loaded"
    assert {t: c["loaded"] for t, c in file["tables"].items()} == {
        "patients": 1,
        "observations": 3,
        "conditions": 2,
        "encounters": 2,
        "prescriptions": 1,
    }
    assert all(c["quarantined"] == 0 and c["flagged"] == 0 for c in file["tables"].values())
    assert file["warnings"] == [
        "not mapped: Claim × 1, ExplanationOfBenefit × 1, "
        "Immunization × 1, Observation (non-numeric) × 1, Procedure × 1"
    ]
    con = connect(ingest_json.url)
    [patient] = con.table("patients").to_pyarrow().to_pylist()
    # the first Encounter, 2015-03-02T09:12:44+08:00, stored in UTC
    assert patient["registered_at"] == dt.datetime(2015, 3, 2, 1, 12, 44, tzinfo=UTC)
    assert patient["birth_date"] == dt.date(1968, 4, 12) and patient["sex"] == "M"
    bp = {r["code"]: r["value"] for r in con.table("observations").to_pyarrow().to_pylist()}
    assert bp == {"8480-6": 148.0, "8462-4": 92.0, "29463-7": 78.4}
    # the same file again adds nothing
    code, again = ingest_json(DATA / "synthea_transaction.json", "--kind", "fhir")
    assert again["files"][0]["status"] == "already_loaded"


def test_door_rejects_reach_the_quarantine(tmp_path: Path, ingest_json) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p-1",
                    "meta": {"lastUpdated": "2024-01-01T00:00:00Z"},
                }
            },
            *(
                {
                    "resource": {
                        "resourceType": "Observation",
                        "id": f"w{i}",
                        "status": "final",
                        "subject": {"reference": "Patient/p-1"},
                        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                        "effectiveDateTime": f"2024-01-{i + 1:02d}T08:00:00+08:00",
                        "valueQuantity": {"value": 60 + i, "unit": "kg"},
                    }
                }
                for i in range(25)
            ),
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "orphan",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "valueQuantity": {"value": 70, "unit": "kg"},
                }
            },
        ],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    code, report = ingest_json(path)  # --kind auto recognises FHIR
    assert code == 0
    assert report["files"][0]["tables"]["observations"] == {
        "loaded": 25,
        "duplicates": 0,
        "quarantined": 1,
        "flagged": 0,
    }
    [q] = connect(ingest_json.url).table("quarantine").to_pyarrow().to_pylist()
    assert (q["record"], q["field"], q["table_name"]) == (
        "Observation/orphan",
        "subject",
        "observations",
    )
    assert json.loads(q["raw"])["id"] == "orphan"


def test_bulk_export_folder_loads_patients_first(ingest_json) -> None:
    code, report = ingest_json(DATA / "bulk", "--max-bad-ratio", "0.5")
    assert code == 0
    names = [Path(f["source"]).name for f in report["files"]]
    assert names[0] == "Patient.ndjson"
    # every resource refers to a patient loaded before it: nothing is flagged as unknown
    assert all(c["flagged"] == 0 for c in report["tables"].values()), report["tables"]
    assert report["tables"]["patients"]["loaded"] >= 1

"""De-identified exports for analysts (CLI/service and GET /api/v1/deidentified/{table}) on
DuckDB and PostgreSQL: no original id, birth date, name or phone anywhere in the output; the
same patient gets the same pseudonym in two exports; intervals within a patient are kept when
dates are shifted; contacts never leave."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from careops.config import get_settings
from careops.errors import AlreadyExists, ConfigError, Forbidden, NotFound
from careops.privacy import service
from careops.privacy.deidentify import Deidentifier
from careops.schema import TABLES
from careops.service import Actor, Ops
from tests.api.conftest import admin_ops, api, login  # noqa: F401  (the API test's fixtures)
from tests.privacy.conftest import PEOPLE, PSEUDONYM, use_settings

ANALYST = Actor("ana", "user", roles=("analyst",))
TIMES = {  # the originals of the tiny hospital (conftest)
    "U1": ("2025-01-01T08:00:00", {"C1": "2025-02-01T09:00:00", "C2": "2025-03-15T10:30:00"}),
}


def export(out: Path, *tables: str) -> dict[str, list[dict]]:
    service.export(Ops.open(actor=ANALYST), list(tables or TABLES), str(out))
    return {p.stem: pq.read_table(p).to_pylist() for p in out.glob("*.parquet")}


def every_value(data) -> list[str]:
    """Every value of the export as text, JSON properties opened up too."""
    out: list[str] = []
    for rows in data.values():
        for row in rows:
            for k, v in row.items():
                out.append(str(k))
                if v is None:
                    continue
                out.append(v.isoformat() if hasattr(v, "isoformat") else str(v))
                if isinstance(v, str) and v.startswith("{"):
                    out += [str(x) for x in json.loads(v).values()]
    return out


def test_no_original_id_birth_date_name_or_phone_anywhere(hospital, tmp_path):
    data = export(tmp_path / "x")
    assert set(data) == set(TABLES) and (tmp_path / "x" / "manifest.json").is_file()
    values = every_value(data)
    originals = {"U1", "U2", "U3", "C1", "C2", "C3", "E1", "E2", "E3"}
    assert not originals & set(values)
    secrets = [p[f] for p in PEOPLE.values() for f in ("name", "phone", "id_number") if p[f]]
    secrets += [p["birth"] for p in PEOPLE.values()] + ["失眠", "头痛", "咳嗽", "复诊"]
    for s in secrets:
        assert not [v for v in values if s in v], s
    assert "birth_date" not in data["patients"][0] and "city" not in data["patients"][0]
    assert "complaint" not in data["consultations"][0]
    assert not (tmp_path / "x" / "contacts.parquet").exists()


def test_the_same_patient_gets_the_same_pseudonym_in_every_export_and_table(hospital, tmp_path):
    a, b = export(tmp_path / "a"), export(tmp_path / "b")
    assert a["patients"] == b["patients"]
    pseud = {p["user_id"] for p in a["patients"]}
    assert len(pseud) == 3 and all(p.startswith("P") and len(p) == 21 for p in pseud)
    assert {c["user_id"] for c in a["consultations"]} <= pseud
    d = Deidentifier.from_settings(get_settings())
    u1, u2 = d.pseudonym("U1"), d.pseudonym("U2")
    assert next(p for p in a["patients"] if p["user_id"] == u2)["referrer_id"] == u1
    invite = next(e for e in a["events"] if e["name"] == "invite")
    assert json.loads(invite["properties"]) == {"invitee_id": u2}
    view = next(e for e in a["events"] if e["name"] == "view_content")
    assert json.loads(view["properties"]) == {"content_id": "K1", "topic": "sleep"}  # no note
    assert next(e for e in a["events"] if e["name"] == "search")["properties"] is None


def test_dates_shift_per_patient_and_keep_intervals(hospital, tmp_path):
    data = export(tmp_path / "x", "patients", "consultations")
    d = Deidentifier.from_settings(get_settings())
    shift = d.shift("U1")
    assert shift != 0 and abs(shift) <= get_settings().privacy.date_shift_days
    utc = dt.UTC
    reg, visits = TIMES["U1"]
    patient = next(p for p in data["patients"] if p["user_id"] == d.pseudonym("U1"))
    original_reg = dt.datetime.fromisoformat(reg).replace(tzinfo=utc)
    assert patient["registered_at"] - original_reg == dt.timedelta(days=shift)
    for cid, when in visits.items():
        row = next(
            c
            for c in data["consultations"]
            if c["consultation_id"] == d.pseudonym(cid, "consultation_id")
        )
        original = dt.datetime.fromisoformat(when).replace(tzinfo=utc)
        assert row["started_at"] - patient["registered_at"] == original - original_reg


def test_month_mode_truncates_dates(hospital, tmp_path, monkeypatch):
    use_settings(monkeypatch, CAREOPS_PRIVACY__DATE_MODE="month")
    data = export(tmp_path / "x", "consultations", "patients")
    starts = sorted(c["started_at"] for c in data["consultations"])
    assert starts == [dt.date(2025, 2, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
    assert {p["registered_at"] for p in data["patients"]} == {dt.date(2025, 1, 1)}


def test_age_bands_and_regions():
    import pyarrow as pa

    d = Deidentifier(
        key=PSEUDONYM.encode(),
        mode="shift",
        shift_days=30,
        age_bands=(0, 15, 25, 35, 45, 60),
        as_of=dt.date(2025, 6, 15),
    )
    assert [d.age_band(dt.date.fromisoformat(p["birth"])) for p in PEOPLE.values()] == [
        "60+",
        "35-44",
        "0-14",
    ]
    assert d.age_band(dt.date(2000, 6, 16)) == "15-24" and d.age_band(None) is None
    assert PSEUDONYM not in repr(d) and "key" not in repr(d)
    rows = pa.table(
        {
            "user_id": ["U1", "U2"],
            "region": [None, "西南"],
            "city": ["杭州市", "北京"],
            "birth_date": pa.array([dt.date(1949, 12, 31), None], pa.date32()),
        }
    )
    out = d.table("patients", rows).to_pylist()
    assert [r["region"] for r in out] == ["华东", "西南"]
    assert [r["age_band"] for r in out] == ["60+", None]


def test_exports_refuse_without_a_usable_key_and_for_contacts(hospital, tmp_path, monkeypatch):
    ops = Ops.open(actor=ANALYST)
    for table, error in (("contacts", Forbidden), ("ingest_extras", Forbidden), ("x", NotFound)):
        with pytest.raises(error):
            service.export(ops, [table], str(tmp_path / table))
    with pytest.raises(Forbidden, match=r"data\.deidentified"):
        service.export(
            Ops.open(actor=Actor("o", "user", roles=("operations",))),
            ["patients"],
            str(tmp_path / "o"),
        )
    export(tmp_path / "once", "patients")
    with pytest.raises(AlreadyExists, match=r"patients\.parquet"):
        export(tmp_path / "once", "patients")
    for bad in ("short", hospital.contacts_key):
        use_settings(monkeypatch, CAREOPS_PRIVACY__PSEUDONYM_KEY=bad)
        with pytest.raises(ConfigError, match="pseudonym_key"):
            export(tmp_path / "bad", "patients")
    monkeypatch.delenv("CAREOPS_PRIVACY__PSEUDONYM_KEY")
    use_settings(monkeypatch)
    with pytest.raises(ConfigError, match="refusing to export"):
        export(tmp_path / "none", "patients")
    assert not (tmp_path / "none").exists()


def test_the_api_serves_pages_to_analysts_only(hospital, api, login):  # noqa: F811
    analyst = login("analyst")
    r = api.get("/api/v1/deidentified/consultations?limit=2&offset=0", headers=analyst)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and len(body["items"]) == 2 and body["limit"] == 2
    r2 = api.get("/api/v1/deidentified/consultations?limit=2&offset=2", headers=analyst)
    ids = {c["consultation_id"] for c in body["items"] + r2.json()["items"]}
    assert len(ids) == 3
    text = r.text + r2.text
    for s in ("U1", "U2", "张三", "13812345678", "头痛", '"C1"'):
        assert s not in text
    assert api.get("/api/v1/deidentified/patients", headers=login("operations")).status_code == 403
    assert api.get("/api/v1/deidentified/patients").status_code == 401
    assert api.get("/api/v1/deidentified/contacts", headers=analyst).status_code == 403
    assert api.get("/api/v1/deidentified/nosuch", headers=analyst).status_code == 404
    for bad in ("Patients", "patients%00", "a" * 41, "pa;tients"):
        assert api.get(f"/api/v1/deidentified/{bad}", headers=analyst).status_code == 422, bad
    for q in ("limit=0", "limit=100000", "offset=-1", "limit=abc"):
        r = api.get(f"/api/v1/deidentified/patients?{q}", headers=analyst)
        assert r.status_code == 422 and "error" in r.json(), q


def test_every_column_has_a_decided_treatment_and_unknown_text_is_dropped(monkeypatch):
    """Each canonical column is exported (transformed or kept) or listed in DROPPED; a text
    column nobody declared safe is dropped, not passed through."""
    import pyarrow as pa

    from careops.privacy import deidentify

    d = Deidentifier(PSEUDONYM.encode(), "shift", 30, (0, 15, 60), dt.date(2025, 1, 1))

    def columns(name: str) -> set[str]:
        schema = TABLES[name].arrow_schema()
        empty = pa.table({f.name: pa.nulls(0, f.type) for f in schema})
        return set(d.table(name, empty).column_names)

    for name, spec in TABLES.items():
        dropped = deidentify.DROPPED.get(name, set())
        assert columns(name) - {"age_band"} == set(spec.names) - dropped, name
    monkeypatch.setattr(
        deidentify, "KEEP_TEXT", deidentify.KEEP_TEXT - {("prescriptions", "drug_name")}
    )
    assert "drug_name" not in columns("prescriptions")

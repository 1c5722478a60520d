"""The simulator's synthetic contacts: never a real person's (12x phones, area-99 ids with a
wrong check digit), still treated as identifiers (detected, sealed, masked), sealed into the
warehouse's contacts table only when a key is set, and nothing else of the simulation changes."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat

import pyarrow.parquet as pq
import pytest

from careops.config import Settings, get_settings
from careops.ingest.pipeline import ingest_paths
from careops.privacy.contacts import ContactsKey, masked
from careops.privacy.identifiers import (
    MOBILE,
    by_content,
    find_identifiers,
    mask_text,
    resident_id_ok,
    synthetic_phone,
    synthetic_resident_id,
)
from careops.schema import TABLES
from careops.sim import SimConfig, simulate, vocab
from careops.sim.contacts import COLUMNS
from careops.sim.writer import table_paths
from tests.privacy.conftest import PSEUDONYM, new_key, use_settings

TINY = {
    "users": 150,
    "days": 40,
    "seed": 3,
    "start": dt.date(2025, 2, 1),
    "truth_horizon_days": 365,
}


def test_every_patient_gets_contacts_that_cannot_be_real(small_out):
    t = pq.read_table(small_out / "patients.parquet")
    assert set(COLUMNS) <= set(t.column_names)
    rows = t.to_pylist()
    for r in rows:
        ident, phone, name = r["contacts.id_number"], r["contacts.phone"], r["contacts.name"]
        assert synthetic_resident_id(ident) and not resident_id_ok(ident), ident
        assert ident[6:14] == f"{r['birth_date']:%Y%m%d}"
        assert int(ident[16]) % 2 == (0 if r["sex"] == "F" else 1)  # parity follows the sex
        assert synthetic_phone(phone) and not re.fullmatch(MOBILE, phone), phone
        assert name[0] in vocab.SURNAMES and set(name[1:]) <= set(vocab.FIRST_NAMES)
        assert 2 <= len(name) <= 3
        assert r["contacts.email"] is None or r["contacts.email"].endswith("@example.com")
        # treated as what they are: identifiers, masked like real ones
        assert masked("id_number", ident) == ident[:4] + "*" * 10 + ident[-4:]
        assert masked("phone", phone) == phone[:3] + "****" + phone[-4:]
        assert ident not in mask_text(f"id {ident}") and phone not in mask_text(f"tel:{phone}")
    mails = sum(r["contacts.email"] is not None for r in rows) / len(rows)
    assert 0.3 < mails < 0.5
    assert len({r["contacts.phone"] for r in rows}) > 0.99 * len(rows)
    assert by_content(t["contacts.id_number"]) == "id_number"
    assert by_content(t["contacts.phone"]) is None  # by header only: 12x codes exist in files
    assert find_identifiers(t, TABLES["patients"].names) == {
        "contacts.name": "name",
        "contacts.phone": "phone",
        "contacts.id_number": "id_number",
        "contacts.email": "email",
    }


def test_nothing_else_of_the_simulation_changes(tmp_path, monkeypatch):
    from careops.sim import contacts

    with_ = simulate(SimConfig(**TINY), tmp_path / "with").out
    monkeypatch.setattr(contacts, "with_contacts", lambda ch, patients: patients)
    without = simulate(SimConfig(**TINY), tmp_path / "without").out
    files = sorted(p.relative_to(with_) for p in with_.rglob("*.parquet"))
    assert files == sorted(p.relative_to(without) for p in without.rglob("*.parquet"))
    for f in files:
        if f.name == "patients.parquet":
            canonical = TABLES["patients"].names
            assert pq.read_table(with_ / f).select(canonical) == pq.read_table(without / f)
        elif f.name == "referral_signups.parquet":  # the sign-up log's phone is contacts.phone
            a, b = pq.read_table(with_ / f), pq.read_table(without / f)
            assert a.drop_columns(["phone"]) == b.drop_columns(["phone"])
            honest = [
                p
                for p, i in zip(b["phone"].to_pylist(), b["invitee_id"].to_pylist(), strict=True)
                if not i.startswith("R")
            ]
            assert honest and set(honest) == {None}  # the planted ring's numbers stay
        else:
            assert (with_ / f).read_bytes() == (without / f).read_bytes(), f
    for f in ("calibration.json", "ground_truth/config.json"):
        assert (with_ / f).read_text() == (without / f).read_text()


@pytest.mark.parametrize(
    "backend", [pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sealed_into_contacts_with_a_key_and_never_exported(
    tmp_path, make_warehouse, monkeypatch, backend
):
    key = new_key()
    use_settings(
        monkeypatch, CAREOPS_PRIVACY__CONTACTS_KEY=key, CAREOPS_PRIVACY__PSEUDONYM_KEY=PSEUDONYM
    )
    out = simulate(SimConfig(**TINY), tmp_path / "sim").out
    con = make_warehouse(backend)
    report = ingest_paths(con, table_paths(out), settings=get_settings())
    assert report.exit_code == 0
    assert report.tables["patients"]["quarantined"] == 0
    plain = {r["user_id"]: r for r in pq.read_table(out / "patients.parquet").to_pylist()}
    sealed = con.table("contacts").to_pyarrow().to_pylist()
    assert len(sealed) == len(plain)
    k = ContactsKey(key)
    for row in sealed:
        p = plain[row["user_id"]]
        assert row["key_id"] == k.key_id
        assert k.open("phone", row["phone"]) == p["contacts.phone"]
        assert k.open("id_number", row["id_number"]) == p["contacts.id_number"]
        assert p["contacts.phone"] not in str(row)
    # de-identified, nothing of theirs leaves: no id, name, phone, id number, birth date
    from careops.privacy.deidentify import Deidentifier

    d = Deidentifier.from_settings(get_settings())
    everything = []
    for name in TABLES:
        everything += [
            str(v)
            for r in d.table(name, con.table(name).to_pyarrow()).to_pylist()
            for v in r.values()
            if v is not None
        ]
    text = "\n".join(everything)
    values = set(everything)
    for uid, p in plain.items():
        assert uid not in values
        for f in ("contacts.phone", "contacts.id_number", "contacts.name"):
            assert p[f] not in text
        assert p["birth_date"].isoformat() not in text


def test_without_a_key_nothing_is_written_and_the_report_says_so(tmp_path, make_warehouse):
    out = simulate(SimConfig(**TINY), tmp_path / "sim").out
    con = make_warehouse("duckdb")
    report = ingest_paths(con, table_paths(out), settings=get_settings())
    assert report.exit_code == 0
    assert con.table("contacts").count().execute() == 0
    assert con.table("ingest_extras").count().execute() == 0
    warnings = " ".join(w for f in report.files for w in f.warnings)
    assert "dropped" in warnings and "contacts.phone" in warnings


def test_the_demo_makes_its_own_keys_readable_by_its_owner_only(tmp_path, monkeypatch):
    from careops.demo import demo_settings
    from careops.privacy.deidentify import Deidentifier

    fresh = get_settings()  # no keys configured
    settings, path = demo_settings(tmp_path, fresh)
    assert path == tmp_path / "careops.yaml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ContactsKey(settings.privacy.contacts_key.get_secret_value())  # a usable, strong key
    Deidentifier.from_settings(settings)
    # a new demo, new keys: nothing is built in
    (tmp_path / "other").mkdir()
    other, _ = demo_settings(tmp_path / "other", fresh)
    for name in ("contacts_key", "pseudonym_key"):
        assert getattr(other.privacy, name) != getattr(settings.privacy, name)
    # the file gives later commands the same keys and the demo warehouse
    use_settings(monkeypatch, CAREOPS_CONFIG=str(path))
    monkeypatch.delenv("CAREOPS_WAREHOUSE")
    again = Settings()
    assert again.privacy.contacts_key == settings.privacy.contacts_key
    assert again.privacy.pseudonym_key == settings.privacy.pseudonym_key
    assert again.warehouse.endswith(str(tmp_path / "warehouse.duckdb"))
    # keys the caller configured are used as they are, and no file is written
    kept, none = demo_settings(tmp_path / "other", again)
    assert none is None and kept is again

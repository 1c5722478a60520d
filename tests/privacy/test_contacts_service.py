"""Contacts as a capability: masked for every role that may see the patient, plain only for a
channel sender with a purpose (audited, never logged); the latest load wins field by field."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from careops.errors import Conflict, Forbidden, InvalidInput, NotFound
from careops.privacy import service
from careops.privacy.contacts import ContactsKey
from careops.service import Actor, Ops
from tests.privacy.conftest import PEOPLE, later, load, new_key, use_settings

SENDER = Actor("sms-gateway", "app", scopes=("patients.contacts",))


def as_(actor: Actor | None = None) -> Ops:
    return Ops.open(actor=actor)


def staff(role: str, *departments: str, name: str | None = None) -> Actor:
    return Actor(name or role, "user", roles=(role,), departments=departments)


def audit_rows(ops: Ops) -> list[dict]:
    with ops.state.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM audit_log"))]


def test_every_role_that_sees_the_patient_gets_masked_values(hospital):
    for actor in (None, staff("operations"), staff("admin")):
        c = service.contact_of(as_(actor), "U1")
        assert (c.name, c.phone, c.id_number) == ("张*", "138****5678", "1101**********002X")
        assert c.masked and c.email is None
    c2 = service.contact_of(as_(staff("operations")), "U2")
    assert c2.name == "欧***" and c2.phone == "139****4321"
    empty = service.contact_of(as_(), "U3")  # a patient without identifiers
    assert (empty.name, empty.phone, empty.id_number) == (None, None, None)


def test_reveal_is_for_channel_senders_with_a_purpose_and_is_audited(hospital, caplog):
    caplog.set_level(logging.DEBUG)
    ops = as_(SENDER)
    c = service.reveal(ops, "U1", "复诊提醒短信")
    assert (c.name, c.phone, c.id_number) == ("张三", "13812345678", "11010519491231002X")
    assert not c.masked
    assert "13812345678" not in repr(c) and "张三" not in str(c)  # reprs never show values
    row = next(r for r in audit_rows(ops) if r["action"] == "contacts.reveal")
    assert row["subject"] == "U1" and row["purpose"] == "复诊提醒短信"
    assert row["actor"] == "app:sms-gateway"
    everything = str(audit_rows(ops)) + caplog.text
    for plain in ("13812345678", "张三", "11010519491231002X", hospital.contacts_key):
        assert plain not in everything


@pytest.mark.parametrize(
    "actor", [None, staff("operations"), staff("admin"), staff("medical", "心血管内科")]
)
def test_nobody_but_a_sender_reads_plain_values(hospital, actor):
    with pytest.raises(Forbidden, match=r"patients\.contacts"):
        service.reveal(as_(actor) if actor else as_(Actor("worker", "system")), "U1", "x")


def test_a_worker_holding_the_scope_may_reveal(hospital):
    """The journey worker reads contacts as an actor holding `patients.contacts` (an app
    scope); a bare system actor or the OS login (trusted as admin) does not hold it."""
    worker = Actor("journeys", "app", scopes=("patients.contacts",))
    assert service.reveal(as_(worker), "U2", "旅程: 复购提醒").phone == "13987654321"


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 201, "提醒\x00", "a\nb"])
def test_reveal_refuses_a_missing_or_malformed_purpose(hospital, purpose):
    with pytest.raises(InvalidInput, match="purpose"):
        service.reveal(as_(SENDER), "U1", purpose)


@pytest.mark.parametrize("user_id", ["", " ", "x" * 129, "U1\x00", "U1'; DROP TABLE contacts;--"])
def test_malformed_or_hostile_ids_are_refused_or_not_found(hospital, user_id):
    with pytest.raises((InvalidInput, NotFound)):
        service.contact_of(as_(), user_id)
    assert service.contact_of(as_(), "U1").phone == "138****5678"  # table intact


def test_object_level_scope(hospital):
    with pytest.raises(NotFound):
        service.contact_of(as_(), "U404")
    with pytest.raises(Forbidden, match=r"patients\.portrait"):
        service.contact_of(as_(staff("analyst")), "U1")
    with pytest.raises(Forbidden, match=r"patients\.portrait"):
        service.contact_of(as_(staff("auditor")), "U1")
    # doctors: patients seen in their department only; an unknown id looks the same
    cardio, paeds = staff("medical", "心血管内科"), staff("medical", "儿科")
    assert service.contact_of(as_(cardio), "U1").phone == "138****5678"
    for uid in ("U1", "U404"):
        with pytest.raises(Forbidden, match="scope"):
            service.contact_of(as_(paeds), uid)
    # health managers: the patients assigned to them
    hm = staff("health_manager", name="hm1")
    with pytest.raises(Forbidden, match="scope"):
        service.contact_of(as_(hm), "U2")
    from careops.service import now
    from careops.state.models import care_assignments

    with as_().state.begin() as conn:
        conn.execute(
            care_assignments.insert().values(
                username="hm1", user_id="U2", assigned_at=now(), assigned_by="os:test"
            )
        )
    assert service.contact_of(as_(hm), "U2").name == "欧***"


def test_the_latest_load_wins_field_by_field(hospital):
    load(hospital.url, [later(hospital.folder / "later", U1="13700001111")])
    plain = service.reveal(as_(SENDER), "U1", "核对")
    assert plain.phone == "13700001111"  # the later load's phone
    assert plain.name == "张三" and plain.id_number == PEOPLE["U1"]["id_number"]  # kept
    assert service.contact_of(as_(), "U1").phone == "137****1111"


def test_rows_under_another_key_are_refused_by_name(hospital, monkeypatch):
    old = ContactsKey(hospital.contacts_key)
    other = new_key()
    use_settings(monkeypatch, CAREOPS_PRIVACY__CONTACTS_KEY=other)
    with pytest.raises(Conflict, match=old.key_id):
        service.contact_of(as_(), "U1")
    # a load made under the other key leaves the table mixed: still refused, never guessed
    load(hospital.url, [later(hospital.folder / "later", U1="13700001111")])
    with pytest.raises(Conflict, match="rotate-key"):
        service.reveal(as_(SENDER), "U1", "核对")


def test_no_key_configured_but_sealed_rows_is_a_clear_error(hospital, monkeypatch):
    monkeypatch.delenv("CAREOPS_PRIVACY__CONTACTS_KEY")
    use_settings(monkeypatch)
    with pytest.raises(Conflict, match="contacts_key"):
        service.contact_of(as_(), "U1")

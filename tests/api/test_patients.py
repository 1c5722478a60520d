"""Patients through the API: object-level checks (department, assignment), identical answers
for unknown and out-of-scope ids, masked contacts, audit of every read, hostile input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careops.state.models import audit_log
from tests.api.world import AS_OF, PHONE, World, add_staff, close_world, login, make_world

V1 = "/api/v1/patients"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("patients-api"))
    yield w
    close_world(w)


def get(world: World, who: str, path: str, **params):
    return world.client.get(V1 + path, headers=world.headers[who], params=params or None)


def error(r) -> dict:
    body = r.json()["error"]
    return {k: body[k] for k in ("code", "message", "detail")}


def test_a_doctor_reads_records_of_patients_seen_in_their_own_department(world):
    r = get(world, "medical", "/p1/records/observations")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and [i["value"] for i in body["items"]] == [132.0, 150.0]
    assert get(world, "medical", "/p3/records/encounters").status_code == 200  # an encounter
    r = get(world, "medical", "/p2/records/observations")  # 儿科's patient
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_a_doctor_of_another_department_gets_403(world):
    name = add_staff(world.ops, "medical", ("儿科",), name="paediatrician")
    headers = login(world.client, name)
    r = world.client.get(V1 + "/p1/records/observations", headers=headers)
    assert r.status_code == 403
    assert world.client.get(V1 + "/p2/records/observations", headers=headers).status_code == 200


def test_a_health_manager_sees_assigned_patients_only(world):
    assert get(world, "health_manager", "/p1/records/prescriptions").status_code == 200
    assert get(world, "health_manager", "/p1").status_code == 200
    assert get(world, "health_manager", "/p2/records/observations").status_code == 403
    assert get(world, "health_manager", "/p2").status_code == 403


@pytest.mark.parametrize("who", ["medical", "health_manager"])
@pytest.mark.parametrize("tail", ["", "/records/observations"])
def test_unknown_and_out_of_scope_ids_answer_alike(world, who, tail):
    out_of_scope = get(world, who, "/p2" + tail)
    unknown = get(world, who, "/nobody-here" + tail)
    assert out_of_scope.status_code == unknown.status_code == 403
    assert error(out_of_scope) == error(unknown)
    assert "p2" not in out_of_scope.text and "nobody" not in unknown.text


def test_operations_see_the_masked_portrait_and_no_clinical_record(world):
    r = get(world, "operations", "/p1", as_of=AS_OF.isoformat())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["contacts"]["phone"] == "138****5678" and body["contacts"]["name"] == "张**"
    assert PHONE not in r.text and "张三丰" not in r.text
    assert {layer["dimension"] for layer in body["layers"]} == {
        "lifecycle",
        "health_need",
        "value",
        "data_richness",
    }
    assert body["tags"]["sex"] == "M" and "user_id" not in body["tags"]
    for kind in ("consultations", "observations", "conditions", "prescriptions", "encounters"):
        r = get(world, "operations", f"/p1/records/{kind}")
        assert r.status_code == 403, kind
    assert get(world, "operations", "/nobody-here").status_code == 404  # may see everyone


def test_labels_follow_accept_language(world):
    zh = get(world, "operations", "/p1", as_of=AS_OF.isoformat()).json()
    headers = world.headers["operations"] | {"Accept-Language": "en"}
    en = world.client.get(V1 + "/p1", headers=headers, params={"as_of": AS_OF.isoformat()}).json()
    assert zh["layers"][0]["dimension_label"] == "生命周期"
    assert en["layers"][0]["dimension_label"] == "Lifecycle"
    assert zh["layers"][0]["code"] == en["layers"][0]["code"]


def test_analysts_and_auditors_reach_no_patient(world):
    for who in ("analyst", "auditor"):
        assert get(world, who, "/p1").status_code == 403
        assert get(world, who, "/p1/records/observations").status_code == 403


def test_records_are_newest_first_paginated_and_filtered(world):
    r = get(world, "medical", "/p1/records/consultations", limit=1)
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    newest = body["items"][0]["started_at"]
    r = get(world, "medical", "/p1/records/consultations", limit=1, offset=1)
    assert r.json()["items"][0]["started_at"] < newest
    r = get(world, "medical", "/p1/records/observations", since="2026-02-20", until="2026-02-28")
    assert [i["value"] for i in r.json()["items"]] == [132.0]
    r = get(world, "medical", "/p1/records/observations", since="2026-02-20", until="2026-02-01")
    assert r.status_code == 422 and "until" in r.json()["error"]["detail"]


def test_every_read_and_every_refusal_is_audited_with_the_patient(world):
    get(world, "medical", "/p1/records/conditions")
    get(world, "medical", "/p2/records/conditions")
    with world.ops.state.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(2)).all()
    denied, read = rows
    assert read.action == "patient.records" and read.subject == "p1" and read.role == "medical"
    assert read.actor == "user:medical" and read.detail["kind"] == "conditions"
    assert read.detail["rows"] == 1 and read.detail["scope"] == "department" and read.request_id
    assert denied.action == "patient.denied" and denied.subject == "p2"
    r = get(world, "operations", "/p1", as_of=AS_OF.isoformat())
    with world.ops.state.connect() as conn:
        last = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()
    assert last.action == "patient.read" and last.subject == "p1"
    assert PHONE not in str(last.detail) and r.headers["x-request-id"] == last.request_id


HOSTILE = [
    "p1' OR '1'='1",
    'p1"; DROP TABLE patients; --',
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "p1%00",
    "<script>alert(1)</script>",
    "x" * 10_000,
    "%E2%80%AE",
]


@pytest.mark.parametrize("user_id", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("who", ["operations", "medical"])
def test_hostile_user_ids_get_4xx_never_500(world, who, user_id):
    for tail in ("", "/records/observations"):
        r = world.client.get(f"{V1}/{user_id}{tail}", headers=world.headers[who])
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
        assert r.json()["error"]["code"] in {"not_found", "forbidden", "invalid_input"}


@pytest.mark.parametrize(
    "params",
    [
        {"as_of": "2026-03-01' OR 1=1 --"},
        {"as_of": "../../etc"},
        {"as_of": "2026-03-01\x00"},
        {"as_of": "9999-12-31"},
        {"as_of": "x" * 10_000},
    ],
)
def test_hostile_as_of_gets_422(world, params):
    r = get(world, "operations", "/p1", **params)
    assert r.status_code == 422, r.text[:300]


@pytest.mark.parametrize("kind", ["observations'--", "../consultations", "contacts", "x" * 10_000])
def test_unknown_record_kinds_get_422(world, kind):
    r = get(world, "medical", f"/p1/records/{kind}")
    assert r.status_code in (404, 422), r.text[:300]
    assert r.status_code != 500


@pytest.mark.parametrize(
    "params",
    [{"since": "0001-01-01"}, {"until": "9999-12-31"}, {"since": "1899-12-31"}],
)
def test_record_days_without_a_utc_instant_are_422(world, params):
    """0001-01-01 00:00 in Shanghai is before year 1 in UTC: was an OverflowError (500)."""
    r = get(world, "medical", "/p1/records/observations", **params)
    assert r.status_code == 422 and "out of range" in r.json()["error"]["detail"]

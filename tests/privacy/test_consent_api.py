"""`POST|GET /api/v1/patients/{user_id}/consents`: validated, permissioned, audited."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from careops.state.audit_trail import AuditFilter, list_audit
from careops.warehouse import create_tables
from tests.api.conftest import admin_ops, api, login  # noqa: F401  (fixtures)
from tests.conftest import fill

URL = "/api/v1/patients/{}/consents"


@pytest.fixture
def patients(admin_ops):  # noqa: F811
    with admin_ops.warehouse() as con:
        create_tables(con)
        t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
        fill(con, {"patients": pa.table({"user_id": ["p1", "p-2"], "registered_at": [t0, t0]})})


def test_operations_withdraw_and_read_back(api, login, patients):  # noqa: F811
    headers = login("operations")
    body = {"channel": "sms", "purpose": "marketing", "granted": False}
    r = api.post(URL.format("p1"), json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True and r.json()["state"]["granted"] is False
    assert r.json()["state"]["source"].startswith("api:user:")
    again = api.post(URL.format("p1"), json=body, headers=headers)
    assert again.status_code == 200 and again.json()["changed"] is False
    r = api.get(URL.format("p1"), headers=headers)
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert (item["channel"], item["purpose"], item["granted"]) == ("sms", "marketing", False)
    assert api.get(URL.format("p-2"), headers=headers).json()["items"] == []


def test_the_request_origin_and_patient_land_in_the_audit(api, login, patients, admin_ops):  # noqa: F811
    headers = login("operations") | {"X-Purpose": "unsubscribe-request", "X-Request-ID": "c-1"}
    body = {"channel": "all", "purpose": "marketing", "granted": False}
    assert api.post(URL.format("p1"), json=body, headers=headers).status_code == 200
    [row] = list_audit(admin_ops.state, AuditFilter(action="consent.record"))[0]
    assert (row.subject, row.request_id, row.purpose, row.role) == (
        "p1",
        "c-1",
        "unsubscribe-request",
        "operations",
    )
    assert row.source_ip == "testclient"


def test_an_unknown_patient_is_404(api, login, patients):  # noqa: F811
    headers = login("operations")
    body = {"channel": "sms", "purpose": "marketing", "granted": False}
    r = api.post(URL.format("nobody"), json=body, headers=headers)
    assert (
        r.status_code == 404
        and "nobody" in r.json()["error"]["detail"] + r.json()["error"]["message"]
    )
    assert api.get(URL.format("nobody"), headers=headers).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": "fax", "purpose": "marketing", "granted": False}, "channel"),
        ({"channel": "sms", "purpose": "sales", "granted": False}, "purpose"),
        ({"channel": "sms", "purpose": "marketing"}, "granted"),
        ({"channel": "sms", "purpose": "marketing", "granted": "maybe"}, "granted"),
        ({"channel": "sms", "purpose": "marketing", "granted": True, "source": "x"}, "source"),
        ({"channel": "sms", "purpose": "marketing", "granted": True, "ts": "2020-01-01"}, "ts"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(api, login, patients, body, field):  # noqa: F811
    r = api.post(URL.format("p1"), json=body, headers=login("operations"))
    assert r.status_code == 422, r.text
    assert field in str(r.json()["error"])


@pytest.mark.parametrize("user_id", ["%20p1", "p1%0A", "x" * 129, "%00"])
def test_hostile_ids_are_refused(api, login, patients, user_id):  # noqa: F811
    r = api.get(URL.format(user_id), headers=login("operations"))
    assert r.status_code in (404, 422), r.text


def test_an_injection_attempt_is_just_an_unknown_patient(api, login, patients):  # noqa: F811
    r = api.get(URL.format("p1' OR '1'='1"), headers=login("operations"))
    assert r.status_code == 404


@pytest.mark.parametrize("role", ["medical", "health_manager", "analyst", "auditor"])
def test_roles_without_consents_write_get_403(api, login, patients, role):  # noqa: F811
    headers = login(role, ("儿科",) if role == "medical" else ())
    body = {"channel": "sms", "purpose": "marketing", "granted": False}
    assert api.post(URL.format("p1"), json=body, headers=headers).status_code == 403
    assert api.get(URL.format("p1"), headers=headers).status_code == 403


def test_without_a_token_it_is_401(api, patients):  # noqa: F811
    body = {"channel": "sms", "purpose": "marketing", "granted": False}
    assert api.post(URL.format("p1"), json=body).status_code == 401

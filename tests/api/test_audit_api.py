"""`GET /api/v1/audit` and `/audit/verify`: auditors and admins only; the request's origin
(request id, client address, declared purpose, role) lands in the audit row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careops.state.audit_trail import AuditFilter, list_audit
from careops.state.models import audit_log


def test_an_auditor_lists_entries_newest_first_with_filters(api, login, admin_ops):
    admin_ops.audit("patient.read", "patient:p1", {"fields": ["tags"]}, subject="p1")
    admin_ops.audit("patient.read", "patient:p2", subject="p2")
    headers = login("auditor")
    r = api.get("/api/v1/audit", params={"action": "patient.read", "limit": 1}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and body["limit"] == 1 and len(body["items"]) == 1
    assert body["items"][0]["subject"] == "p2" and len(body["items"][0]["hash"]) == 64
    r = api.get("/api/v1/audit", params={"subject": "p1"}, headers=headers)
    [entry] = r.json()["items"]
    assert entry["detail"] == {"fields": ["tags"]} and entry["actor"].startswith("os:")
    r = api.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=headers)
    assert r.json()["total"] == 0


def test_the_request_origin_lands_in_the_audit_row(api, login, admin_ops):
    headers = login("auditor") | {"X-Purpose": "annual compliance review", "X-Request-ID": "rq-42"}
    r = api.get("/api/v1/audit", headers=headers)
    assert r.status_code == 200 and r.headers["x-request-id"] == "rq-42"
    [row] = list_audit(admin_ops.state, AuditFilter(action="audit.list"))[0]
    assert row.request_id == "rq-42"
    assert row.purpose == "annual compliance review"
    assert row.source_ip == "testclient"  # the client address Starlette's test client reports
    assert row.role == "auditor" and row.actor.startswith("user:")


@pytest.mark.parametrize("role", ["operations", "medical", "health_manager", "analyst"])
def test_other_roles_may_not_read_the_audit(api, login, role):
    headers = login(role, ("心血管内科",) if role == "medical" else ())
    for path in ("/api/v1/audit", "/api/v1/audit/verify"):
        r = api.get(path, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"], r.text


def test_without_a_token_the_audit_is_closed(api):
    assert api.get("/api/v1/audit").status_code == 401
    assert api.get("/api/v1/audit/verify").status_code == 401


def test_admins_may_read_and_verify(api, login):
    headers = login("admin")
    assert api.get("/api/v1/audit", headers=headers).status_code == 200
    assert api.get("/api/v1/audit/verify", headers=headers).json()["ok"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 100_000},
        {"offset": -1},
        {"since": "yesterday"},
        {"actor": "x" * 129},
        {"actor": ""},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_filters_are_422_naming_the_field(api, login, params):
    r = api.get("/api/v1/audit", params=params, headers=login("auditor"))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    text = f"{error['message']} {error['detail']}"
    assert any(name in text for name in params), text


def test_hostile_filter_values_match_nothing_and_break_nothing(api, login, admin_ops):
    admin_ops.audit("patient.read", subject="p1")
    headers = login("auditor")
    for value in ("' OR 1=1 --", "<script>alert(1)</script>", "p1\x00", "%", "p_"):
        r = api.get("/api/v1/audit", params={"subject": value}, headers=headers)
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            assert r.json()["total"] == 0


def test_verify_names_the_tampered_row(api, login, admin_ops):
    for i in range(3):
        admin_ops.audit("patient.read", subject=f"p{i}")
    headers = login("auditor")
    first = api.get("/api/v1/audit/verify", headers=headers).json()
    assert first["ok"] is True and first["broken_id"] is None and len(first["head_hash"]) == 64
    engine = admin_ops.state
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.execute(audit_log.update().where(audit_log.c.id == 2).values(subject="someone"))
    r = api.get("/api/v1/audit/verify", headers=headers).json()
    assert r["ok"] is False and r["broken_id"] == 2 and "edited" in r["reason"]
    bad = api.get("/api/v1/audit/verify", params={"expect_head": "zz"}, headers=headers)
    assert bad.status_code == 422
    with engine.connect() as conn:
        actions = conn.execute(sa.select(audit_log.c.action)).scalars().all()
    assert actions.count("audit.verify") == 2  # each verification is itself recorded


def test_the_read_helper_records_fields_route_and_origin(api, admin_ops):
    """What other routes call after showing a patient's data (here with an API request's
    origin, as `deps` builds it)."""
    from careops.service import Actor, Ops, Request
    from careops.state.audit_trail import audit_read

    ops = Ops.open(
        actor=Actor("13", kind="user", roles=("medical",), departments=("儿科",)),
        request=Request(request_id="r-9", source_ip="10.1.2.3", purpose="treatment"),
    )
    audit_read(ops, "p7", ["observations", "conditions", "observations"], route="/api/v1/x")
    [row] = list_audit(admin_ops.state, AuditFilter(subject="p7"))[0]
    assert row.action == "patient.read" and row.target == "patient:p7"
    assert row.detail == {"fields": ["conditions", "observations"], "route": "/api/v1/x"}
    assert (row.actor, row.role, row.request_id, row.source_ip, row.purpose) == (
        "user:13",
        "medical",
        "r-9",
        "10.1.2.3",
        "treatment",
    )
    ops.close()

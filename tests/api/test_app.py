"""The service's frame: health, the one error shape, request ids, size limits, login."""

from __future__ import annotations

from careops.identity import accounts
from tests.api.conftest import PASSWORD


def test_health_and_readiness(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    r = api.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_errors_share_one_shape_in_the_callers_language(api):
    r = api.get("/api/v1/no-such-route")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "not_found" and err["message"] == "未找到"
    assert err["request_id"] == r.headers["x-request-id"]
    r = api.get("/api/v1/no-such-route", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert r.json()["error"]["message"] == "Not found."


def test_a_sane_request_id_is_kept_and_a_hostile_one_replaced(api):
    assert api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == (
        "abc-123"
    )
    rid = api.get("/healthz", headers={"X-Request-ID": "<script>\x01"}).headers["x-request-id"]
    assert rid != "<script>\x01" and rid.isalnum()


def test_a_body_over_the_limit_is_refused_with_413(api):
    r = api.post(
        "/api/v1/auth/token",
        content=b"{" + b" " * 3_000_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_login_gives_a_bearer_token_and_wrong_passwords_lock_the_account(api, admin_ops):
    accounts.add_user(admin_ops, "alice", "operations", PASSWORD)
    r = api.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD})
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 900
    for _ in range(5):
        r = api.post("/api/v1/auth/token", json={"username": "alice", "password": "wrong-one!!"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = api.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 401 and "锁定" in r.json()["error"]["detail"]  # the general hint


def test_unknown_user_and_wrong_password_answer_alike(api, admin_ops):
    accounts.add_user(admin_ops, "bob", "analyst", PASSWORD)
    a = api.post("/api/v1/auth/token", json={"username": "nobody", "password": "x" * 12})
    b = api.post("/api/v1/auth/token", json={"username": "bob", "password": "x" * 12})
    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["detail"] == b.json()["error"]["detail"]


def test_extra_fields_in_a_login_are_refused(api):
    r = api.post("/api/v1/auth/token", json={"username": "a", "password": "b", "role": "admin"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_a_chinese_purpose_header_reaches_the_audit_as_written(api, login):
    import sqlalchemy as sa

    from careops.state.models import audit_log

    headers = login("admin") | {"X-Purpose": "复诊提醒\x07".encode()}
    assert api.get("/api/v1/auth/me", headers=headers).status_code == 200
    api.post("/api/v1/auth/logout", headers=headers)
    engine = api.app.state.state_engine
    with engine.connect() as conn:
        purposes = {r[0] for r in conn.execute(sa.select(audit_log.c.purpose))}
    assert "复诊提醒" in purposes


def test_the_docs_page_needs_no_internet(api):
    """/docs loads Swagger UI from files installed with CareOps, never from a CDN."""
    import re

    page = api.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert urls and all(u.startswith("/docs-static/") for u in urls), urls
    assert "/openapi.json" in page.text
    for u in urls:
        asset = api.get(u)
        assert asset.status_code == 200 and len(asset.content) > 1000, u
    assert api.get("/docs-static/../app.py").status_code == 404

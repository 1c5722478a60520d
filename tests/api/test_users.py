"""Account and key administration over HTTP: admins only, no mass assignment, bounded input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careops.state.models import api_keys, users
from tests.api.conftest import PASSWORD

NEW = {"username": "dora", "password": PASSWORD, "role": "operations", "departments": []}


def test_an_admin_creates_lists_reads_and_changes_accounts(api, login):
    admin = login("admin")
    r = api.post("/api/v1/users", json={**NEW, "display_name": "朵拉"}, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["username"] == "dora" and body["display_name"] == "朵拉"
    assert "password" not in r.text and "argon2" not in r.text and "failed_logins" not in body
    assert api.post("/api/v1/users", json=NEW, headers=admin).status_code == 409
    page = api.get("/api/v1/users?limit=1&offset=0", headers=admin).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1
    assert [
        u["username"]
        for u in api.get("/api/v1/users?role=operations", headers=admin).json()["items"]
    ] == ["dora"]
    assert api.get("/api/v1/users/dora", headers=admin).json()["role"] == "operations"
    assert api.get("/api/v1/users/nobody", headers=admin).status_code == 404
    r = api.patch("/api/v1/users/dora", json={"disabled": True}, headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    r = api.patch("/api/v1/users/dora", json={"disabled": False, "role": "medical"}, headers=admin)
    assert r.status_code == 422 and "科室" in r.json()["error"]["detail"]
    r = api.patch(
        "/api/v1/users/dora", json={"role": "medical", "departments": ["儿科"]}, headers=admin
    )
    assert r.status_code == 200 and r.json()["departments"] == ["儿科"]


@pytest.mark.parametrize("role", ["operations", "medical", "health_manager", "analyst", "auditor"])
def test_only_admins_manage_accounts_and_keys(api, login, role):
    headers = login(role, ("儿科",) if role == "medical" else ())
    for method, url, body in [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {**NEW, "role": "admin"}),
        ("GET", "/api/v1/users/uadmin-all", None),
        ("PATCH", "/api/v1/users/dora", {"role": "admin"}),
        ("PUT", "/api/v1/users/dora/password", {"password": PASSWORD}),
        ("GET", "/api/v1/api-keys", None),
        ("POST", "/api/v1/api-keys", {"name": "x1", "scopes": ["events.write"]}),
        ("DELETE", "/api/v1/api-keys/x1", None),
    ]:
        r = api.request(method, url, json=body, headers=headers)
        assert r.status_code == 403, (method, url, r.text)
    assert api.get("/api/v1/users", headers={}).status_code == 401


@pytest.mark.parametrize(
    "extra",
    [
        {"failed_logins": -100},
        {"locked_until": None},
        {"password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"},
        {"disabled": False, "created_by": "user:someone-else"},
        {"id": 1},
        {"is_admin": True},
    ],
)
def test_mass_assignment_is_refused(api, login, extra):
    admin = login("admin")
    r = api.post("/api/v1/users", json={**NEW, **extra}, headers=admin)
    assert r.status_code == 422, r.text
    assert any(d["loc"][-1] in extra for d in r.json()["error"]["detail"])
    with api.app.state.state_engine.connect() as conn:
        assert conn.execute(sa.select(users).where(users.c.username == "dora")).first() is None
    api.post("/api/v1/users", json=NEW, headers=admin)
    r = api.patch("/api/v1/users/dora", json=extra, headers=admin)
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "Dora"),
        ("username", "dora\n"),
        ("username", "d" * 65),
        ("username", "x'; DROP TABLE users;--"),
        ("role", "superuser"),
        ("role", "ADMIN"),
        ("departments", ["<script>alert(1)</script>"]),
        ("departments", ["儿科\x00"]),
        ("departments", ["科" * 65]),
        ("departments", ["儿科"] * 51),
        ("display_name", "\u202eevil"),
        ("display_name", "x" * 129),
        ("password", "short"),
        ("password", "aaaaaaaaaaaaaaaa"),
        ("password", "dora-is-my-password"),
        ("password", "x" * 257),
        ("password", 12345678901),
    ],
)
def test_bad_fields_are_named_and_nothing_is_created(api, login, field, value):
    r = api.post("/api/v1/users", json={**NEW, field: value}, headers=login("admin"))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and err["detail"]
    with api.app.state.state_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 1


def test_an_admin_cannot_disable_or_demote_themself(api, login):
    admin = login("admin")
    r = api.patch("/api/v1/users/uadmin-all", json={"disabled": True}, headers=admin)
    assert r.status_code == 409
    r = api.patch("/api/v1/users/uadmin-all", json={"role": "operations"}, headers=admin)
    assert r.status_code == 409
    assert api.get("/api/v1/auth/me", headers=admin).json()["role"] == "admin"


def test_an_admin_resets_a_password(api, login):
    admin = login("admin")
    api.post("/api/v1/users", json=NEW, headers=admin)
    r = api.put(
        "/api/v1/users/dora/password", json={"password": "fresh passphrase 9"}, headers=admin
    )
    assert r.status_code == 204
    r = api.post("/api/v1/auth/token", json={"username": "dora", "password": "fresh passphrase 9"})
    assert r.status_code == 200


def test_care_assignments_over_http(api, login):
    admin = login("admin")
    api.post(
        "/api/v1/users", json={**NEW, "username": "hm", "role": "health_manager"}, headers=admin
    )
    r = api.post("/api/v1/users/hm/patients", json={"user_ids": ["p1", "p2", "p1"]}, headers=admin)
    assert r.status_code == 200 and r.json() == {"changed": ["p1", "p2"], "unchanged": []}
    r = api.get("/api/v1/users/hm/patients", headers=admin)
    assert [p["user_id"] for p in r.json()] == ["p1", "p2"]
    assert api.delete("/api/v1/users/hm/patients/p1", headers=admin).json()["changed"] == ["p1"]
    r = api.post("/api/v1/users/uadmin-all/patients", json={"user_ids": ["p1"]}, headers=admin)
    assert r.status_code == 422 and "health_manager" in r.json()["error"]["detail"]
    r = api.post("/api/v1/users/hm/patients", json={"user_ids": ["p1<script>"]}, headers=admin)
    assert r.status_code == 422


def test_api_keys_over_http_show_the_secret_once(api, login):
    admin = login("admin")
    body = {"name": "his", "scopes": ["events.write", "patients.portrait"], "departments": ["儿科"]}
    r = api.post("/api/v1/api-keys", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith(f"cok_{created['key_id']}_")
    listed = api.get("/api/v1/api-keys", headers=admin)
    assert listed.json()["total"] == 1 and secret.split("_", 2)[2] not in listed.text
    assert "secret" not in listed.json()["items"][0]
    with api.app.state.state_engine.connect() as conn:
        stored = conn.execute(sa.select(api_keys)).first()
    assert secret.split("_", 2)[2] not in str(tuple(stored)) and len(stored.secret_hash) == 64
    assert (
        api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )
    r = api.delete("/api/v1/api-keys/his", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert api.delete("/api/v1/api-keys/his", headers=admin).status_code == 409
    assert api.delete("/api/v1/api-keys/nope", headers=admin).status_code == 404
    assert (
        api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )
    assert api.post("/api/v1/api-keys", json=body, headers=admin).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"name": "app1", "scopes": ["users.manage"]},
        {"name": "app1", "scopes": ["patients.clinical"]},
        {"name": "app1", "scopes": []},
        {"name": "app1", "scopes": ["events.write"], "secret_hash": "0" * 64},
        {"name": "app1", "scopes": ["events.write"], "key_id": "0123456789abcdef"},
        {"name": "App 1", "scopes": ["events.write"]},
        {"name": "app1", "scopes": ["events.write"], "departments": ["<b>"]},
    ],
)
def test_bad_api_key_requests_are_refused(api, login, body):
    r = api.post("/api/v1/api-keys", json=body, headers=login("admin"))
    assert r.status_code == 422, r.text
    with api.app.state.state_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar() == 0

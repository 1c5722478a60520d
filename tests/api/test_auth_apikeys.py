"""API keys at the door: the key authenticates an app with its scopes only; a revoked, unknown
or wrong key answers 401; beyond its scopes 403."""

from __future__ import annotations

import pytest

from careops.identity import apikeys

ME = "/api/v1/auth/me"


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def key(admin_ops) -> str:
    return apikeys.create_key(
        admin_ops, "wechat-mini", ["events.write", "consents.write"], ["儿科"]
    ).secret


def test_an_api_key_is_an_app_with_its_scopes(api, key):
    r = api.get(ME, headers=_bearer(key))
    assert r.status_code == 200
    body = r.json()
    assert body == {
        "name": "wechat-mini",
        "kind": "app",
        "role": None,
        "display_name": "",
        "departments": ["儿科"],
        "permissions": ["consents.write", "events.write"],
    }


def test_beyond_its_scopes_an_api_key_gets_403(api, key):
    r = api.get("/api/v1/users", headers=_bearer(key))
    assert r.status_code == 403 and "users.manage" in r.json()["error"]["detail"]
    assert api.get("/api/v1/api-keys", headers=_bearer(key)).status_code == 403


def test_a_revoked_key_answers_401(api, key, admin_ops):
    assert api.get(ME, headers=_bearer(key)).status_code == 200
    apikeys.revoke_key(admin_ops, "wechat-mini")
    r = api.get(ME, headers=_bearer(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_a_wrong_secret_or_an_unknown_key_id_answers_401(api, key):
    prefix, key_id, secret = key[:4], key[4:20], key[21:]
    flipped = ("B" if secret[0] != "B" else "C") + secret[1:]
    for bad in (
        f"{prefix}{key_id}_{flipped}",
        f"{prefix}{'0' * 16}_{secret}",
        f"{prefix}{key_id}_{secret}x",
        f"{prefix}{key_id.upper()}_{secret}",
        key[:-1],
    ):
        r = api.get(ME, headers=_bearer(bad))
        assert r.status_code == 401, bad
    assert api.get(ME, headers=_bearer(key)).status_code == 200


def test_last_used_at_is_written_once_a_minute_at_most(api, key, admin_ops):
    assert apikeys.get_key(admin_ops, "wechat-mini").last_used_at is None
    api.get(ME, headers=_bearer(key))
    first = apikeys.get_key(admin_ops, "wechat-mini").last_used_at
    assert first is not None
    api.get(ME, headers=_bearer(key))
    assert apikeys.get_key(admin_ops, "wechat-mini").last_used_at == first

"""The identities on a PostgreSQL state store (production's): login, tokens, API keys over HTTP,
and concurrent failed logins counted under the row lock."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.config import get_settings
from careops.errors import Unauthorized
from careops.identity import accounts, apikeys, sessions
from careops.service import Ops
from careops.state.models import users
from careops.state.store import read_audit
from tests.identity.conftest import PASSWORD
from tests.identity.test_accounts import _fail_concurrently

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ops(pg_database):
    url = pg_database()
    ops = Ops.open(state=url)
    assert ops.state.dialect.name == "postgresql"
    yield ops
    ops.close()


def test_login_logout_and_api_keys_over_http_on_postgres(pg_ops):
    accounts.add_user(pg_ops, "alice", "admin", PASSWORD)
    app = create_app(get_settings(), state=pg_ops.state_url)
    with TestClient(app, raise_server_exceptions=False) as api:
        assert api.app.state.state_engine.dialect.name == "postgresql"
        r = api.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = api.post(
            "/api/v1/api-keys", json={"name": "his", "scopes": ["events.write"]}, headers=headers
        )
        assert r.status_code == 201, r.text
        key = {"Authorization": f"Bearer {r.json()['secret']}"}
        assert api.get("/api/v1/auth/me", headers=key).json()["name"] == "his"
        assert api.get("/api/v1/users", headers=key).status_code == 403
        assert apikeys.get_key(pg_ops, "his").last_used_at is not None
        assert api.delete("/api/v1/api-keys/his", headers=headers).status_code == 200
        assert api.get("/api/v1/auth/me", headers=key).status_code == 401
        assert api.post("/api/v1/auth/logout", headers=headers).status_code == 204
        assert api.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_disable_ends_tokens_on_postgres(pg_ops):
    accounts.add_user(pg_ops, "bob", "analyst", PASSWORD)
    token = accounts.login(pg_ops, "bob", PASSWORD).access_token
    accounts.login(pg_ops, "bob", PASSWORD)
    accounts.update_user(pg_ops, "bob", disabled=True)
    assert read_audit(pg_ops.state)[0]["detail"]["sessions_ended"] == 2
    accounts.update_user(pg_ops, "bob", disabled=False)
    with pytest.raises(Unauthorized):
        sessions.actor_for_token(pg_ops, token)


def test_concurrent_failed_logins_each_count_on_postgres(pg_ops):
    pg_ops.settings.api.max_failed_logins = 100
    accounts.add_user(pg_ops, "alice", "analyst", PASSWORD)
    assert _fail_concurrently(pg_ops, "alice", 8) == ["Unauthorized"] * 8
    with pg_ops.state.connect() as conn:
        count = conn.execute(sa.select(users.c.failed_logins)).scalar_one()
    assert count == 8


def test_concurrent_failures_trip_the_lock_once_on_postgres(pg_ops):
    pg_ops.settings.api.max_failed_logins = 3
    accounts.add_user(pg_ops, "alice", "analyst", PASSWORD)
    assert _fail_concurrently(pg_ops, "alice", 7) == ["Unauthorized"] * 7
    a = accounts.get_user(pg_ops, "alice")
    assert a.locked_until is not None
    with pg_ops.state.connect() as conn:
        assert conn.execute(sa.select(users.c.failed_logins)).scalar_one() == 0
    with pytest.raises(Unauthorized, match="locked"):
        accounts.login(pg_ops, "alice", PASSWORD)

"""An API client over a fresh warehouse and state store, and staff of every role to call it as.

`api` is a `TestClient` of `create_app`; `login(role, departments)` creates an account of that
role (once per test) and returns the headers carrying its bearer token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.config import get_settings
from careops.identity import accounts
from careops.service import Ops

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_ops() -> Ops:
    """The CLI's view (the OS account, trusted as the machine's administrator)."""
    ops = Ops.open()
    yield ops
    ops.close()


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def login(api: TestClient, admin_ops: Ops) -> Callable[..., dict[str, str]]:
    """Headers of a logged-in member of staff with `role` (and `departments`)."""

    def make(role: str, departments: tuple[str, ...] = (), username: str | None = None) -> dict:
        name = username or f"{role.replace('_', '-')}-{'-'.join(departments) or 'all'}".lower()
        name = "u" + "".join(c if c.isascii() and c.isalnum() else "-" for c in name)[:60]
        try:
            accounts.get_user(admin_ops, name)
        except Exception:
            accounts.add_user(admin_ops, name, role, PASSWORD, departments)
        r = api.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return make

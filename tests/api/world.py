"""A small hospital behind a running API: patients in two departments, a health manager's
assignment, sealed contacts, a saved segment, an experiment with exposures, and one logged-in
account per role.

- p1: consulted 心血管内科, blood-pressure readings, hypertension, a prescription, contacts;
  assigned to the health manager `hm`.
- p2: consulted 儿科 (a child), one reading.
- p3: an encounter (no consultation) in 心血管内科.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.config import Settings
from careops.identity import accounts
from careops.identity.roles import ROLES
from careops.service import Actor, Ops
from careops.warehouse import connect, create_tables
from tests.tags.hospital import Hospital

AS_OF = date(2026, 3, 1)
PASSWORD = "correct horse battery staple"
PHONE = "13812345678"
DEPARTMENTS = {"medical": ("心血管内科",)}


@dataclass
class World:
    """The client, the service's own settings and URLs, and headers per actor."""

    client: TestClient
    ops: Ops  # an administrator's view of the same warehouse and state store
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)  # role -> its account


def contacts_key() -> str:
    """A random AES-256 key for the contacts table (base64)."""
    return base64.b64encode(os.urandom(32)).decode()


def hospital() -> Hospital:
    h = Hospital(AS_OF)
    h.patient("p1", 400, birth=date(1960, 5, 1), sex="M")
    h.consult("p1", 40, department="心血管内科", dx="I10").consult("p1", 10, dx="I10")
    h.reading("p1", 20, "8480-6", 150).reading("p1", 5, "8480-6", 132)
    h.condition("p1", "I10", onset_days_ago=300)
    h.prescription("p1", 10, "氨氯地平", 30)
    h.order("p1", 10, 80.0).event("p1", 3, "search", query="高血压")
    h.patient("p2", 200, birth=date(2019, 1, 1))
    h.consult("p2", 30, department="儿科").reading("p2", 30, "8867-4", 96)
    h.event("p2", 2, "app_open")
    h.patient("p3", 100, birth=date(1980, 1, 1))
    h.patient("p4", 90, birth=date(1990, 1, 1)).event("p4", 1, "app_open")
    return h


def encounters() -> pa.Table:
    from careops.schema import TABLES

    rows = [
        {
            "encounter_id": "enc1",
            "user_id": "p3",
            "start_at": datetime(2026, 2, 1, 2, tzinfo=UTC),
            "end_at": datetime(2026, 2, 1, 3, tzinfo=UTC),
            "class": "AMB",
            "department": "心血管内科",
        }
    ]
    schema = TABLES["encounters"].arrow_schema()
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema})


def seal_contacts(con, key: str, user_id: str = "p1") -> None:
    """A contacts row for `user_id`, sealed the way ingestion seals it."""
    from careops.privacy.contacts import ContactsKey, protect

    plain = pa.table(
        {
            "record_id": ["r1"],
            "user_id": [user_id],
            "手机号": [PHONE],
            "姓名": ["张三丰"],
        }
    )
    sealed = protect(plain, {"手机号": "phone", "姓名": "name"}, ContactsKey(key)).rows
    assert sealed is not None
    sealed = sealed.append_column("load_id", pa.array(["load1"]))
    sealed = sealed.append_column("table_name", pa.array(["patients"]))
    con.insert("contacts", sealed.select(con.table("contacts").columns))


def build_warehouse(url: str, key: str | None) -> None:
    from tests.conftest import fill

    con = connect(url)
    try:
        create_tables(con)
        hospital().load(con)
        fill(con, {"encounters": encounters()})
        if key:
            seal_contacts(con, key)
    finally:
        con.disconnect()


def add_staff(ops: Ops, role: str, departments: tuple[str, ...] = (), name: str | None = None):
    name = name or role.replace("_", "-")
    accounts.add_user(ops, name, role, PASSWORD, departments)
    return name


def assign(ops: Ops, manager: str, user_id: str) -> None:
    """Put `user_id` in `manager`'s care (care_assignments)."""
    from careops.state.models import care_assignments

    with ops.state.begin() as conn:
        conn.execute(
            care_assignments.insert().values(
                username=manager, user_id=user_id, assigned_at=datetime.now(UTC), assigned_by="t"
            )
        )


def login(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def open_world(tmp: Path, settings: Settings) -> tuple[TestClient, Ops]:
    """The API over a fresh copy of the hospital in `tmp` (not yet entered)."""
    warehouse = f"duckdb:///{tmp / 'warehouse.duckdb'}"
    state = f"sqlite:///{tmp / 'state.db'}"
    key = settings.privacy.contacts_key
    build_warehouse(warehouse, key.get_secret_value() if key else None)
    app = create_app(settings, warehouse=warehouse, state=state)
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings, actor=Actor("t", "os"))
    return TestClient(app, raise_server_exceptions=False), ops


def staff_for_every_role(world: World) -> None:
    """One account per role (the medical one of 心血管内科), p1 in the health manager's care,
    each logged in."""
    for role in ROLES:
        name = add_staff(world.ops, role, DEPARTMENTS.get(role, ()))
        world.usernames[role] = name
        world.headers[role] = login(world.client, name)
    assign(world.ops, "health-manager", "p1")


def isolated_settings(**env: str) -> Settings:
    """Default settings with `env` (CAREOPS_… variables) only: no developer file or variables."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("CAREOPS_") and name != "CAREOPS_TEST_PG":
                mp.delenv(name)
        mp.setenv("CAREOPS_CONFIG", "")
        for name, value in env.items():
            mp.setenv(name, value)
        return Settings()


def make_world(tmp: Path) -> World:
    settings = isolated_settings(
        CAREOPS_PRIVACY__CONTACTS_KEY=contacts_key(), CAREOPS_PRIVACY__PSEUDONYM_KEY=contacts_key()
    )
    client, ops = open_world(tmp, settings)
    client.__enter__()
    world = World(client, ops)
    staff_for_every_role(world)
    return world


def close_world(world: World) -> None:
    world.client.__exit__(None, None, None)
    world.ops.close()

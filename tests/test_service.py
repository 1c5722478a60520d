"""The service context: where the state lives, who the actor is, audit with redaction."""

from __future__ import annotations

import os
import pwd

import pytest
import sqlalchemy as sa

from careops.config import Settings
from careops.errors import (
    AlreadyExists,
    CareOpsError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
)
from careops.service import Actor, Ops, state_url_for
from careops.state import read_audit


def _settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("warehouse", "state"),
    [
        ("duckdb:///data/h1/warehouse.duckdb", "sqlite:///data/h1/warehouse.state.db"),
        ("duckdb:////abs/h2.duckdb", "sqlite:////abs/h2.state.db"),
        ("postgresql://ops@db:5432/hospital?schema=x", "postgresql://ops@db:5432/hospital"),
    ],
)
def test_the_state_store_lives_beside_its_warehouse(warehouse, state, monkeypatch):
    monkeypatch.delenv("CAREOPS_STATE")
    assert state_url_for(warehouse, _settings()) == state


def test_an_explicit_state_setting_wins():
    assert (
        state_url_for("duckdb:///a.duckdb", _settings(state="sqlite:///s.db")) == "sqlite:///s.db"
    )


def test_two_warehouses_keep_their_own_audit_trails(tmp_path, monkeypatch):
    monkeypatch.delenv("CAREOPS_STATE")
    a = Ops.open(f"duckdb:///{tmp_path}/a/w.duckdb", settings=_settings())
    b = Ops.open(f"duckdb:///{tmp_path}/b/w.duckdb", settings=_settings())
    a.audit("test.a")
    assert [r["action"] for r in read_audit(a.state)] == ["test.a"]
    assert read_audit(b.state) == []


def test_the_os_actor_comes_from_the_uid_not_from_logname(monkeypatch):
    monkeypatch.setenv("LOGNAME", "director")
    monkeypatch.setenv("USER", "director")
    actor = Actor.os_user()
    assert actor.name == pwd.getpwuid(os.getuid()).pw_name
    assert actor.label == f"os:{actor.name}"


def test_credentials_never_reach_the_audit_trail(tmp_path):
    ops = Ops.open("duckdb:///x.duckdb", state=f"sqlite:///{tmp_path}/s.db")
    ops.audit(
        "init",
        target="postgresql://ops:s3cr%40t:x@db:5432/h",
        detail={
            "password": "hunter2",
            "url": "postgresql://u:pw@h/db",
            "nested": [{"api_key": "k"}],
            "note": "token=abc123 ok",
        },
    )
    row = read_audit(ops.state)[0]
    text = repr(row)
    for secret in ("s3cr", "hunter2", "pw@", "abc123", "'k'"):
        assert secret not in text, secret
    assert row["target"] == "postgresql://ops:***@db:5432/h"
    assert row["actor"].startswith("os:")


def test_an_audit_entry_rolls_back_with_the_change_it_records(tmp_path):
    ops = Ops.open("duckdb:///x.duckdb", state=f"sqlite:///{tmp_path}/s.db")
    with pytest.raises(RuntimeError), ops.state.begin() as conn:
        ops.audit("experiment.create", "k", conn=conn)
        raise RuntimeError("the change failed")
    assert read_audit(ops.state) == []
    with ops.state.begin() as conn:
        ops.audit("experiment.create", "k", conn=conn)
    assert len(read_audit(ops.state)) == 1
    with ops.state.connect() as conn:
        assert conn.execute(sa.text("select count(*) from audit_log")).scalar() == 1


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (InvalidInput, 422),
        (NotFound, 404),
        (AlreadyExists, 409),
        (Conflict, 409),
        (Forbidden, 403),
        (Unavailable, 503),
    ],
)
def test_errors_carry_their_meaning(cls, status):
    assert issubclass(cls, CareOpsError) and cls.status == status

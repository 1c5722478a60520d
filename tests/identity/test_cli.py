"""`careops users …`: passwords from standard input only, lists, disable/enable, keys, care."""

from __future__ import annotations

import io
import json
import sys

import pytest
import sqlalchemy as sa

from careops.identity import accounts, apikeys
from careops.state.models import users
from tests.identity.conftest import PASSWORD


@pytest.fixture
def stdin(monkeypatch):
    def feed(text: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    return feed


def test_add_reads_the_password_from_stdin(run_cli, stdin, ops):
    stdin(PASSWORD + "\n")
    code, out, err = run_cli(
        "users",
        "add",
        "alice",
        "--role",
        "medical",
        "--department",
        "儿科",
        "--department",
        "心血管内科",
        "--display-name",
        "爱丽丝",
        "--password-stdin",
    )
    assert code == 0, err
    assert "alice" in out
    a = accounts.get_user(ops, "alice")
    assert a.departments == ("儿科", "心血管内科") and a.display_name == "爱丽丝"
    assert accounts.login(ops, "alice", PASSWORD).access_token


def test_a_password_is_never_an_argument(run_cli, stdin):
    stdin(PASSWORD + "\n")
    code, _, err = run_cli("users", "add", "alice", "--role", "analyst")
    assert code == 2 and "--password-stdin" in err
    code, _, err = run_cli("users", "add", "alice", "--role", "analyst", "--password", PASSWORD)
    assert code != 0


@pytest.mark.parametrize("given", ["", "\n", "\r\n"])
def test_an_empty_password_on_stdin_is_refused(run_cli, stdin, given):
    stdin(given)
    code, _, err = run_cli("users", "add", "alice", "--role", "analyst", "--password-stdin")
    assert code == 2 and "password" in err


def test_an_empty_password_at_the_prompt_is_refused(run_cli, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    code, _, err = run_cli("users", "add", "alice", "--role", "analyst", "--password-stdin")
    assert code == 2 and "empty" in err
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = run_cli("users", "add", "alice", "--role", "analyst", "--password-stdin")
    assert code == 2 and "differ" in err


def test_bad_input_is_an_error_without_a_traceback(run_cli, stdin):
    stdin(PASSWORD)
    code, _, err = run_cli("users", "add", "Bad Name", "--role", "analyst", "--password-stdin")
    assert code == 2 and "bad username" in err and "Traceback" not in err
    stdin(PASSWORD)
    code, _, err = run_cli("users", "add", "bob", "--role", "root", "--password-stdin")
    assert code == 2 and "unknown role" in err


def test_list_disable_enable_passwd(run_cli, stdin, ops):
    accounts.add_user(ops, "alice", "analyst", PASSWORD, display_name="[bold]x[/bold]")
    accounts.add_user(ops, "bob", "auditor", PASSWORD)
    code, out, _ = run_cli("users", "list")
    assert code == 0 and "alice" in out and "数据分析" in out and "[bold]" in out, out
    code, out, _ = run_cli("users", "list", "--json", "--role", "auditor")
    rows = json.loads(out)
    assert [r["username"] for r in rows] == ["bob"] and "password_hash" not in rows[0]
    assert run_cli("users", "disable", "alice")[0] == 0
    assert accounts.get_user(ops, "alice").disabled
    assert json.loads(run_cli("users", "list", "--json")[1])[0]["disabled"] is True
    assert run_cli("users", "enable", "alice")[0] == 0
    assert not accounts.get_user(ops, "alice").disabled
    stdin("a fresh passphrase 1\n")
    assert run_cli("users", "passwd", "alice", "--password-stdin")[0] == 0
    assert accounts.login(ops, "alice", "a fresh passphrase 1").access_token
    code, _, err = run_cli("users", "disable", "nobody")
    assert code == 2 and "nobody" in err


def test_assign_and_unassign(run_cli, ops):
    accounts.add_user(ops, "hanna", "health_manager", PASSWORD)
    code, out, _ = run_cli("users", "assign", "hanna", "p1", "p2")
    assert code == 0 and "2" in out
    code, out, _ = run_cli("users", "unassign", "hanna", "p2", "p3")
    assert code == 0
    from careops.identity import assignments

    assert [a.user_id for a in assignments.patients_of(ops, "hanna")] == ["p1"]
    accounts.add_user(ops, "olga", "operations", PASSWORD)
    code, _, err = run_cli("users", "assign", "olga", "p1")
    assert code == 2 and "health_manager" in err


def test_keys_add_list_revoke(run_cli, ops):
    code, out, err = run_cli(
        "users", "key-add", "his", "--scope", "events.write", "--scope", "consents.write"
    )
    assert code == 0, err
    secret = next(line for line in out.splitlines() if line.startswith("cok_"))
    assert apikeys.actor_for_key(ops, secret).name == "his"
    code, out, _ = run_cli("users", "key-list")
    assert code == 0 and "his" in out and secret[21:] not in out
    listed = json.loads(run_cli("users", "key-list", "--json")[1])
    assert listed[0]["scopes"] == ["events.write", "consents.write"] and "secret" not in listed[0]
    assert run_cli("users", "key-revoke", "his")[0] == 0
    assert json.loads(run_cli("users", "key-list", "--json")[1])[0]["revoked_at"]
    code, _, err = run_cli("users", "key-add", "bad", "--scope", "users.manage")
    assert code == 2 and "not for apps" in err


def test_the_cli_writes_to_the_state_store_of_its_warehouse(run_cli, stdin, tmp_path):
    wh = f"duckdb:///{tmp_path / 'other.duckdb'}"
    state = f"sqlite:///{tmp_path / 'other.state.db'}"
    stdin(PASSWORD)
    code, _, err = run_cli(
        "users", "add", "zoe", "--role", "analyst", "--password-stdin", "-w", wh, "--state", state
    )
    assert code == 0, err
    engine = sa.create_engine(state)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.username)).scalars().all() == ["zoe"]
    engine.dispose()

"""Staff accounts: validation, who may grant what, changes end tokens, lock-out, and the
password never written anywhere but as its Argon2 hash."""

from __future__ import annotations

import logging
import threading

import pytest
import sqlalchemy as sa

from careops.config import get_settings
from careops.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from careops.identity import accounts, passwords, sessions
from careops.service import Actor
from careops.state.models import audit_log, revoked_tokens, users
from careops.state.store import read_audit
from tests.conftest import CHEAP_ARGON2
from tests.identity.conftest import PASSWORD


def test_add_get_list(ops):
    a = accounts.add_user(
        ops, "alice", "medical", PASSWORD, ["儿科", " 儿科 ", "心血管内科"], "爱丽丝"
    )
    assert a.departments == ("儿科", "心血管内科") and a.display_name == "爱丽丝"
    assert a.created_by.startswith("os:") and not a.disabled
    accounts.add_user(ops, "bob", "analyst", PASSWORD)
    assert accounts.get_user(ops, "bob").role == "analyst"
    page, total = accounts.list_users(ops, limit=1, offset=1)
    assert total == 2 and [u.username for u in page] == ["bob"]
    assert [u.username for u in accounts.list_users(ops, role="medical")[0]] == ["alice"]
    with pytest.raises(AlreadyExists):
        accounts.add_user(ops, "alice", "analyst", PASSWORD)
    with pytest.raises(NotFound):
        accounts.get_user(ops, "carol")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"username": "alice\n"}, "bad username"),
        ({"username": "Alice"}, "bad username"),
        ({"username": "a"}, "bad username"),
        ({"username": "1alice"}, "bad username"),
        ({"role": "root"}, "unknown role"),
        ({"role": "medical"}, "department"),
        ({"departments": ["儿科\n"], "role": "analyst", "display_name": "x\n"}, "display name"),
        ({"departments": ["<img src=x>"]}, "department"),
        ({"departments": ["\u202e科"]}, "department"),
        ({"password": "short"}, "10+"),
        ({"password": "abababababab"}, "too simple"),
        ({"password": "my name is alice!"}, "username"),
        ({"password": "tab\tin the password"}, "control"),
    ],
)
def test_bad_accounts_are_refused_with_the_reason(ops, kwargs, words):
    args = {"username": "alice", "role": "analyst", "password": PASSWORD} | kwargs
    with pytest.raises(InvalidInput, match=words):
        accounts.add_user(ops, **args)
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 0


def test_only_an_administrator_makes_an_administrator(ops, as_actor):
    admin = as_actor(Actor("root", kind="user", roles=("admin",)))
    accounts.add_user(admin, "second-admin", "admin", PASSWORD)
    operations = as_actor(Actor("olga", kind="user", roles=("operations",)))
    with pytest.raises(Forbidden, match=r"users\.manage"):
        accounts.add_user(operations, "eve", "admin", PASSWORD)
    app = as_actor(Actor("his", kind="app", scopes=("events.write",)))
    with pytest.raises(Forbidden):
        accounts.update_user(app, "second-admin", role="operations")


def test_update_changes_only_what_is_given_and_is_audited(ops):
    accounts.add_user(ops, "alice", "operations", PASSWORD, display_name="A")
    a = accounts.update_user(ops, "alice", departments=["儿科"])
    assert a.departments == ("儿科",) and a.role == "operations" and a.display_name == "A"
    unchanged = accounts.update_user(ops, "alice", departments=["儿科"])
    assert unchanged == a
    accounts.update_user(ops, "alice", disabled=True)
    actions = [r["action"] for r in read_audit(ops.state)]
    assert actions[:3] == ["user.disable", "user.update", "user.add"]
    with pytest.raises(NotFound):
        accounts.update_user(ops, "nobody", disabled=True)


def test_disable_revokes_live_tokens_and_enable_clears_the_lock(ops):
    accounts.add_user(ops, "alice", "operations", PASSWORD)
    t1 = accounts.login(ops, "alice", PASSWORD).access_token
    t2 = accounts.login(ops, "alice", PASSWORD).access_token
    accounts.update_user(ops, "alice", disabled=True)
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(revoked_tokens)).scalar() == 2
    assert read_audit(ops.state)[0]["detail"]["sessions_ended"] == 2
    accounts.update_user(ops, "alice", disabled=False)
    for t in (t1, t2):
        with pytest.raises(Unauthorized):
            sessions.actor_for_token(ops, t)
    t3 = accounts.login(ops, "alice", PASSWORD).access_token
    assert sessions.actor_for_token(ops, t3).name == "alice"


def test_nobody_disables_or_demotes_themself(ops, as_actor):
    accounts.add_user(ops, "root", "admin", PASSWORD)
    me = as_actor(Actor("root", kind="user", roles=("admin",)))
    with pytest.raises(Conflict):
        accounts.update_user(me, "root", disabled=True)
    with pytest.raises(Conflict):
        accounts.update_user(me, "root", role="analyst")
    assert accounts.update_user(me, "root", display_name="根").display_name == "根"


def test_login_counts_failures_locks_and_the_lock_refuses_even_the_right_password(ops):
    ops.settings.api.max_failed_logins = 3
    accounts.add_user(ops, "alice", "analyst", PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthorized, match="wrong username or password"):
            accounts.login(ops, "alice", "wrong password 1")
    assert _failures(ops, "alice") == 2
    with pytest.raises(Unauthorized):
        accounts.login(ops, "alice", "wrong password 1")
    assert accounts.get_user(ops, "alice").locked_until is not None
    with pytest.raises(Unauthorized, match="locked"):
        accounts.login(ops, "alice", PASSWORD)
    accounts.set_password(ops, "alice", "a new passphrase 7")  # an administrator's reset unlocks
    assert accounts.login(ops, "alice", "a new passphrase 7").access_token


def test_a_disabled_account_cannot_log_in_even_with_its_password(ops):
    accounts.add_user(ops, "alice", "analyst", PASSWORD)
    accounts.update_user(ops, "alice", disabled=True)
    with pytest.raises(Unauthorized, match="wrong username or password"):
        accounts.login(ops, "alice", PASSWORD)


def _failures(ops, username: str) -> int:
    with ops.state.connect() as conn:
        return conn.execute(
            sa.select(users.c.failed_logins).where(users.c.username == username)
        ).scalar_one()


def test_concurrent_failed_logins_each_count(ops):
    """Threads failing at once (Argon2 releases the GIL, so they overlap) all count."""
    ops.settings.api.max_failed_logins = 100
    accounts.add_user(ops, "alice", "analyst", PASSWORD)
    errors = _fail_concurrently(ops, "alice", 6)
    assert errors == ["Unauthorized"] * 6
    assert _failures(ops, "alice") == 6


def _fail_concurrently(ops, username: str, n: int) -> list[str]:
    barrier = threading.Barrier(n)
    errors: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            accounts.login(ops, username, "a wrong password")
        except Exception as exc:  # collected, so a lock error would show here
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_the_password_never_reaches_the_audit_trail_or_the_logs(ops, caplog, as_actor):
    caplog.set_level(logging.DEBUG)
    secret_words = "Sup3r-secret passphrase"
    accounts.add_user(ops, "alice", "analyst", secret_words)
    accounts.login(ops, "alice", secret_words)
    with pytest.raises(Unauthorized):
        accounts.login(ops, "alice", secret_words + "x")
    with pytest.raises(Unauthorized):  # a password typed into the name field
        accounts.login(ops, secret_words, secret_words)
    accounts.set_password(ops, "alice", secret_words + " 2")
    me = as_actor(Actor("alice", kind="user", roles=("analyst",)))
    accounts.change_own_password(me, secret_words + " 2", secret_words + " 3")
    with pytest.raises(InvalidInput) as bad:
        accounts.add_user(ops, "bob", "analyst", "short")
    assert "short" not in str(bad.value)
    with ops.state.connect() as conn:
        rows = [str(tuple(r)) for r in conn.execute(sa.select(audit_log))]
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert len(rows) >= 6
    assert not any("Sup3r" in r for r in rows)
    assert "Sup3r" not in caplog.text
    assert stored.startswith("$argon2id$") and "Sup3r" not in stored
    assert any("user:<invalid>" in r for r in rows)


def test_an_old_weak_hash_is_upgraded_at_login(ops, monkeypatch):
    from argon2 import PasswordHasher

    _production_argon2(monkeypatch)
    accounts.add_user(ops, "alice", "analyst", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with ops.state.begin() as conn:
        conn.execute(users.update().values(password_hash=weak))
    accounts.login(ops, "alice", PASSWORD)
    with ops.state.connect() as conn:
        now = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert now != weak and not passwords.needs_rehash(now)
    accounts.login(ops, "alice", PASSWORD)  # and still logs in


def _production_argon2(monkeypatch) -> None:
    """Undo the suite's cheap Argon2 (tests/conftest.py) for a test of the real cost."""
    for key in CHEAP_ARGON2:
        monkeypatch.delenv(key)
    get_settings.cache_clear()


def test_production_hashes_use_rfc_9106_low_memory_parameters(ops, monkeypatch):
    _production_argon2(monkeypatch)
    assert not passwords.is_weak()
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(passwords.dummy_hash(), PASSWORD)


def test_the_suite_runs_with_cheap_hashes_and_knows_it():
    assert passwords.is_weak()
    assert passwords.hash_password(PASSWORD).startswith("$argon2id$v=19$m=8,t=1,p=1$")

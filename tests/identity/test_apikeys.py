"""API keys: format, only a hash stored, scopes limited to apps', revocation, constant answers."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from careops.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from careops.identity import apikeys
from careops.service import Actor
from careops.state.models import api_keys
from careops.state.store import read_audit


def test_a_key_is_shown_once_and_only_its_hash_is_kept(ops):
    new = apikeys.create_key(ops, "his", ["events.write", "events.write", "triage.run"], ["儿科"])
    prefix, key_id, secret = new.secret[:4], new.secret[4:20], new.secret[21:]
    assert prefix == "cok_" and key_id == new.key.key_id and len(secret) == 43
    assert new.key.scopes == ("events.write", "triage.run") and new.key.departments == ("儿科",)
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(api_keys)).first()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(tuple(row))
    audit = read_audit(ops.state)[0]
    assert audit["action"] == "apikey.add" and secret not in str(audit)
    listed, total = apikeys.list_keys(ops)
    assert total == 1 and listed[0] == new.key and not hasattr(listed[0], "secret")


def test_the_key_acts_as_an_app_with_its_scopes_only(ops):
    new = apikeys.create_key(ops, "his", ["events.write"])
    actor = apikeys.actor_for_key(ops, new.secret)
    assert actor == Actor("his", kind="app", scopes=("events.write",))
    assert actor.label == "app:his" and actor.can("events.write")
    assert not actor.can("users.manage") and not actor.can("patients.clinical")


@pytest.mark.parametrize(
    ("scopes", "words"),
    [
        ([], "needs a scope"),
        (["users.manage"], "not for apps"),
        (["patients.clinical"], "not for apps"),
        (["audit.read", "events.write"], "not for apps"),
        (["events.write; drop table api_keys"], "not for apps"),
    ],
)
def test_keys_hold_app_scopes_only(ops, scopes, words):
    with pytest.raises(InvalidInput, match=words):
        apikeys.create_key(ops, "his", scopes)


def test_names_are_unique_even_after_revocation(ops):
    apikeys.create_key(ops, "his", ["events.write"])
    apikeys.revoke_key(ops, "his")
    with pytest.raises(AlreadyExists):
        apikeys.create_key(ops, "his", ["events.write"])
    with pytest.raises(InvalidInput):
        apikeys.create_key(ops, "HIS app", ["events.write"])


def test_revoke_by_name_or_key_id_and_the_key_stops_working(ops):
    a = apikeys.create_key(ops, "app-a", ["events.write"])
    b = apikeys.create_key(ops, "app-b", ["events.write"])
    assert apikeys.revoke_key(ops, a.key.key_id).revoked_at is not None
    with pytest.raises(Unauthorized):
        apikeys.actor_for_key(ops, a.secret)
    assert apikeys.actor_for_key(ops, b.secret).name == "app-b"
    with pytest.raises(Conflict):
        apikeys.revoke_key(ops, "app-a")
    with pytest.raises(NotFound):
        apikeys.revoke_key(ops, "app-c")
    assert [k.name for k in apikeys.list_keys(ops, include_revoked=False)[0]] == ["app-b"]


def test_unknown_wrong_and_malformed_keys_answer_alike(ops):
    new = apikeys.create_key(ops, "his", ["events.write"])
    messages = set()
    for bad in (
        new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B"),
        "cok_" + "f" * 16 + new.secret[20:],
        "cok_x",
        "",
    ):
        with pytest.raises(Unauthorized) as e:
            apikeys.actor_for_key(ops, bad)
        messages.add(str(e.value))
    assert len(messages) == 1


def test_only_admins_manage_keys(ops, as_actor):
    operations = as_actor(Actor("olga", kind="user", roles=("operations",)))
    for call in (
        lambda o: apikeys.create_key(o, "his", ["events.write"]),
        lambda o: apikeys.list_keys(o),
        lambda o: apikeys.revoke_key(o, "his"),
    ):
        with pytest.raises(Forbidden):
            call(operations)

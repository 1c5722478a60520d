"""`POST /api/v1/events`: per-event answers, idempotency, limits, hostile input, and events
reaching the warehouse within seconds through the service's own writer."""

from __future__ import annotations

import json
import time

import pytest

from careops.errors import WarehouseError
from careops.service import Ops
from tests.intake.test_check import event

URL = "/api/v1/events"


@pytest.fixture
def admin(login):
    return login("admin")


def test_a_batch_is_answered_per_event(api, admin):
    r = api.post(URL, json={"events": [event(1), event(2, ts="soon"), event(3)]}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert body["rejected"] == [
        {"index": 1, "event_id": "e2", "field": "ts", "reason": "ts: not a valid date/time: 'soon'"}
    ]
    again = api.post(URL, json={"events": [event(1), event(3, name="share")]}, headers=admin)
    body = again.json()
    assert (body["accepted"], body["duplicates"]) == (0, 1)
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [(1, "event_id")]


def test_accepted_events_reach_the_warehouse_within_seconds(api, admin):
    props = {"q": "<script>alert('x')</script>", "x": "\u202eevil\x1b[2J"}
    r = api.post(URL, json={"events": [event(7, properties=props)]}, headers=admin)
    assert r.json()["accepted"] == 1
    ops = Ops.open()
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline and not rows:
        try:
            with ops.warehouse(read_only=True) as con:  # the service's gate, same process
                if "events" in con.list_tables():
                    rows = con.raw_sql("SELECT properties FROM events").fetchall()
        except WarehouseError:  # not created yet: the writer's first flush creates it
            pass
        time.sleep(0.1)
    assert rows, api.app.state.worker.runs
    assert json.loads(rows[0][0]) == props  # stored as given, never interpreted


def test_who_may_send(api, login):
    assert api.post(URL, json={"events": [event(1)]}).status_code == 401
    analyst = login("analyst")
    r = api.post(URL, json={"events": [event(1)]}, headers=analyst)
    assert r.status_code == 403 and "events.write" in r.json()["error"]["detail"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"events": [event(i) for i in range(1001)]}, 422, "at most 1000"),
        ({"events": []}, 422, "events"),
        ({"events": {"event_id": "e1"}}, 422, "events"),
        ({"events": [event(1)], "replace": True}, 422, "replace"),
        ({}, 422, "events"),
    ],
)
def test_a_malformed_batch_is_refused_whole_with_the_reason(api, admin, body, status, words):
    r = api.post(URL, json=body, headers=admin)
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["error"], ensure_ascii=False)


def test_hostile_bodies_get_a_clear_answer_never_a_server_error(api, admin):
    huge = {"events": [event(1, properties={"x": "a" * 3_000_000})]}
    assert api.post(URL, json=huge, headers=admin).status_code == 413
    deep = '{"events": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    r = api.post(URL, content=deep, headers={**admin, "content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"]
    r = api.post(URL, content=b"\xff\xfe{", headers={**admin, "content-type": "application/json"})
    assert 400 <= r.status_code < 500
    lone = '{"events": [{"event_id": "e\\ud800", "user_id": "u", "ts": "2026-01-01", "name": "x"}]}'
    r = api.post(URL, content=lone, headers={**admin, "content-type": "application/json"})
    assert r.status_code == 200 and r.json()["rejected"][0]["field"] == "event_id"
    assert r.json()["rejected"][0]["event_id"] == "e\ufffd"
    odd = '{"events": [{"\\udfff": 1, "event_id": "e1"}]}'
    r = api.post(URL, content=odd, headers={**admin, "content-type": "application/json"})
    assert r.status_code == 200 and r.json()["rejected"][0]["field"] == "\ufffd"
    nested: dict = {"v": 1}
    for _ in range(40):
        nested = {"d": nested}
    r = api.post(URL, json={"events": [event(1, properties=nested), event(2)]}, headers=admin)
    assert r.status_code == 200
    assert r.json()["accepted"] == 1 and r.json()["rejected"][0]["field"] == "properties"


def test_no_intake_thread_outlives_the_service(admin_ops):
    """A thread left running would be inherited, busy, by every later fork of the process
    (Spark's gateway launch segfaulted in its preexec_fn after these tests)."""
    import threading

    from fastapi.testclient import TestClient

    from careops.api.app import create_app
    from careops.identity import accounts
    from tests.api.conftest import PASSWORD

    accounts.add_user(admin_ops, "ada", "admin", PASSWORD)
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", json={"username": "ada", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        r = client.post("/api/v1/events", json={"events": [event(1)]}, headers=headers)
        assert r.status_code == 200, r.text
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith("careops-intake")], names


def test_idle_intake_threads_end_by_themselves(admin_ops, monkeypatch):
    import threading
    import time

    from careops.intake import service
    from careops.warehouse import create_tables

    monkeypatch.setattr(service._Committer, "IDLE_S", 0.2)
    with admin_ops.warehouse() as con:
        create_tables(con)
    service.receive_events(admin_ops, [])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        t.name.startswith("careops-intake") for t in threading.enumerate()
    ):
        time.sleep(0.05)
    assert not any(t.name.startswith("careops-intake") for t in threading.enumerate())
    assert service.receive_events(admin_ops, []).accepted == 0  # and start again on demand

"""The 导诊 box without a browser: for `triage.run` only, behind CSRF, the emergency first,
departments with the words that decided and doctors, the same answer as the triage service,
markup shown as text, and the patient's words in no audit row or log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.service import Ops
from careops.warehouse import connect, create_tables
from tests.api.world import PASSWORD, isolated_settings
from tests.tags.hospital import Hospital
from tests.web.test_pages import _csrf

STAFF = {"medical": "dr-wang", "operations": "ops-li"}
HX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cockpit-triage")
    settings = isolated_settings()
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    state = f"sqlite:///{tmp_path / 'w.state.db'}"
    con = connect(warehouse)
    create_tables(con)
    Hospital(date(2026, 1, 1)).patient("p1", 100).load(con)
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    app = create_app(settings, warehouse=warehouse, state=state)
    yield app, ops
    ops.close()


@pytest.fixture
def client(world) -> Iterator[TestClient]:
    with TestClient(world[0], follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, role: str) -> str:
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": STAFF[role], "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    page = client.get("/cockpit/portrait")
    assert page.status_code == 200, page.text
    return _csrf(page.text)


def _departments(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-department="([^"]+)"><th scope="row">[^<]*</th>'
                      r'<td class="num" data-role="score">([^<]*)<', html)  # fmt: skip


def test_the_box_is_for_triage_run_with_a_nav_entry(client):
    login(client, "medical")
    page = client.get("/cockpit/triage")
    assert page.status_code == 200 and "智能导诊" in page.text and 'id="triage-text"' in page.text
    assert 'data-nav="triage"' in page.text and 'hx-post="/cockpit/triage"' in page.text
    client.cookies.clear()
    csrf = login(client, "operations")
    r = client.get("/cockpit/triage")
    assert r.status_code == 403 and "triage.run" in r.text
    r = client.post("/cockpit/triage", data={"csrf": csrf, "text": "头痛"})
    assert r.status_code == 403
    assert 'data-nav="triage"' not in client.get("/cockpit/portrait").text


def test_an_answer_is_the_services_departments_and_doctors(client, world):
    from careops.triage.service import open_triage

    _, ops = world
    csrf = login(client, "medical")
    text = "最近老是胸闷心慌, 爬楼梯就喘"
    r = client.post("/cockpit/triage", data={"csrf": csrf, "text": text}, headers=HX)
    assert r.status_code == 200 and "<html" not in r.text  # a fragment for htmx
    want = open_triage(None, ops).ask(text, top=5).as_dict()
    assert _departments(r.text) == [(d["name"], f"{d['score']:.3f}") for d in want["departments"]]
    assert want["departments"] and want["emergency"] is None
    assert 'id="triage-emergency"' not in r.text
    for word in want["departments"][0]["words"]:
        assert word in r.text
    full = client.post("/cockpit/triage", data={"csrf": csrf, "text": text})
    assert full.status_code == 200 and "<html" in full.text and text in full.text  # kept in box
    assert _departments(full.text) == _departments(r.text)


def test_an_emergency_comes_first_in_an_alert(client):
    csrf = login(client, "medical")
    text = "胸口压榨样疼痛, 出冷汗, 疼到左胳膊"
    r = client.post("/cockpit/triage", data={"csrf": csrf, "text": text}, headers=HX)
    assert r.status_code == 200
    alert = r.text.index('id="triage-emergency"')
    assert 'role="alert"' in r.text[max(0, alert - 80) : alert + 80] and "120" in r.text
    assert alert < r.text.index("推荐科室")


def test_csrf_is_required_and_nothing_is_audited_without_it(client, world):
    from careops.state.audit_trail import AuditFilter, list_audit

    _, ops = world
    login(client, "medical")
    before = list_audit(ops.state, AuditFilter(action="triage.ask"), limit=1)[1]
    for forged in ("", "0" * 64):
        r = client.post("/cockpit/triage", data={"csrf": forged, "text": "头痛"})
        assert r.status_code == 403 and "CSRF" in r.text
    assert list_audit(ops.state, AuditFilter(action="triage.ask"), limit=1)[1] == before


def test_markup_is_shown_as_text_and_bad_text_is_named(client):
    csrf = login(client, "medical")
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>头痛"'
    r = client.post("/cockpit/triage", data={"csrf": csrf, "text": hostile})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    for bad, why in (("", "text"), ("   ", "text"), ("头" * 501, "500"), ("头\x00痛", "控制")):
        r = client.post("/cockpit/triage", data={"csrf": csrf, "text": bad})
        assert r.status_code == 422 and 'id="triage-error"' in r.text and why in r.text, bad
        frag = client.post("/cockpit/triage", data={"csrf": csrf, "text": bad}, headers=HX)
        assert frag.status_code == 200 and 'id="triage-error"' in frag.text


def test_the_words_are_in_no_audit_row_and_no_log_line(client, world, caplog):
    from careops.state.audit_trail import AuditFilter, list_audit

    _, ops = world
    csrf = login(client, "medical")
    secret = "我的秘密症状 头痛欲裂"
    with caplog.at_level(logging.DEBUG):
        r = client.post("/cockpit/triage", data={"csrf": csrf, "text": secret}, headers=HX)
    assert r.status_code == 200
    assert "秘密" not in caplog.text
    entries, _ = list_audit(ops.state, AuditFilter(action="triage.ask"), limit=5)
    assert entries and entries[0].actor == "user:dr-wang"
    assert entries[0].detail["via"] == "cockpit" and "秘密" not in str(entries[0].detail)


def test_the_hospitals_triage_is_built_once_per_app(client, world):
    app, _ = world
    csrf = login(client, "medical")
    client.post("/cockpit/triage", data={"csrf": csrf, "text": "胃疼"}, headers=HX)
    first = app.state.cockpit_triage
    client.post("/cockpit/triage", data={"csrf": csrf, "text": "皮肤起疹子"}, headers=HX)
    assert app.state.cockpit_triage is first

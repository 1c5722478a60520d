"""The 旅程 page without a browser: the catalogue with each journey's switch, one journey's
flow and its per-step numbers (counted by hand from the rows written below), switching on and
off behind CSRF for `journeys.write` only, and hostile input refused with nothing changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.journeys import store, switch
from careops.service import Ops
from careops.warehouse import connect, create_tables
from tests.api.world import PASSWORD, isolated_settings
from tests.tags.hospital import Hospital
from tests.web.test_pages import _csrf

STAFF = {
    "operations": "ops-li",
    "health_manager": "hm-zhao",
    "medical": "dr-wang",
}
J = "churn_winback"


def _runs(h: Hospital) -> tuple[list[dict], list[dict], list[dict]]:
    """Enrolments, decisions and sends of churn_winback: at `apology` four patients reached,
    p4 suppressed, three sent (k1, k2 delivered; k3 sent 30 days ago); at `differentiators`
    p5 reached, its send failed."""
    enrol = []
    for i, uid in enumerate(["p1", "p2", "p3", "p4", "p5"], 1):
        ended = uid in ("p1", "p2")
        enrol.append(
            dict(
                id=i, journey=J, version=1, user_id=uid, entry_no=1, entered_at=h.at(31),
                status="exited" if ended else "active", step="apology", seq=1,
                step_at=h.at(31), waiting=False, next_due=None if ended else h.at(-1),
                exit_reason={"p1": "converted", "p2": "completed"}.get(uid),
                ended_at=h.at(3) if ended else None,
            )
        )  # fmt: skip
    sends = [("k1", "p1", 1, 5, "delivered"), ("k2", "p2", 2, 5, "delivered")]
    sends += [("k3", "p3", 3, 30, "sent"), ("k5", "p5", 5, 5, "failed")]
    decisions, outbox = [], []
    for key, uid, eid, days, status in sends:
        step = "differentiators" if uid == "p5" else "apology"
        decisions.append(
            dict(at=h.at(days, 9), enrolment_id=eid, journey=J, step=step, user_id=uid,
                 action="send", key=key)
        )  # fmt: skip
        outbox.append(
            dict(key=key, enrolment_id=eid, journey=J, step=step, user_id=uid, kind="message",
                 channel="sms", purpose="marketing", decided_at=h.at(days, 9), status=status,
                 attempts=1, sent_at=None if status == "failed" else h.at(days, 9))
        )  # fmt: skip
    decisions.append(
        dict(at=h.at(5, 9), enrolment_id=4, journey=J, step="apology", user_id="p4",
             action="suppress", reason="frequency_cap")
    )  # fmt: skip
    decisions.append(
        dict(at=h.at(5, 23), enrolment_id=4, journey=J, step="apology", user_id="p4",
             action="defer", reason="quiet_hours")
    )  # fmt: skip
    return enrol, decisions, outbox


#: what the stats table must say, counted from `_runs` and the events and orders below
EXPECTED = {
    "apology": dict(reached=4, sent=3, delivered=2, suppressed=1, opened=2, clicked=1,
                    converted=1, revenue="¥88.00"),
    "differentiators": dict(reached=1, sent=0, delivered=0, suppressed=0, opened=0, clicked=0,
                            converted=0, revenue="¥0.00"),
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cockpit-journeys")
    settings = isolated_settings()
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    state = f"sqlite:///{tmp_path / 'w.state.db'}"
    h = Hospital(date(2026, 1, 1))
    for uid in ("p1", "p2", "p3", "p4", "p5"):
        h.patient(uid, 100)
    h.event("p1", 5, "message_open", send_id="k1").event("p1", 5, "message_click", send_id="k1")
    h.event("p2", 5, "message_open", send_id="k2")
    h.order("p1", 4, 88.0)  # 1 day after k1: converted at apology
    h.order("p2", 4, 20.0, status="refunded")  # not paid: no conversion
    h.order("p3", 10, 50.0)  # 20 days after k3: outside the 7-day window
    con = connect(warehouse)
    create_tables(con)
    h.load(con)
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    enrol, decisions, outbox = _runs(h)
    with ops.state.begin() as conn:
        for table, rows in ((store.enrolments, enrol), (store.decisions, decisions)):
            for row in rows:
                conn.execute(table.insert().values(**row))
        for row in outbox:
            conn.execute(store.outbox.insert().values(**row))
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


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-journey="(\w+)" data-enabled="(\w+)"', html))


def test_the_catalogue_lists_every_journey_with_its_switch(client, world):
    from careops.journeys.service import list_journeys

    _, ops = world
    login(client, "health_manager")
    page = client.get("/cockpit/journeys")
    assert page.status_code == 200 and "用户旅程" in page.text
    assert 'data-nav="journeys"' in page.text
    shown = _rows(page.text)
    expected = {j.key: "on" if j.enabled else "off" for j in list_journeys(ops) if j.key}
    assert shown == expected and J in shown
    assert "流失用户挽回" in page.text and "模板" in page.text


def test_a_journeys_flow_reads_in_order_with_where_each_step_goes(client):
    login(client, "health_manager")
    page = client.get(f"/cockpit/journeys/{J}").text
    steps = re.findall(r'<li data-step="(\w+)" data-type="(\w+)"', page)
    assert steps == [
        ("by_reason", "branch"),
        ("apology", "message"),
        ("apology_coupon", "coupon"),
        ("new_service", "message"),
        ("differentiators", "message"),
    ]
    flow = {
        m.group(1): re.findall(r'data-goto="(\w+)"', m.group(2))
        for m in re.finditer(r'<li data-step="(\w+)"(.*?)</ul>', page, re.S)
    }
    assert flow == {
        "by_reason": ["apology", "new_service", "differentiators"],
        "apology": ["apology_coupon"],
        "apology_coupon": ["exit"],
        "new_service": ["exit"],
        "differentiators": ["exit"],
    }
    assert "分支" in page and "否则" in page and "¥50" in page
    assert "当 did(name=&#34;complaint&#34;, within=&#34;180d&#34;)" in page  # the rule as DSL


def test_the_stats_table_has_the_counts_of_the_runs(client, world):
    from careops.journeys.measure import measure

    _, ops = world
    login(client, "health_manager")
    page = client.get(f"/cockpit/journeys/{J}").text
    assert 'id="journey-entered">5<' in page
    for step, want in EXPECTED.items():
        row = re.search(rf'<tr data-step="{step}">.*?</tr>', page, re.S).group(0)
        got = dict(re.findall(r'data-role="(\w+)">([^<]*)<', row))
        assert got == {k: str(v) for k, v in want.items()}, step
    # the page shows what the engine's measurement says, in the flow's order
    m = {s.step: s for s in measure(ops, J, window_days=7).steps}
    assert m["apology"].revenue == 88.0 and m["apology"].converted == 1
    assert page.index('data-step="apology">') < page.index('data-step="differentiators">')


def test_only_journeys_write_sees_and_may_use_the_switch(client, world):
    _, ops = world
    csrf = login(client, "health_manager")
    page = client.get(f"/cockpit/journeys/{J}").text
    assert 'id="journey-toggle"' not in page
    r = client.post(f"/cockpit/journeys/{J}/enable", data={"csrf": csrf, "note": "试试"})
    assert r.status_code == 403 and "journeys.write" in r.text
    assert switch.state_of(ops, J, "template").enabled is False


def test_a_role_without_journeys_read_is_refused(client):
    login(client, "medical")
    r = client.get("/cockpit/journeys")
    assert r.status_code == 403 and "journeys.read" in r.text
    assert client.get(f"/cockpit/journeys/{J}").status_code == 403
    assert 'data-nav="journeys"' not in client.get("/cockpit/portrait").text


def test_enable_then_disable_needs_csrf_records_the_note_and_the_audit(client, world):
    from careops.state.audit_trail import AuditFilter, list_audit

    _, ops = world
    csrf = login(client, "operations")
    page = client.get(f"/cockpit/journeys/{J}").text
    assert 'id="journey-toggle"' in page and "启用旅程" in page
    for forged in ("", "0" * 64):
        r = client.post(f"/cockpit/journeys/{J}/enable", data={"csrf": forged})
        assert r.status_code == 403 and "CSRF" in r.text
    assert switch.state_of(ops, J, "template").enabled is False
    r = client.post(f"/cockpit/journeys/{J}/enable", data={"csrf": csrf, "note": "双十一 挽回"})
    assert r.status_code == 303 and r.headers["location"] == f"/cockpit/journeys/{J}?switched=on"
    state = switch.state_of(ops, J, "template")
    assert (state.enabled, state.note, state.changed_by) == (True, "双十一 挽回", "user:ops-li")
    page = client.get(r.headers["location"]).text
    assert 'id="journey-switched"' in page and 'data-enabled="on"' in page and "停用旅程" in page
    assert _rows(client.get("/cockpit/journeys").text)[J] == "on"
    r = client.post(f"/cockpit/journeys/{J}/disable", data={"csrf": csrf, "note": "<b>停</b>"})
    assert r.status_code == 303
    assert switch.state_of(ops, J, "template").enabled is False
    page = client.get(f"/cockpit/journeys/{J}").text
    assert "&lt;b&gt;停&lt;/b&gt;" in page and "<b>停</b>" not in page
    for action, note in (("journey.enable", "双十一 挽回"), ("journey.disable", "<b>停</b>")):
        entries, _ = list_audit(ops.state, AuditFilter(action=action), limit=10)
        assert any(e.target == f"journey:{J}" and e.actor == "user:ops-li" for e in entries)
        assert any(note in str(e.detail) for e in entries), action


@pytest.mark.parametrize(
    "path, data, status",
    [
        ("/cockpit/journeys/no_such_journey/enable", {"note": ""}, 404),
        ("/cockpit/journeys/bad%20key!/enable", {}, 422),
        (f"/cockpit/journeys/{J}/explode", {}, 422),
        (f"/cockpit/journeys/{J}/enable", {"note": "x" * 501}, 422),
        (f"/cockpit/journeys/{J}/enable", {"note": "a\x00b"}, 422),
    ],
)
def test_hostile_switches_are_refused_and_change_nothing(client, world, path, data, status):
    _, ops = world
    csrf = login(client, "operations")
    before = switch.state_of(ops, J, "template")
    r = client.post(path, data={"csrf": csrf, **data})
    assert r.status_code == status, r.text
    assert switch.state_of(ops, J, "template") == before


def test_hostile_journey_keys_on_the_page_are_refused(client):
    login(client, "health_manager")
    for key, status in (("no_such", 404), ("%3Cscript%3E", 422), ("a" * 65, 422)):
        r = client.get(f"/cockpit/journeys/{key}")
        assert r.status_code == status, key
        assert "<script>" not in r.text


def test_english_labels_on_request(client):
    login(client, "health_manager")
    client.cookies.set("careops_lang", "en", path="/cockpit")
    page = client.get(f"/cockpit/journeys/{J}").text
    assert "Churned user win-back" in page and "Reached" in page and "otherwise" in page

"""The 任务 page without a browser: each role's queue (scope of the tasks service), the order
(overdue, then medical alerts due within the hour), closing with a note behind CSRF, and
hostile input refused with nothing changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.identity.assignments import assign
from careops.service import Ops, now
from careops.tasks.store import NewTask, get_task, raise_tasks
from careops.warehouse import connect, create_tables
from tests.api.world import PASSWORD, isolated_settings
from tests.tags.hospital import Hospital
from tests.web.test_pages import _csrf

STAFF = {
    "operations": "ops-li",
    "medical": "dr-wang",
    "health_manager": "hm-zhao",
    "auditor": "aud-sun",
}
DEPT = "心血管内科"


def _task(key: str, minutes: int, **kw) -> NewTask:
    base = {
        "kind": "follow_up",
        "title": f"任务 {key}",
        "purpose": "service",
        "assignee_role": "operations",
        "source": "test",
        "user_id": "p1",
    }
    return NewTask(key=key, due_at=now() + timedelta(minutes=minutes), **{**base, **kw})


#: key -> task; the doctor's four (priority would put `later` first: urgency must win)
TASKS = {
    "med-later": dict(minutes=300, priority=0),
    "med-alert": dict(minutes=30, priority=1, kind="alert"),
    "med-overdue": dict(minutes=-90, priority=2),
    "med-other-dept": dict(minutes=-10, priority=0, department="皮肤科"),
    "ops-call": dict(minutes=120, purpose="service", assignee_role="operations"),
    "ops-late": dict(minutes=-5, purpose="marketing", assignee_role="operations"),
    "hm-mine": dict(minutes=60 * 24, assignee_role="health_manager", user_id="p1"),
    "hm-other": dict(minutes=60 * 24, assignee_role="health_manager", user_id="p2"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cockpit-tasks")
    settings = isolated_settings()
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    state = f"sqlite:///{tmp_path / 'w.state.db'}"
    con = connect(warehouse)
    create_tables(con)
    Hospital(date(2026, 1, 1)).patient("p1", 100).patient("p2", 10).load(con)
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, (DEPT,) if role == "medical" else ())
    assign(ops, "hm-zhao", ["p1"])
    items = []
    for key, spec in TASKS.items():
        spec = dict(spec)
        minutes = spec.pop("minutes")
        if key.startswith("med-"):
            spec = {"purpose": "medical", "assignee_role": "medical", "department": DEPT, **spec}
        items.append(_task(key, minutes, **spec))
    with ops.state.begin() as conn:
        ids = dict(zip(TASKS, raise_tasks(conn, items, now()), strict=True))
    app = create_app(settings, warehouse=warehouse, state=state)
    yield app, ops, ids
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
    page = client.get("/cockpit/tasks")
    assert page.status_code == 200, page.text
    return _csrf(page.text)


def _rows(html: str) -> list[tuple[int, str]]:
    return [(int(i), u) for i, u in re.findall(r'data-task="(\d+)" data-urgency="(\w+)"', html)]


def test_a_doctor_sees_the_departments_medical_tasks_overdue_then_alert_first(client, world):
    _, _, ids = world
    login(client, "medical")
    page = client.get("/cockpit/tasks")
    assert "待办任务" in page.text and 'data-nav="tasks"' in page.text
    assert _rows(page.text) == [
        (ids["med-overdue"], "overdue"),
        (ids["med-alert"], "alert"),
        (ids["med-later"], "normal"),
    ]
    assert "已超时" in page.text and "1 小时内到期的医疗提醒" in page.text
    assert "content-security-policy" in page.headers


def test_due_times_are_shown_in_hospital_time(client, world):
    _, ops, ids = world
    login(client, "operations")
    page = client.get("/cockpit/tasks").text
    with ops.state.connect() as conn:
        task = get_task(conn, ids["ops-call"])
    local = task.due_at.astimezone(ops.settings.tz).strftime("%Y-%m-%d %H:%M")
    row = re.search(rf'data-task="{ids["ops-call"]}".*?</tr>', page, re.S).group(0)
    assert f'data-role="due">{local}<' in row
    order = ["ops-late", "ops-call", "hm-mine", "hm-other"]  # no medical task for operations
    assert [i for i, _ in _rows(page)] == [ids[k] for k in order]
    assert not {ids[k] for k in TASKS if k.startswith("med-")} & set(dict(_rows(page)))


def test_a_health_manager_sees_only_patients_in_their_care(client, world):
    _, _, ids = world
    login(client, "health_manager")
    shown = dict(_rows(client.get("/cockpit/tasks").text))
    assert set(shown) == {ids["hm-mine"]}


def test_a_role_without_tasks_read_is_refused(client):
    form = client.get("/cockpit/login")
    client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": "aud-sun", "password": PASSWORD},
    )
    r = client.get("/cockpit/tasks")
    assert r.status_code == 403 and "tasks.read" in r.text
    assert 'data-nav="tasks"' not in client.get("/cockpit/audit").text


def test_closing_needs_csrf_then_records_the_note_and_the_audit(client, world):
    _, ops, ids = world
    csrf = login(client, "operations")
    tid = ids["ops-late"]
    for forged in ("", "0" * 64):
        r = client.post(f"/cockpit/tasks/{tid}/finish", data={"csrf": forged, "action": "done"})
        assert r.status_code == 403 and "CSRF" in r.text
    with ops.state.connect() as conn:
        assert get_task(conn, tid).status == "open"
    r = client.post(
        f"/cockpit/tasks/{tid}/finish",
        data={"csrf": csrf, "action": "done", "note": "已电话联系 患者同意复诊", "status": "open"},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/cockpit/tasks?")
    with ops.state.connect() as conn:
        task = get_task(conn, tid)
    assert (task.status, task.outcome, task.closed_by) == (
        "done",
        "已电话联系 患者同意复诊",
        "user:ops-li",
    )
    from careops.state.audit_trail import AuditFilter, list_audit

    entries, _ = list_audit(ops.state, AuditFilter(action="task.done"), limit=10)
    assert any(e.target == f"task:{tid}" and e.actor == "user:ops-li" for e in entries)
    page = client.get(r.headers["location"])
    assert 'id="task-closed"' in page.text and tid not in dict(_rows(page.text))
    closed = client.get("/cockpit/tasks?status=done").text
    assert tid in dict(_rows(closed)) and "已电话联系" in closed
    again = client.post(f"/cockpit/tasks/{tid}/finish", data={"csrf": csrf, "action": "cancel"})
    assert again.status_code == 409


def test_cancel_and_another_roles_task_is_refused(client, world):
    _, ops, ids = world
    csrf = login(client, "operations")
    r = client.post(
        f"/cockpit/tasks/{ids['med-alert']}/finish", data={"csrf": csrf, "action": "done"}
    )
    assert r.status_code == 403
    r = client.post(
        f"/cockpit/tasks/{ids['hm-other']}/finish",
        data={"csrf": csrf, "action": "cancel", "note": "重复任务"},
    )
    assert r.status_code == 303
    with ops.state.connect() as conn:
        assert get_task(conn, ids["med-alert"]).status == "open"
        assert get_task(conn, ids["hm-other"]).status == "cancelled"


@pytest.mark.parametrize(
    ("path", "data", "status", "field"),
    [
        ("/cockpit/tasks/abc/finish", {"action": "done"}, 422, "task_id"),
        ("/cockpit/tasks/99999/finish", {"action": "done"}, 404, "99999"),
        ("/cockpit/tasks/{id}/finish", {"action": "delete"}, 422, "action"),
        ("/cockpit/tasks/{id}/finish", {"action": "done", "note": "a\x00b"}, 422, "note"),
        ("/cockpit/tasks/{id}/finish", {"action": "done", "note": "长" * 501}, 422, "note"),
    ],
)
def test_hostile_closing_input_is_refused_and_changes_nothing(
    client, world, path, data, status, field
):
    _, ops, ids = world
    csrf = login(client, "medical")
    tid = ids["med-later"]
    r = client.post(path.format(id=tid), data={"csrf": csrf, **data})
    assert r.status_code == status, r.text
    assert field in r.text and "Traceback" not in r.text
    with ops.state.connect() as conn:
        assert get_task(conn, tid).status == "open"


@pytest.mark.parametrize("query", ["status=drop", "offset=-3", "status=" + "x" * 300])
def test_bad_filters_are_a_page_naming_the_field(client, query):
    login(client, "medical")
    r = client.get(f"/cockpit/tasks?{query}")
    assert r.status_code == 422 and query.split("=")[0] in r.text


def test_english_labels(client):
    login(client, "medical")
    client.get("/cockpit/lang/en", params={"next": "/cockpit/tasks"})
    page = client.get("/cockpit/tasks").text
    assert "Task queue" in page and "Overdue" in page and "Medical alert" in page

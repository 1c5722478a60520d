"""Tasks: raised once per key (also by two writers at once), each role sees its own work,
closing is audited and happens once; the CLI lists and closes them."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import sqlalchemy as sa

from careops.errors import Conflict, Forbidden, InvalidInput, NotFound
from careops.identity import accounts, assignments
from careops.service import Actor, Ops
from careops.tasks import service
from careops.tasks.store import NewTask, TaskFilter, raise_tasks, tasks

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"


def task(name: str, **kw) -> NewTask:
    base = dict(
        key=name,
        kind="call",
        title="回访",
        purpose="service",
        assignee_role="health_manager",
        due_at=NOW + dt.timedelta(hours=1),
        source="test",
        user_id="p1",
    )
    return NewTask(**(base | kw))


@pytest.fixture
def ops():
    context = Ops.open()
    yield context
    context.close()


def as_user(ops: Ops, name: str, role: str, departments=()) -> Ops:
    accounts.add_user(ops, name, role, PASSWORD, departments)
    actor = Actor(name=name, kind="user", roles=(role,), departments=tuple(departments))
    return Ops.open(ops.warehouse_url, ops.state_url, actor=actor, settings=ops.settings)


def test_raising_a_task_twice_keeps_one_row(ops):
    with ops.state.begin() as conn:
        first = raise_tasks(conn, [task("a"), task("b"), task("a")], NOW)
    with ops.state.begin() as conn:
        again = raise_tasks(conn, [task("b", title="改了"), task("c")], NOW)
    assert first[0] == first[2] and first[0] != first[1]
    assert again[0] == first[1]
    with ops.state.connect() as conn:
        rows = conn.execute(sa.select(tasks.c.key, tasks.c.title).order_by(tasks.c.key)).all()
    assert [tuple(r) for r in rows] == [("a", "回访"), ("b", "回访"), ("c", "回访")]


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"key": "bad key with spaces"}, "key"),
        ({"key": ""}, "key"),
        ({"purpose": "advert"}, "purpose"),
        ({"assignee_role": "auditor"}, "assignee_role"),
        ({"title": "x\x1b[31m"}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"priority": 7}, "priority"),
        ({"due_at": dt.datetime(2026, 3, 1)}, "due_at"),
    ],
)
def test_a_bad_task_is_refused_and_nothing_is_written(ops, change, word):
    with pytest.raises(InvalidInput, match=word), ops.state.begin() as conn:
        raise_tasks(conn, [task("good"), task("x", **change)], NOW)
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tasks)).scalar_one() == 0


def test_each_role_sees_its_own_work(ops):
    hm = as_user(ops, "wang", "health_manager")
    other_hm = as_user(ops, "zhao", "health_manager")
    doctor = as_user(ops, "li", "medical", ["心血管内科"])
    opsman = as_user(ops, "chen", "operations")
    auditor = as_user(ops, "sun", "auditor")
    assignments.assign(ops, "wang", ["p1"])
    with ops.state.begin() as conn:
        raise_tasks(
            conn,
            [
                task("hm-p1"),
                task("hm-p2", user_id="p2"),
                task("hm-mine", user_id="p9", assignee="zhao"),
                task(
                    "glucose",
                    kind="alert",
                    purpose="medical",
                    assignee_role="medical",
                    department="心血管内科",
                    priority=0,
                ),
                task("skin", purpose="medical", assignee_role="medical", department="皮肤科"),
            ],
            NOW,
        )

    def keys(who: Ops) -> set[str]:
        items, total = service.my_tasks(who)
        assert total == len(items)
        return {t.key for t in items}

    assert keys(hm) == {"hm-p1"}
    assert keys(other_hm) == {"hm-mine"}
    assert keys(doctor) == {"glucose"}
    assert keys(opsman) == {"hm-p1", "hm-p2", "hm-mine"}  # never the medical ones
    assert keys(ops) == {"hm-p1", "hm-p2", "hm-mine", "glucose", "skin"}  # the machine's admin
    with pytest.raises(Forbidden):
        service.my_tasks(auditor)
    skin = next(t for t in service.my_tasks(ops)[0] if t.key == "skin")
    with pytest.raises(Forbidden):
        service.show_task(doctor, skin.id)
    with pytest.raises(Forbidden):
        service.finish_task(hm, skin.id, outcome="x")
    with pytest.raises(NotFound):
        service.show_task(doctor, 99_999)
    for context in (hm, other_hm, doctor, opsman, auditor):
        context.close()


def test_closing_is_audited_and_happens_once(ops):
    hm = as_user(ops, "wang", "health_manager")
    assignments.assign(ops, "wang", ["p1"])
    with ops.state.begin() as conn:
        (task_id,) = raise_tasks(conn, [task("call-1")], NOW)
    done = service.finish_task(hm, task_id, outcome="已电话回访, 血压平稳", at=NOW)
    assert (done.status, done.closed_by, done.outcome) == (
        "done",
        "user:wang",
        "已电话回访, 血压平稳",
    )
    with pytest.raises(Conflict):
        service.finish_task(hm, task_id, outcome="again")
    with pytest.raises(InvalidInput):
        service.finish_task(ops, task_id, outcome="\x00")
    from careops.state.audit_trail import AuditFilter, read_trail

    entries, _ = read_trail(ops, AuditFilter(action="task.done"))
    assert [(e.actor, e.subject, e.target) for e in entries] == [
        ("user:wang", "p1", f"task:{task_id}")
    ]
    assert service.my_tasks(hm)[1] == 0  # closed: no longer open work
    assert service.my_tasks(hm, TaskFilter(status="done"))[1] == 1
    hm.close()


def test_overdue_lists_only_open_tasks_past_due(ops):
    with ops.state.begin() as conn:
        raise_tasks(
            conn,
            [task("late", due_at=NOW - dt.timedelta(minutes=1)), task("fine")],
            NOW - dt.timedelta(hours=2),
        )
    items, _ = service.overdue(ops, NOW)
    assert [t.key for t in items] == ["late"] and items[0].overdue(NOW)


@pytest.mark.postgres
def test_two_writers_raising_the_same_tasks_make_one_row_each(pg_database):
    url = pg_database()
    ops = Ops.open(state=url)
    assert ops.state.dialect.name == "postgresql"  # migrated once, before the race
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            barrier.wait()
            with ops.state.begin() as conn:
                raise_tasks(conn, [task(f"k{i}") for i in range(200)], NOW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tasks)).scalar_one() == 200
    ops.close()


def test_cli_lists_and_closes_tasks(ops, run_cli, monkeypatch):
    from careops import cliutil

    # the console reads COLUMNS once, at import: widen it here so no title wraps
    monkeypatch.setattr(cliutil.out, "_width", 200)
    with ops.state.begin() as conn:
        (task_id,) = raise_tasks(conn, [task("cli-1", title="电话回访 [bold]x[/]")], NOW)
    code, out, _ = run_cli("tasks", "list", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["total"] == 1 and data["items"][0]["title"] == "电话回访 [bold]x[/]"
    code, out, _ = run_cli("tasks", "list")
    assert code == 0 and "电话回访 [bold]x[/]" in out  # markup in data prints as written
    code, out, _ = run_cli("tasks", "done", task_id, "--outcome", "已完成")
    assert code == 0 and "已完成" in out
    code, out, err = run_cli("tasks", "done", task_id)
    assert code == 3 and "已关闭" in out + err
    code, out, err = run_cli("tasks", "list", "--status", "gone")
    assert code == 2 and "status" in out + err

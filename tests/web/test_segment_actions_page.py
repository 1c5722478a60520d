"""Acting on a saved segment from the cockpit, without a browser: its patient list exported as
CSV (ids only, for roles holding `segments.export`, audited as the API's export is) and an A/B
experiment created on it through a checked form (CSRF, `experiments.write`, audited by the
experiments service); every bad field answered with a 422 naming it, nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.experiments import service as experiments
from careops.identity import accounts
from careops.segments import service as segments
from careops.segments.saved import SegmentCreate
from careops.service import Ops
from careops.state.audit_trail import AuditFilter, list_audit
from tests.api.world import PASSWORD, build_warehouse, contacts_key, isolated_settings
from tests.web.test_pages import _csrf
from tests.web.test_segments_page import DAY, _ages

STAFF = {"operations": "ops-li", "analyst": "ana-chen", "medical": "dr-wang"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cockpit-seg-actions")
    key = contacts_key()
    settings = isolated_settings(
        CAREOPS_PRIVACY__CONTACTS_KEY=key, CAREOPS_PRIVACY__PSEUDONYM_KEY=contacts_key()
    )
    warehouse = f"duckdb:///{tmp / 'w.duckdb'}"
    state = f"sqlite:///{tmp / 'w.state.db'}"
    build_warehouse(warehouse, key)
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    segments.save(ops, SegmentCreate(name="adults", rule="age >= 30", description="成人"))
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
    page = client.get("/cockpit/segments", params={"as_of": DAY})
    return _csrf(page.text) if page.status_code == 200 else ""


def _ids(body: str) -> list[str]:
    lines = body.split("\r\n")
    assert lines[0] == "user_id" and lines[-1] == ""
    return lines[1:-1]


def test_a_saved_segment_exports_its_ids_audited(client, world):
    _, ops = world
    login(client, "operations")
    page = client.get("/cockpit/segments", params={"as_of": DAY}).text
    href = re.search(r'data-role="export" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = client.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="segment-adults-{DAY}.csv"' in r.headers["content-disposition"]
    assert _ids(r.text) == sorted(u for u, age in _ages().items() if age >= 30)
    entries, _ = list_audit(ops.state, AuditFilter(action="segment.export"), limit=50)
    mine = [e for e in entries if e.actor == "user:ops-li" and e.target == "segment:adults"]
    assert mine and mine[0].detail["total"] == len(_ids(r.text))
    # a rule exports the same way
    r = client.get("/cockpit/segments/export.csv", params={"rule": "age >= 60", "as_of": DAY})
    assert _ids(r.text) == sorted(u for u, age in _ages().items() if age >= 60)


def test_an_analyst_may_not_export_nor_create(client):
    login(client, "analyst")
    page = client.get("/cockpit/segments", params={"as_of": DAY}).text
    assert 'data-segment="adults"' in page
    assert 'data-role="export"' not in page and 'data-role="experiment"' not in page
    r = client.get("/cockpit/segments/export.csv", params={"segment": "adults"})
    assert r.status_code == 403 and "segments.export" in r.text
    assert 'id="experiment-new"' not in client.get("/cockpit/experiments").text
    r = client.get("/cockpit/experiments/new")
    assert r.status_code == 403 and "experiments.write" in r.text
    r = client.post("/cockpit/experiments/new", data={"csrf": "x", **_form()})
    assert r.status_code == 403 and "experiments.write" in r.text


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({}, 422, "segment"),
        ({"segment": "adults", "rule": "age > 1"}, 422, "segment"),
        ({"segment": "../etc"}, 422, "segment"),
        ({"segment": "nobody"}, 404, "nobody"),
        ({"rule": "age >>> 1"}, 422, "列"),
        ({"segment": "adults", "as_of": "2999-01-01"}, 422, "as_of"),
    ],
)
def test_hostile_exports(client, params, status, needle):
    login(client, "operations")
    r = client.get("/cockpit/segments/export.csv", params=params)
    assert r.status_code == status, r.text[:300]
    assert needle in r.text and "Traceback" not in r.text


def _form(**over) -> dict:
    form = {
        "key": "recall-test",
        "name": "沉默召回 <测试>",
        "segment": "adults",
        "control": "control",
        "treatment": "sms",
        "share": "30",
        "start": "2026-01-05",
        "end": "2026-02-02",
        "primary": "paid_conversion",
        "guardrail": "complaint_rate",
    }
    return {**form, **over}


def test_an_experiment_is_created_on_a_saved_segment(client, world):
    _, ops = world
    csrf = login(client, "operations")
    page = client.get("/cockpit/segments", params={"as_of": DAY}).text
    href = re.search(r'data-role="experiment" href="([^"]+)"', page).group(1)
    form_page = client.get(href.replace("&amp;", "&")).text
    assert '<option value="adults" selected>' in form_page and "新建实验" in form_page
    r = client.post("/cockpit/experiments/new", data={"csrf": "forged", **_form()})
    assert r.status_code == 403 and "CSRF" in r.text
    data = {**_form(), "csrf": csrf, "primary": ["paid_conversion", "arpu"]}
    r = client.post("/cockpit/experiments/new", data=data)
    assert r.status_code == 303, r.text[:500]
    assert r.headers["location"] == "/cockpit/experiments/recall-test?created=1"
    d = experiments.get(ops, "recall-test").definition
    assert d.segment == "adults" and d.control == "control" and d.name == "沉默召回 <测试>"
    assert {v.name: v.weight for v in d.variants} == {"control": 0.7, "sms": 0.3}
    assert d.primary_metrics == ("paid_conversion", "arpu")
    assert d.guardrail_metrics == ("complaint_rate",)
    assert d.start.isoformat() == "2026-01-04T16:00:00+00:00"  # 00:00 in Shanghai
    entries, _ = list_audit(ops.state, AuditFilter(action="experiment.create"), limit=5)
    assert any(e.target == "recall-test" and e.actor == "user:ops-li" for e in entries)
    shown = client.get(r.headers["location"]).text
    assert 'id="experiment-created"' in shown and "沉默召回 &lt;测试&gt;" in shown


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"key": "Bad Key"}, "key"),
        ({"key": ""}, "key"),
        ({"segment": "nobody"}, "segment"),
        ({"treatment": "control"}, "treatment"),
        ({"control": "对照"}, "control"),
        ({"share": "0"}, "share"),
        ({"share": "abc"}, "share"),
        ({"end": "2026-01-01"}, "end"),
        ({"start": "soon"}, "start"),
        ({"primary": ""}, "primary"),
        ({"primary": "nope"}, "primary"),
        ({"primary": "funnel"}, "primary"),
        ({"guardrail": "paid_conversion"}, "guardrail"),
        ({"name": "x\x07"}, "name"),
        ({"is_admin": "1"}, "is_admin"),
        ({"key": "taken"}, "taken"),
    ],
)
def test_a_bad_form_comes_back_naming_the_field_and_stores_nothing(client, world, over, needle):
    _, ops = world
    csrf = login(client, "operations")
    if over.get("key") == "taken" and "taken" not in [
        e.key for e in experiments.list_experiments(ops)
    ]:
        r = client.post("/cockpit/experiments/new", data={"csrf": csrf, **_form(key="taken")})
        assert r.status_code == 303
    before = sorted(e.key for e in experiments.list_experiments(ops))
    r = client.post("/cockpit/experiments/new", data={"csrf": csrf, **_form(**over)})
    assert r.status_code == 422, r.text[:500]
    assert 'id="form-error"' in r.text and needle in r.text and "Traceback" not in r.text
    assert sorted(e.key for e in experiments.list_experiments(ops)) == before
    # what was typed comes back (escaped)
    assert 'value="sms"' in r.text or over.get("treatment")


def test_english_form(client):
    login(client, "operations")
    client.get("/cockpit/lang/en", params={"next": "/cockpit/experiments/new"})
    page = client.get("/cockpit/experiments/new").text
    assert "New experiment" in page and "Primary metrics" in page and "Paid conversion" in page

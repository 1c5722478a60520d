"""The 人群圈选 page without a browser: a rule's live count (htmx fragment) against the ages of
the hand-built hospital, masked sample for roles that see patients, counts only for analysts,
save behind CSRF and `segments.write`, the saved list, and hostile rules answered in place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.segments import service
from careops.service import Ops
from tests.api.world import (
    AS_OF,
    PASSWORD,
    build_warehouse,
    contacts_key,
    hospital,
    isolated_settings,
)
from tests.web.test_pages import _csrf

STAFF = {"operations": "ops-li", "analyst": "ana-chen", "medical": "dr-wang"}
DAY = AS_OF.isoformat()


def _ages() -> dict[str, int]:
    """Each hand-built patient's age in whole years at AS_OF (the reference for counts)."""
    out = {}
    for row in hospital().rows["patients"]:
        b: date = row["birth_date"]
        out[row["user_id"]] = AS_OF.year - b.year - ((AS_OF.month, AS_OF.day) < (b.month, b.day))
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cockpit-seg")
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


def _count(html: str) -> int:
    return int(re.search(r'id="segment-count" data-count="(\d+)"', html).group(1))


@pytest.mark.parametrize("years", [0, 30, 60, 200])
def test_the_live_count_equals_the_ages_of_the_hospital(client, years):
    login(client, "operations")
    r = client.get(
        "/cockpit/segments/count",
        params={"rule": f"age >= {years}", "as_of": DAY},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "<html" not in r.text  # a fragment for htmx
    expected = sorted(u for u, age in _ages().items() if age >= years)
    assert _count(r.text) == len(expected)
    assert re.findall(r'data-user="(\w+)"', r.text) == expected[:10]


def test_the_sample_is_masked_and_audited(client, world):
    _, ops = world
    login(client, "operations")
    page = client.get("/cockpit/segments", params={"rule": "age >= 60", "as_of": DAY}).text
    assert re.findall(r'data-user="(\w+)"', page) == ["p1"]
    row = re.search(r'data-user="p1">.*?</tr>', page).group(0)
    assert "张" in row and "三丰" not in row and "138" not in row
    from careops.state.audit_trail import AuditFilter, list_audit

    entries, _ = list_audit(ops.state, AuditFilter(actor="user:ops-li", subject="p1"), limit=5)
    assert any(e.action == "patient.read" for e in entries)


def test_an_analyst_gets_counts_without_patient_ids_and_no_save_form(client):
    login(client, "analyst")
    page = client.get("/cockpit/segments", params={"rule": "age >= 30", "as_of": DAY}).text
    assert _count(page) == sum(age >= 30 for age in _ages().values())
    assert 'id="ids-withheld"' in page and "data-user=" not in page
    assert 'id="save-form"' not in page
    form = {"csrf": _csrf(page), "name": "x", "rule": "age >= 1"}
    r = client.post("/cockpit/segments/save", data=form)
    assert r.status_code == 403 and "segments.write" in r.text


def test_save_needs_csrf_then_lists_and_reopens_the_segment(client, world):
    _, ops = world
    csrf = login(client, "operations")
    form = {"name": "elderly", "rule": "age >= 60", "description": "老年人群"}
    r = client.post("/cockpit/segments/save", data={"csrf": "forged", **form})
    assert r.status_code == 403 and "CSRF" in r.text
    assert "elderly" not in [s.name for s in service.list_saved(ops)]
    r = client.post("/cockpit/segments/save", data={"csrf": csrf, **form})
    assert r.status_code == 303
    saved = service.get(ops, "elderly")
    assert (saved.version, saved.description) == (1, "老年人群")
    page = client.get(r.headers["location"]).text
    assert 'id="segment-saved"' in page and 'data-segment="elderly"' in page
    assert _count(page) == service.count(ops, service.Target(segment="elderly"), AS_OF).count
    r = client.post("/cockpit/segments/save", data={"csrf": csrf, **form, "rule": "age >= 65"})
    assert r.status_code == 303 and service.get(ops, "elderly").version == 2


def test_a_role_without_segments_read_is_refused(client):
    login(client, "medical")
    for path in ("/cockpit/segments", "/cockpit/segments/count?rule=age%20%3E%3D%201"):
        r = client.get(path)
        assert r.status_code == 403 and "segments.read" in r.text


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("age >>= 3", "列"),
        ('lifecycle == "nonsense"', "nonsense"),
        ("no_such_tag == 1", "no_such_tag"),
        ("(" * 40 + "age > 1" + ")" * 40, "32"),
        ("<script>alert(1)</script>", "column"),
    ],
)
def test_a_bad_rule_is_answered_in_place_naming_where(client, rule, needle):
    login(client, "operations")
    r = client.get("/cockpit/segments/count", params={"rule": rule, "as_of": DAY})
    assert r.status_code == 200 and 'id="rule-error"' in r.text, r.text[:300]
    assert needle in r.text and "<script>alert" not in r.text
    page = client.get("/cockpit/segments", params={"rule": rule, "as_of": DAY})
    assert page.status_code == 422 and 'id="rule-error"' in page.text


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"rule": "age > 1" + " " * 10 + "x" * 5000}, 422, "rule"),
        ({"rule": "age > 1\x00"}, 422, "rule"),
        ({"rule": "age > 1", "as_of": "2999-01-01"}, 422, "as_of"),
        ({"segment": "no-such-segment"}, 404, "no-such-segment"),
    ],
)
def test_hostile_queries_are_a_page_naming_the_field(client, params, status, field):
    login(client, "operations")
    r = client.get("/cockpit/segments", params=params)
    assert r.status_code == status, r.text[:300]
    assert field in r.text and "Traceback" not in r.text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "bad name!", "rule": "age > 1"}, "name"),
        ({"name": "ok", "rule": "age >>> 1"}, "列"),
        ({"name": "ok", "rule": "age > 1", "description": "x\x07"}, "description"),
    ],
)
def test_a_bad_save_changes_nothing(client, world, form, field):
    _, ops = world
    csrf = login(client, "operations")
    before = [s.name for s in service.list_saved(ops)]
    r = client.post("/cockpit/segments/save", data={"csrf": csrf, **form})
    assert r.status_code == 422 and field in r.text
    assert [s.name for s in service.list_saved(ops)] == before


def test_english_labels(client):
    login(client, "operations")
    client.get("/cockpit/lang/en", params={"next": "/cockpit/segments"})
    page = client.get("/cockpit/segments", params={"rule": "age >= 30", "as_of": DAY}).text
    assert '<html lang="en">' in page and "Build a segment" in page and "patients match" in page
    bad = client.get("/cockpit/segments/count", params={"rule": "age >>= 3", "as_of": DAY}).text
    assert "The rule is not valid" in bad and "column" in bad

"""The portrait's model block without a browser, on the hand-built hospital: a stored churn
score (the smart table a `churn score --store` run writes) shown with its band, its reasons
in order and its scoring day; next need; nothing invented for a patient never scored; the
recommendations fragment within the role's scope, saying when no model is registered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.service import Ops
from careops.tags.smart import store_scores
from careops.warehouse import connect
from careops.web.views import churn_band
from tests.api.world import AS_OF, PASSWORD, build_warehouse, contacts_key, isolated_settings
from tests.web.test_pages import _csrf

STAFF = {"operations": "ops-li", "auditor": "aud-sun", "medical": "dr-wang"}
SCORED = AS_OF - timedelta(days=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cockpit-scores")
    key = contacts_key()
    settings = isolated_settings(
        CAREOPS_PRIVACY__CONTACTS_KEY=key, CAREOPS_PRIVACY__PSEUDONYM_KEY=contacts_key()
    )
    warehouse = f"duckdb:///{tmp / 'w.duckdb'}"
    state = f"sqlite:///{tmp / 'w.state.db'}"
    build_warehouse(warehouse, key)
    con = connect(warehouse)
    churn = {
        "user_id": ["p1"],
        "churn_score": pa.array([87], pa.int16()),
        "churn_reasons": ["近45天未打开应用; 有未解决的投诉; <b>服务包将到期</b>"],
        "churn_driver": ["service"],
    }
    store_scores(con, "churn", SCORED, pa.table(churn))
    store_scores(con, "nextneed", SCORED, pa.table({"user_id": ["p1"], "next_need": ["复诊"]}))
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    yield create_app(settings, warehouse=warehouse, state=state), ops
    ops.close()


@pytest.fixture
def client(world) -> Iterator[TestClient]:
    with TestClient(world[0], follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, role: str) -> None:
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": STAFF[role], "password": PASSWORD},
    )
    assert r.status_code == 303, r.text


def test_a_stored_churn_score_shows_with_band_reasons_and_day(client):
    login(client, "operations")
    page = client.get(f"/cockpit/patients/p1?as_of={AS_OF}").text
    assert 'id="churn-score" data-score="87" data-band="high"' in page
    assert "高风险" in page and f'id="churn-scored">{SCORED}<' in page
    reasons = page.split('<ol id="churn-reasons">')[1].split("</ol>")[0]
    assert reasons == (
        "<li>近45天未打开应用</li><li>有未解决的投诉</li><li>&lt;b&gt;服务包将到期&lt;/b&gt;</li>"
    )
    assert 'id="next-need">' in page and "复诊" in page
    assert 'id="churn-driver">服务体验<' in page
    assert 'id="churn-model">—<' in page  # no churn model registered in this warehouse
    assert 'hx-get="/cockpit/patients/p1/recommendations?as_of=' in page


def test_a_patient_never_scored_shows_no_invented_score(client):
    login(client, "operations")
    page = client.get(f"/cockpit/patients/p2?as_of={AS_OF}").text
    assert 'id="no-scores"' in page and 'id="churn-score"' not in page


def test_scores_older_than_the_as_of_day_are_not_read_back_in_time(client):
    login(client, "operations")
    page = client.get(f"/cockpit/patients/p1?as_of={SCORED - timedelta(days=1)}").text
    assert 'id="no-scores"' in page


def test_recommendations_fragment_says_when_no_model_and_keeps_the_scope(client):
    login(client, "operations")
    r = client.get(f"/cockpit/patients/p1/recommendations?as_of={AS_OF}")
    assert r.status_code == 200 and 'id="no-rec-model"' in r.text and "<html" not in r.text
    r = client.get("/cockpit/patients/nobody/recommendations")
    assert r.status_code in (403, 404) and "Traceback" not in r.text
    client.cookies.clear()
    login(client, "auditor")
    r = client.get("/cockpit/patients/p1/recommendations")
    assert r.status_code == 403 and "models.read" in r.text


def test_bands():
    assert [churn_band(s) for s in (None, 0, 49, 50, 79, 80, 100)] == [
        "none",
        "low",
        "low",
        "mid",
        "mid",
        "high",
        "high",
    ]


def test_a_page_of_portraits_equals_the_portraits_one_by_one_and_audits_each(world):
    from careops.patients import service as patients
    from careops.state.audit_trail import AuditFilter, list_audit

    _, ops = world
    together = patients.portraits(ops, ["p2", "p1"], AS_OF)
    alone = [patients.portrait(ops, u, AS_OF) for u in ("p2", "p1")]
    assert together == alone and [p.user_id for p in together] == ["p2", "p1"]
    assert together[1].tags["churn_score"] == 87
    entries, _ = list_audit(ops.state, AuditFilter(action="patient.read", subject="p2"), limit=10)
    assert len(entries) >= 2
    assert patients.portraits(ops, [], AS_OF) == []

"""Service packages over HTTP: the catalogue, a patient's enrolments and usage (scoped and
audited), who is behind on activation, renewal, SLAs and outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.state.models import audit_log
from tests.api.world import AS_OF, World, close_world, make_world
from tests.conftest import fill

DAY = AS_OF.isoformat()
EN = {"Accept-Language": "en"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from careops.care import packages_service

    w = make_world(tmp_path_factory.mktemp("packages-api"))
    e = packages_service.enroll(
        w.ops, "p1", "PKG-HTN365", key="pay-1", at=datetime(2026, 1, 15, 2, tzinfo=UTC)
    )
    uses = pa.table(
        {
            "usage_id": ["use1", "use2"],
            "enrollment_id": [e.enrollment_id] * 2,
            "user_id": ["p1", "p1"],
            "ts": [datetime(2026, 1, 20, tzinfo=UTC), datetime(2026, 2, 19, tzinfo=UTC)],
            "entitlement": ["consultation", "consultation"],
        }
    )
    with w.ops.warehouse() as con:
        fill(con, {"entitlement_usage": uses})
    yield w
    close_world(w)


def get(world: World, who: str, path: str, headers: dict | None = None, **params):
    return world.client.get(
        "/api/v1" + path, params=params, headers=world.headers[who] | (headers or {})
    )


def last_audit(world: World):
    with world.ops.state.connect() as conn:
        return conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()


def test_the_catalogue_in_either_language(world):
    zh = {p["package_id"]: p for p in get(world, "medical", "/packages").json()}
    en = {p["package_id"]: p for p in get(world, "analyst", "/packages", EN).json()}
    htn = zh["PKG-HTN365"]
    assert htn["name"] == "高血压年度管理包" and en["PKG-HTN365"]["name"].startswith("Hypertension")
    assert htn["price_cny"] == 1980 and htn["launch_price_cny"] == 1680
    assert htn["tier"] == "vip" and htn["sla_first_reply_s"] == 30
    ent = {e["kind"]: e for e in htn["entitlements"]}
    assert ent["consultation"] == {"kind": "consultation", "label": "图文问诊", "included": 24}
    assert get(world, "auditor", "/packages").status_code == 403


def test_a_patients_usage_is_scoped_and_audited(world):
    r = get(world, "medical", "/patients/p1/packages", as_of=DAY)
    assert r.status_code == 200, r.text
    (e,) = r.json()["enrollments"]
    assert e["package_id"] == "PKG-HTN365" and e["package_name"] == "高血压年度管理包"
    used = {x["kind"]: x for x in e["entitlements"]}
    consult = used["consultation"]
    assert consult["included"] == 24 and consult["used"] + consult["left"] == 24
    assert consult["used"] == 2  # the two uses recorded for p1
    row = last_audit(world)
    assert row.action == "packages.usage" and row.subject == "p1" and row.role == "medical"
    assert row.request_id == r.headers["x-request-id"]
    # a doctor of 心血管内科 never saw p2; an unknown id gets the same answer
    assert get(world, "medical", "/patients/p2/packages").status_code == 403
    assert get(world, "medical", "/patients/nobody/packages").status_code == 403
    assert get(world, "operations", "/patients/nobody/packages").status_code == 404
    assert get(world, "analyst", "/patients/p1/packages").status_code == 403
    assert get(world, "health_manager", "/patients/p1/packages").status_code == 200


def test_who_is_behind_on_activation_paged(world):
    r = get(world, "operations", "/packages/activation", as_of=DAY)
    assert r.status_code == 200, r.text
    body = r.json()
    (row,) = [i for i in body["items"] if i["user_id"] == "p1"]
    assert row["package_id"] == "PKG-HTN365" and row["uses"] == 2 and row["short"] == 3
    assert row["day"] == 45 and 44 <= row["days_left"] <= 45  # enrolled 2026-01-15
    assert body["total"] >= 1 and body["limit"] == 50
    assert last_audit(world).action == "packages.activation"
    page = get(world, "operations", "/packages/activation", as_of=DAY, limit=1, offset=5)
    assert page.json()["items"] == [] and page.json()["total"] == body["total"]
    one = get(world, "operations", "/packages/activation", as_of=DAY, package_id="PKG-HTN365")
    assert one.json()["total"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"package_id": "PKG-NOPE"}, "package_id"),
        ({"package_id": "../etc"}, "package_id"),
        ({"as_of": "2026-13-01"}, "as_of"),
        ({"limit": 0}, "limit"),
        ({"behind": "yes"}, "behind"),
    ],
)
def test_bad_activation_queries_name_the_field(world, params, field):
    r = get(world, "operations", "/packages/activation", **params)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["error"]["detail"]) + r.json()["error"]["message"]


def test_renewal_and_outcomes_are_aggregates(world):
    r = get(world, "analyst", "/packages/renewal", as_of=DAY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"as_of", "activated", "not_activated", "overall"}
    assert body["overall"]["ended"] == body["activated"]["ended"] + body["not_activated"]["ended"]
    out = get(world, "analyst", "/packages/outcomes", as_of=DAY)
    assert out.status_code == 200 and isinstance(out.json(), list)
    assert get(world, "medical", "/packages/renewal").status_code == 403


def test_sla_breaches_list_patients_only_for_those_who_may_see_them(world):
    ops_view = get(world, "operations", "/packages/sla", as_of=DAY, days=365)
    analyst = get(world, "analyst", "/packages/sla", as_of=DAY, days=365)
    assert ops_view.status_code == analyst.status_code == 200, analyst.text
    a, o = analyst.json(), ops_view.json()
    assert a["breaches"] == [] and a["total_breaches"] == o["total_breaches"]
    assert a["rows"] == o["rows"]
    assert len(o["breaches"]) == min(o["total_breaches"], 50)
    assert get(world, "operations", "/packages/sla", days=0).status_code == 422

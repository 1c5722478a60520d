"""Care programmes over HTTP (one small hospital for all): service packages (the catalogue, a
patient's enrolments and usage, who is behind on activation, renewal, SLAs, outcomes), the
personal health record, the alerts raised as readings arrive, and the alert-rules setting."""

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


def test_the_health_record_is_clinical_scoped_and_audited(world):
    r = get(world, "medical", "/patients/p1/health-record", as_of=DAY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == "p1" and body["as_of"] == DAY
    assert [c["code"] for c in body["conditions"]] == ["I10"]
    assert [m["drug_name"] for m in body["medications"]] == ["氨氯地平"]
    (plan,) = body["plans"]
    assert plan["condition"] == "I10" and plan["measure"] == "bp" and plan["targets"]
    assert all(t["text"] for t in plan["targets"])
    row = last_audit(world)
    assert row.action == "health.record" and row.subject == "p1" and row.role == "medical"
    en = get(world, "health_manager", "/patients/p1/health-record", EN, as_of=DAY)
    assert en.status_code == 200 and en.json()["plans"][0]["name"] != plan["name"]
    assert get(world, "medical", "/patients/p2/health-record").status_code == 403
    assert get(world, "health_manager", "/patients/p2/health-record").status_code == 403
    for who in ("operations", "admin", "analyst", "auditor"):
        assert get(world, who, "/patients/p1/health-record").status_code == 403, who
    bad = get(world, "medical", "/patients/p1/health-record", as_of="tomorrow")
    assert bad.status_code == 422 and "as_of" in str(bad.json()["error"]["detail"])


def _reading(world: World, event_id: str, **props) -> None:
    now = datetime.now(UTC).isoformat()
    body = {
        "events": [
            {
                "event_id": event_id,
                "user_id": "p1",
                "ts": now,
                "name": "device_reading",
                "properties": props,
            }
        ]
    }
    r = world.client.post("/api/v1/events", json=body, headers=world.headers["admin"])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_a_reading_through_the_intake_raises_an_alert_the_doctor_lists(world):
    _reading(world, "bp-crisis-1", systolic=186, diastolic=100, unit="mmHg")
    r = get(world, "medical", "/care/alerts")
    assert r.status_code == 200, r.text
    (alert,) = [a for a in r.json()["items"] if a["detail"]["rule"] == "bp_crisis"]
    assert alert["user_id"] == "p1" and alert["kind"] == "alert"
    assert alert["purpose"] == "medical" and alert["department"] == "心血管内科"
    assert get(world, "operations", "/care/alerts").json()["total"] == 0  # medical: not theirs
    assert get(world, "analyst", "/care/alerts").status_code == 403
    assert get(world, "medical", "/care/alerts", status="maybe").status_code == 422


RULES = """rules:
  bp_watch:
    title: 血压偏高复核(≥160)
    title_en: Raised blood pressure (>=160)
    when:
      - {codes: ["8480-6"], op: ">=", value: 160}
    assignee_role: health_manager
    due_minutes: 120
"""


def test_a_hospitals_own_rules_file_is_used_by_the_intake_and_shown(world, tmp_path):
    settings = world.client.app.state.settings
    path = tmp_path / "our_rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    settings.health.alert_rules = str(path)
    try:
        r = get(world, "health_manager", "/care/alert-rules")
        assert r.status_code == 200, r.text
        assert r.json()["source"] == "our_rules.yaml"
        assert [x["rule"] for x in r.json()["rules"]] == ["bp_watch"]
        _reading(world, "bp-watch-1", systolic=165, diastolic=95)
        seen = get(world, "health_manager", "/care/alerts").json()["items"]
        assert [a["detail"]["rule"] for a in seen] == ["bp_watch"]
        # an edit applies without a restart; a bad edit is refused naming the line and field
        path.write_text(RULES.replace('op: ">="', 'op: "=>"'), encoding="utf-8")
        bad = get(world, "admin", "/care/alert-rules")
        assert bad.status_code == 422
        assert "our_rules.yaml" in bad.text and "line 6" in bad.text and "op" in bad.text
    finally:
        settings.health.alert_rules = None
    shipped = get(world, "admin", "/care/alert-rules", EN).json()
    assert shipped["source"] == "shipped" and "bp_crisis" in [x["rule"] for x in shipped["rules"]]


def test_the_service_refuses_to_start_on_a_bad_rules_file(tmp_path):
    from careops.api.app import create_app
    from careops.errors import ConfigError
    from tests.api.world import isolated_settings

    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("due_minutes: 120", "due_minutes: 120\n    colour: red"))
    settings = isolated_settings(CAREOPS_HEALTH__ALERT_RULES=str(path))
    with pytest.raises(ConfigError, match=r"rules.yaml: .*line 9: rules.bp_watch.colour"):
        create_app(settings, warehouse=f"duckdb:///{tmp_path / 'w.duckdb'}")

"""Segments over HTTP: count, sample, export pages, saved segments; rules checked by the
compiler (its message names the position), ids only for those who may see every patient,
hostile rule text answered with 4xx."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careops.state.models import audit_log
from tests.api.world import AS_OF, World, close_world, make_world

V1 = "/api/v1/segments"
DAY = AS_OF.isoformat()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("segments-api"))
    yield w
    close_world(w)


def post(world: World, who: str, path: str, body, **params):
    return world.client.post(V1 + path, json=body, headers=world.headers[who], params=params)


def test_count_by_text_rule_json_rule_and_saved_segment(world):
    r = post(world, "operations", "/count", {"rule": "age >= 18", "as_of": DAY})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 3 and r.json()["rule_text"]
    as_json = {"tag": "age", "op": ">=", "value": 60}
    assert post(world, "analyst", "/count", {"rule": as_json, "as_of": DAY}).json()["count"] == 1
    r = world.client.put(
        V1 + "/saved/elderly", json={"rule": "age >= 60"}, headers=world.headers["operations"]
    )
    assert r.status_code == 200 and r.json()["version"] == 1
    r = post(world, "operations", "/count", {"segment": "elderly", "as_of": DAY})
    assert r.json() | {"notes": []} == {
        "rule_text": r.json()["rule_text"],
        "segment": "elderly",
        "as_of": DAY,
        "count": 1,
        "notes": [],
    }


def test_a_bad_rule_is_422_with_the_compilers_message(world):
    r = post(world, "operations", "/count", {"rule": "age >= >= 18", "as_of": DAY})
    assert r.status_code == 422
    assert "column 8" in r.json()["error"]["detail"]
    r = post(world, "operations", "/count", {"rule": "agee >= 18", "as_of": DAY})
    assert r.status_code == 422 and "age" in r.json()["error"]["detail"]  # did you mean


@pytest.mark.parametrize(
    "body",
    [
        {"as_of": DAY},  # neither rule nor segment
        {"rule": "age >= 1", "segment": "elderly"},  # both
        {"rule": "age >= 1", "owner": "admin"},  # an unknown field
        {"rule": "age >= 1", "as_of": "2026-13-01"},
        {"rule": "age >= 1", "as_of": "9999-01-01"},  # the future
        {"segment": "../../etc/passwd"},
        {"segment": "x" * 65},
    ],
)
def test_malformed_queries_are_422(world, body):
    r = post(world, "operations", "/count", body)
    assert r.status_code == 422, r.text[:300]
    assert r.json()["error"]["code"] == "invalid_input"


HOSTILE_RULES = [
    "age >= 18' OR '1'='1",
    'sex == "F"; DROP TABLE patients; --',
    "sex == 'F\x00'",
    "\x00\x01\x02",
    "<script>alert(1)</script>",
    "age >= " + "9" * 10_000,
    "(" * 5_000 + "age >= 1" + ")" * 5_000,
    "age >= 1 and " * 1_000 + "age >= 1",
    "x" * 100_001,
    "searched('../../etc/passwd', within='30d')",
]


@pytest.mark.parametrize("rule", HOSTILE_RULES, ids=range(len(HOSTILE_RULES)))
def test_hostile_rule_text_is_4xx_never_500(world, rule):
    for path in ("/count", "/sample", "/export"):
        r = post(world, "operations", path, {"rule": rule, "as_of": DAY})
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.json()["error"]["code"] in {"invalid_input", "too_large"}


def test_a_quoted_value_is_a_value_not_sql(world):
    rule = "searched(\"' OR '1'='1\", within=\"30d\")"
    r = post(world, "operations", "/count", {"rule": rule, "as_of": DAY})
    assert r.status_code == 200 and r.json()["count"] == 0


def test_sample_gives_ids_only_and_withholds_them_from_analysts(world):
    r = post(world, "operations", "/sample", {"rule": "age >= 18", "as_of": DAY, "limit": 2})
    body = r.json()
    assert r.status_code == 200 and body["user_ids"] == ["p1", "p3"] and not body["ids_withheld"]
    assert "tags" not in body and "rows" not in body  # ids only, never the tags the rule read
    r = post(world, "analyst", "/sample", {"rule": "age >= 18", "as_of": DAY})
    assert r.status_code == 200 and r.json()["user_ids"] == [] and r.json()["ids_withheld"]
    too_many = {"rule": "age >= 18", "as_of": DAY, "limit": 101}
    assert post(world, "operations", "/sample", too_many).status_code == 422


def test_export_pages_cover_the_segment_and_each_page_is_audited(world):
    body = {"rule": "age >= 18", "as_of": DAY}
    first = post(world, "operations", "/export", body, limit=2).json()
    second = post(world, "operations", "/export", body, limit=2, offset=2).json()
    assert first["total"] == second["total"] == 3
    assert first["items"] + second["items"] == ["p1", "p3", "p4"]
    with world.ops.state.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.action == "segment.export")
            .order_by(audit_log.c.id)
        ).all()
    assert [(r.actor, r.detail["rows"], r.detail["offset"]) for r in rows[-2:]] == [
        ("user:operations", 2, 0),
        ("user:operations", 1, 2),
    ]
    assert post(world, "analyst", "/export", body).status_code == 403  # no segments.export


def test_saved_segments_put_get_list_delete(world):
    headers = world.headers["operations"]
    r = world.client.put(
        V1 + "/saved/night_owls",
        json={"rule": "night_owl", "description": "夜猫子"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "night_owls" and "saved_by" not in r.json()
    r = world.client.put(V1 + "/saved/night_owls", json={"rule": "not night_owl"}, headers=headers)
    assert r.json()["version"] == 2
    assert world.client.get(V1 + "/saved/night_owls", headers=headers).json()["version"] == 2
    names = [s["name"] for s in world.client.get(V1 + "/saved", headers=headers).json()]
    assert "night_owls" in names
    assert world.client.delete(V1 + "/saved/night_owls", headers=headers).status_code == 204
    r = world.client.get(V1 + "/saved/night_owls", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("bad name", {"rule": "age >= 1"}),
        ("ok", {"rule": "age >= 1", "version": 9}),  # mass assignment
        ("ok", {"rule": "age >= 1", "saved_by": "admin"}),
        ("ok", {"rule": "age >= 1", "description": "x" * 501}),
        ("ok", {"rule": "agee >= 1"}),
        ("ok", {}),
    ],
)
def test_bad_saves_are_422_and_store_nothing(world, name, body):
    r = world.client.put(f"{V1}/saved/{name}", json=body, headers=world.headers["operations"])
    assert r.status_code == 422, r.text[:300]
    r = world.client.get(f"{V1}/saved/{name}", headers=world.headers["operations"])
    assert r.status_code in (404, 422)


def test_a_segment_an_experiment_targets_is_kept(world):
    headers = world.headers["operations"]
    world.client.put(V1 + "/saved/targeted", json={"rule": "age >= 18"}, headers=headers)
    r = world.client.post(
        "/api/v1/experiments",
        json={
            "key": "targets-it",
            "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}],
            "control": "a",
            "segment": "targeted",
            "primary_metrics": ["consult_rate"],
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = world.client.delete(V1 + "/saved/targeted", headers=headers)
    assert r.status_code == 409 and "targets-it" in r.json()["error"]["detail"]

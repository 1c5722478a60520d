"""Tags and layers over HTTP: definitions, snapshots, counts per layer, migration — codes with
labels in the caller's language."""

from __future__ import annotations

import pytest

from tests.api.world import AS_OF, World, close_world, make_world

DAY = AS_OF.isoformat()
EN = {"Accept-Language": "en-GB,en;q=0.8"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("tags-api"))
    yield w
    close_world(w)


def get(world: World, who: str, path: str, headers: dict | None = None, **params):
    return world.client.get(
        "/api/v1" + path, params=params, headers=world.headers[who] | (headers or {})
    )


def test_tag_definitions_with_labels_in_either_language(world):
    zh = {t["name"]: t for t in get(world, "medical", "/tags").json()}
    en = {t["name"]: t for t in get(world, "medical", "/tags", EN).json()}
    assert zh["lifecycle"]["label"] == "生命周期" and en["lifecycle"]["label"] == "Lifecycle"
    values = {v["code"]: v["label"] for v in zh["lifecycle"]["values"]}
    assert values["occasional"] == "低频用户" and zh["lifecycle"]["dimension"] == "lifecycle"
    assert zh["lifecycle"]["description"] and zh.keys() == en.keys()


def test_layer_counts_are_codes_with_labels_and_add_up(world):
    r = get(world, "operations", "/layers", as_of=DAY)
    assert r.status_code == 200, r.text
    body = r.json()
    lifecycle = [c for c in body["layers"] if c["dimension"] == "lifecycle"]
    assert sum(c["users"] for c in lifecycle) == 4
    assert {c["dimension_label"] for c in lifecycle} == {"生命周期"}
    en = get(world, "operations", "/layers", EN, as_of=DAY).json()
    assert [c["code"] for c in en["layers"]] == [c["code"] for c in body["layers"]]
    groups = {c["code"]: c for c in en["layers"] if c["dimension"] == "groups"}
    assert groups["elderly"]["users"] == 1 and groups["child"]["users"] == 1
    assert groups["child"]["label"] == "Child" and groups["elderly"]["label"] == "Elderly"


def test_compute_stores_the_snapshot_the_layers_then_read(world):
    r = world.client.post(
        "/api/v1/tags/compute", json={"as_of": DAY}, headers=world.headers["operations"]
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"as_of": DAY, "table": "tag_snapshot_20260301", "patients": 4}
    assert get(world, "operations", "/layers", as_of=DAY).json()["stale"] is None


@pytest.mark.parametrize(
    "body",
    [{"as_of": "9999-01-01"}, {"as_of": "2026-03-01", "table": "x"}, {}, {"as_of": "' OR 1=1"}],
)
def test_bad_compute_requests_are_422(world, body):
    r = world.client.post("/api/v1/tags/compute", json=body, headers=world.headers["operations"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_migration_between_two_dates(world):
    r = get(world, "analyst", "/layers/migration", start="2026-02-01", end=DAY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dimension"] == "lifecycle" and body["dimension_label"] == "生命周期"
    assert sum(row["users"] for row in body["rows"]) == 4
    assert all({"from", "from_label", "to", "to_label", "users"} == set(r) for r in body["rows"])


@pytest.mark.parametrize(
    "params",
    [
        {"start": DAY, "end": "2026-02-01"},  # end before start
        {"start": "2026-02-01", "end": DAY, "dimension": "income"},
        {"start": "2026-02-01", "end": DAY, "dimension": "lifecycle' OR 1=1"},
        {"start": "2026-02-01"},
        {"start": "2026-02-01", "end": "9999-01-01"},
    ],
)
def test_bad_migration_requests_are_422(world, params):
    r = get(world, "operations", "/layers/migration", **params)
    assert r.status_code == 422, r.text[:300]

"""Metrics and the report's data over HTTP: codes and numbers, labels in the caller's language,
parameters validated."""

from __future__ import annotations

import pytest

from careops.report.build import KPIS
from tests.api.world import AS_OF, World, close_world, make_world

DAY = AS_OF.isoformat()
EN = {"Accept-Language": "en"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("metrics-api"))
    yield w
    close_world(w)


def get(world: World, path: str, who: str = "analyst", headers: dict | None = None, **params):
    return world.client.get(
        "/api/v1" + path, params=params, headers=world.headers[who] | (headers or {})
    )


def test_the_metric_list_in_either_language(world):
    zh = {m["name"]: m for m in get(world, "/metrics").json()}
    en = {m["name"]: m for m in get(world, "/metrics", headers=EN).json()}
    assert zh.keys() == en.keys() and "d7_retention" in zh
    assert zh["d7_retention"]["label"] == "7日留存" and en["d7_retention"]["label"] != "7日留存"
    assert zh["consult_rate"]["category"] == "conversion"
    assert zh["consult_rate"]["params"] == {"window_days": None}


def test_one_metric_as_of_a_date_with_its_numerator_and_denominator(world):
    r = get(world, "/metrics/consult_rate", as_of=DAY, window=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "metric" and body["as_of"] == DAY and body["data_end"] is None
    result = body["result"]
    assert result["params"]["window_days"] == 30
    # active in the 30 days before as-of: p1, p2 (consulted) and p4 (opened the app)
    assert (result["numerator"], result["denominator"]) == (2, 3)
    assert result["value"] == pytest.approx(2 / 3)


def test_a_breakdown_labels_its_groups(world):
    r = get(world, "/metrics/new_users", as_of=DAY, by="sex", window=365)
    groups = {g["group"]: g for g in r.json()["result"]["groups"]}
    assert r.status_code == 200 and set(groups) <= {"F", "M"}
    assert all(g["label"] for g in groups.values())


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/metrics/no_such_metric", {"as_of": DAY}),
        ("/metrics/consult_rate", {"as_of": "9999-01-01"}),
        ("/metrics/consult_rate", {"as_of": DAY, "by": "no_such_column"}),
        ("/metrics/consult_rate", {"as_of": DAY, "by": "sex; DROP TABLE patients"}),
        ("/metrics/consult_rate", {"as_of": DAY, "window": 0}),
        ("/metrics/consult_rate", {"as_of": DAY, "window": 10**12}),
        ("/metrics/funnel", {"as_of": DAY, "window": 30}),  # takes no window
        ("/metrics/" + "x" * 10_000, {}),
        ("/report", {"as_of": DAY, "by": "nothing_like_it"}),
    ],
)
def test_bad_metric_requests_are_4xx(world, path, params):
    r = get(world, path, **params)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.json()["error"]["code"] in {"invalid_input", "not_found"}


def test_the_report_data_as_json(world):
    r = get(world, "/report", who="operations", as_of=DAY)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert [k["name"] for k in body["kpis"]] == list(KPIS)
    consult = next(k for k in body["kpis"] if k["name"] == "consult_rate")
    assert consult["label"] == "问诊率" and consult["category"] == "conversion"
    assert body["funnel"]["kind"] == "funnel" and body["cohort"]["kind"] == "cohort"
    assert set(body["channels"]) == {"new_users", "cac", "ltv", "roi"}
    assert body["as_of"] == DAY and body["by"] == "channel"


def test_nan_and_infinities_become_null_at_any_depth():
    from careops.api.encode import finite

    data = {"a": float("nan"), "b": [1.5, float("inf"), {"c": -float("inf")}], "d": (2,), "e": "x"}
    assert finite(data) == {"a": None, "b": [1.5, None, {"c": None}], "d": [2], "e": "x"}

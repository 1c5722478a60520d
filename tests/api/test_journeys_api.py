"""Journeys over HTTP: the catalogue, one journey, validation with line numbers."""

from __future__ import annotations


def test_the_catalogue_lists_the_shipped_templates_and_shows_one(api, login):
    headers = login("operations")
    r = api.get("/api/v1/journeys", headers=headers)
    assert r.status_code == 200
    keys = {j["key"] for j in r.json()}
    assert {"new_user", "silent_recall", "glucose_alert"} <= keys
    one = api.get("/api/v1/journeys/silent_recall", headers=headers)
    assert one.status_code == 200 and one.json()["definition"]


def test_a_path_or_unknown_key_reveals_no_server_file(api, login):
    headers = login("operations")
    assert api.get("/api/v1/journeys/..%2F..%2Fetc%2Fpasswd", headers=headers).status_code in (
        404,
        422,
    )
    assert api.get("/api/v1/journeys/no_such_journey", headers=headers).status_code in (404, 422)


def test_validation_names_the_line_of_each_problem(api, login):
    headers = login("operations")
    text = "key: demo\nname: {zh: 演示, en: Demo}\nsteps: 3\n"
    r = api.post("/api/v1/journeys/validate", json={"text": text}, headers=headers)
    assert r.status_code == 200
    report = r.json()
    assert report["valid"] is False and report["problems"]
    assert all(p["line"] >= 1 for p in report["problems"])


def test_analysts_may_not_read_journeys(api, login):
    assert api.get("/api/v1/journeys", headers=login("analyst")).status_code == 403

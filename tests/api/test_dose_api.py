"""POST /api/v1/dose/check: the paediatric dosage check over HTTP, for doctors and the HIS."""

from __future__ import annotations


def test_an_order_over_the_limit_is_blocked_with_its_reason(api, login):
    headers = login("medical", ("儿科",))
    ok = api.post(
        "/api/v1/dose/check",
        json={"drug": "ibuprofen", "age_months": 24, "weight_kg": 12, "dose_mg": 100},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.json()["allowed"] is True
    over = api.post(
        "/api/v1/dose/check",
        json={"drug": "美林", "age_months": 24, "weight_kg": 12, "dose_mg": 400, "per_day": 4},
        headers=headers,
    )
    body = over.json()
    assert over.status_code == 200 and body["allowed"] is False and body["reasons"]
    assert body["limits"]["max_per_dose"] < 400


def test_bad_orders_are_refused_with_the_field(api, login):
    headers = login("medical", ("儿科",))
    unknown = api.post(
        "/api/v1/dose/check",
        json={"drug": "ibuprofn", "age_months": 24, "weight_kg": 12, "dose_mg": 100},
        headers=headers,
    )
    assert unknown.status_code == 422 and "ibuprofen" in unknown.text
    heavy = api.post(
        "/api/v1/dose/check",
        json={"drug": "ibuprofen", "age_months": 6, "weight_kg": 60, "dose_mg": 100},
        headers=headers,
    )
    assert heavy.status_code == 422
    extra = api.post(
        "/api/v1/dose/check",
        json={"drug": "ibuprofen", "age_months": 6, "weight_kg": 8, "dose_mg": 50, "x": 1},
        headers=headers,
    )
    assert extra.status_code == 422


def test_operations_staff_may_not_check_doses(api, login):
    r = api.post(
        "/api/v1/dose/check",
        json={"drug": "ibuprofen", "age_months": 24, "weight_kg": 12, "dose_mg": 100},
        headers=login("operations"),
    )
    assert r.status_code == 403

"""Points and referral over HTTP: balance, paged ledger, redemption (idempotency key, two at
once), invite codes, sign-ups with a code, the K-factor; the patient app's key reaches them."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from careops.identity import apikeys
from careops.state.models import audit_log
from tests.api.world import AS_OF, World, close_world, make_world

DAY = AS_OF.isoformat()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from careops.points import service as points

    w = make_world(tmp_path_factory.mktemp("points-api"))
    for uid, source in (("p1", "t:1"), ("p2", "t:2"), ("p3", "t:3")):
        points.earn(w.ops, "patient", uid, "manual", source, points=600)
    points.earn(w.ops, "patient", "p1", "checkup", "order:o1")
    key = apikeys.create_key(w.ops, "patient-app", ["growth.read", "growth.write"])
    w.headers["app"] = {"Authorization": f"Bearer {key.secret}"}
    yield w
    close_world(w)


def call(world: World, who: str, method: str, path: str, **kw):
    headers = world.headers[who] | kw.pop("headers", {})
    return world.client.request(method, "/api/v1" + path, headers=headers, **kw)


def last_audit(world: World):
    with world.ops.state.connect() as conn:
        return conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()


def test_balance_and_a_paged_ledger(world):
    r = call(world, "operations", "GET", "/points/p1")
    assert r.status_code == 200, r.text
    assert r.json()["available"] == 700 and r.json()["level"]["earned"] == 700
    assert last_audit(world).action == "points.balance" and last_audit(world).subject == "p1"
    page = call(world, "app", "GET", "/points/p1/ledger", params={"limit": 1})
    body = page.json()
    assert page.status_code == 200 and body["total"] == 2 and len(body["items"]) == 1
    assert body["items"][0]["rule"] == "checkup" and body["items"][0]["points"] == 100
    rest = call(world, "app", "GET", "/points/p1/ledger", params={"limit": 1, "offset": 1})
    assert rest.json()["items"][0]["rule"] == "manual"
    assert call(world, "operations", "GET", "/points/p4").status_code == 404  # never earned
    for who in ("medical", "health_manager", "analyst", "auditor"):
        assert call(world, who, "GET", "/points/p1").status_code == 403, who


def test_redeem_with_an_idempotency_key_spends_once(world):
    key = {"Idempotency-Key": "app-req-42"}
    first = call(
        world, "app", "POST", "/points/p2/redeem", json={"coupon": "consult_10"}, headers=key
    )
    assert first.status_code == 201, first.text
    again = call(
        world, "app", "POST", "/points/p2/redeem", json={"coupon": "consult_10"}, headers=key
    )
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["code"] == first.json()["code"] and first.json()["balance_after"] == 100
    assert call(world, "app", "GET", "/points/p2").json()["available"] == 100
    with world.ops.state.connect() as conn:
        n = conn.execute(
            sa.select(sa.func.count()).where(
                audit_log.c.action == "points.redeem", audit_log.c.subject == "p2"
            )
        ).scalar_one()
    assert n == 1
    poor = call(world, "app", "POST", "/points/p2/redeem", json={"coupon": "consult_10"})
    assert poor.status_code == 409 and "100" in poor.json()["error"]["detail"]


def test_two_concurrent_redemptions_over_http_spend_the_points_once(world):
    """p3 holds 600 points, a coupon costs 500: two requests at once, different keys, one
    coupon, 100 points left — never -400."""
    start = threading.Barrier(2)
    answers: list = []

    def go(n: int) -> None:
        start.wait()
        answers.append(
            call(
                world,
                "operations",
                "POST",
                "/points/p3/redeem",
                json={"coupon": "consult_10"},
                headers={"Idempotency-Key": f"race-{n}"},
            )
        )

    threads = [threading.Thread(target=go, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert call(world, "operations", "GET", "/points/p3").json()["available"] == 100


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"coupon": "consult_11"}, {}, "coupon"),
        ({"coupon": "consult_10", "points": 1}, {}, "points"),
        ({}, {}, "coupon"),
        ({"coupon": "consult_10"}, {"Idempotency-Key": "bad key!"}, "idempotency-key"),
    ],
)
def test_bad_redemptions_name_the_field_and_spend_nothing(world, body, headers, field):
    r = call(world, "app", "POST", "/points/p1/redeem", json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["error"]["detail"]).lower()
    assert call(world, "app", "GET", "/points/p1").json()["available"] == 700


def test_invite_codes_sign_ups_and_the_k_factor(world):
    r = call(world, "app", "POST", "/referral/codes", json={"user_id": "p1", "channel": "wechat"})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert r.json()["link"].endswith(f"?code={code}&ch=wechat")
    seen = call(world, "operations", "GET", f"/referral/codes/{code.lower()}")
    assert seen.status_code == 200 and seen.json()["user_id"] == "p1"
    assert seen.json()["expired"] is False and seen.json()["uses"] == 0
    assert last_audit(world).action == "referral.lookup"
    early = {"invitee_id": "p4", "code": code, "signed_up_at": "2026-02-20T10:00:00+08:00"}
    r = call(world, "app", "POST", "/referral/signups", json=early)
    assert r.status_code == 422 and "signed_up_at" in str(r.json()["error"]["detail"])
    signup = {"invitee_id": "p4", "code": code}
    s = call(world, "app", "POST", "/referral/signups", json=signup)
    assert s.status_code == 201, s.text
    assert s.json()["inviter_id"] == "p1" and s.json()["status"] == "ok"
    again = call(world, "app", "POST", "/referral/signups", json=signup)
    assert again.status_code == 200 and again.json()["replayed"] is True
    own = call(world, "app", "POST", "/referral/signups", json=signup | {"invitee_id": "p1"})
    assert own.status_code == 422 and "code" in str(own.json()["error"]["detail"])
    k = call(world, "operations", "GET", "/referral/kfactor", params={"as_of": DAY})
    assert k.status_code == 200, k.text
    assert k.json()["by"] == "generation" and {g["group"] for g in k.json()["groups"]} >= {"0"}
    assert call(world, "analyst", "GET", "/referral/kfactor").status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/referral/codes", {"user_id": "p1", "channel": "carrier-pigeon"}, "channel"),
        ("/referral/codes", {"user_id": "nobody"}, "user_id"),
        ("/referral/codes", {"user_id": "p1", "role": "admin"}, "role"),
        ("/referral/signups", {"invitee_id": "p2", "code": "ABC"}, "code"),
        ("/referral/signups", {"invitee_id": "p2", "code": "ABCDEFGHJK"}, "code"),
        ("/referral/signups", {"invitee_id": "p2", "code": "ABCDEFGHJK", "phone": "x"}, "phone"),
    ],
)
def test_bad_referral_input_names_the_field(world, path, body, field):
    r = call(world, "app", "POST", path, json=body)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["error"]["detail"])


def test_malformed_or_unknown_codes_on_lookup(world):
    assert call(world, "app", "GET", "/referral/codes/ABCDEFGHJK").status_code == 404
    assert call(world, "app", "GET", "/referral/codes/ABC'--").status_code == 422

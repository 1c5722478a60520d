"""The cockpit's doors without a browser: session cookie, CSRF, redirects, hostile input,
static files and headers, over the service's own app (a warehouse of two patients)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.service import Ops
from careops.warehouse import connect, create_tables
from tests.api.world import PASSWORD, isolated_settings
from tests.tags.hospital import Hospital

STAFF = {"operations": "ops-li", "medical": "dr-wang", "auditor": "aud-sun"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cockpit-pages")
    settings = isolated_settings()
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    state = f"sqlite:///{tmp_path / 'w.state.db'}"
    con = connect(warehouse)
    create_tables(con)
    Hospital(date(2026, 1, 1)).patient("p1", 100).patient("p2", 10).load(con)
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    ops.close()
    return create_app(settings, warehouse=warehouse, state=state)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', html).group(1)


def login(client: TestClient, role: str) -> str:
    """Log in through the form; the CSRF token of the signed-in pages."""
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": STAFF[role], "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    page = client.get("/cockpit/portrait" if role != "auditor" else "/cockpit/audit")
    assert page.status_code == 200, page.text
    return _csrf(page.text)


def test_pages_are_outside_the_openapi_and_the_root_leads_to_them(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if "cockpit" in p] and "/" not in paths
    assert client.get("/").headers["location"] == "/cockpit/"
    r = client.get("/cockpit/layers?as_of=2026-01-01")
    assert r.status_code == 303
    assert r.headers["location"] == "/cockpit/login?next=/cockpit/layers%3Fas_of%3D2026-01-01"
    assert client.get("/api/v1/nothing-here").json()["error"]["code"] == "not_found"


def test_login_needs_the_forms_csrf_token_and_sets_a_strict_cookie(client):
    form = client.get("/cockpit/login")
    assert "careops_login_csrf" in form.headers["set-cookie"]
    creds = {"username": "ops-li", "password": PASSWORD}
    for csrf in ("", "0" * 32):
        r = client.post("/cockpit/login", data={"csrf": csrf, **creds})
        assert r.status_code == 403 and "CSRF" in r.text
        assert "careops_session" not in r.headers.get("set-cookie", "")
    r = client.post("/cockpit/login", data={"csrf": _csrf(form.text), **creds})
    assert r.status_code == 303 and r.headers["location"] == "/cockpit/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if "careops_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/cockpit" in cookie
    assert "Secure" not in cookie  # plain http on the loopback; https below


def test_the_cookie_is_secure_over_https(app):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        form = c.get("/cockpit/login")
        r = c.post(
            "/cockpit/login",
            data={"csrf": _csrf(form.text), "username": "ops-li", "password": PASSWORD},
        )
        cookie = next(x for x in r.headers.get_list("set-cookie") if "careops_session=" in x)
        assert "Secure" in cookie


def test_a_wrong_password_is_answered_on_the_form_and_counts_towards_lock_out(client):
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": "ops-li", "password": "wrong"},
    )
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert "careops_session" not in r.headers.get("set-cookie", "")


def test_the_form_is_throttled_per_address_like_the_api(client):
    from careops.identity.throttle import LoginThrottle
    from careops.state.models import login_failures

    before = client.app.state.login_throttle
    engine = client.app.state.state_engine
    client.app.state.login_throttle = LoginThrottle(engine, limit=2, window_s=60)
    with engine.begin() as conn:  # earlier tests' wrong passwords are in the shared window
        conn.execute(login_failures.delete())
    try:
        form = client.get("/cockpit/login")
        wrong = {"csrf": _csrf(form.text), "username": "ops-li", "password": "wrong"}
        codes = [client.post("/cockpit/login", data=wrong).status_code for _ in range(2)]
        assert codes == [401] * 2
        r = client.post("/cockpit/login", data={**wrong, "password": PASSWORD})
        assert r.status_code == 429 and "登录失败次数过多" in r.text
        assert "careops_session" not in r.headers.get("set-cookie", "")
    finally:  # the module's app is shared: later tests log in from the same address
        client.app.state.login_throttle = before
        with engine.begin() as conn:
            conn.execute(login_failures.delete())


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/cockpit/",
        "/cockpit//evil.example",
        "/cockpit/\\evil",
        "/api/v1/users",
        "/cockpit/\x00x",
    ],
)
def test_no_open_redirect_after_login_or_language_switch(client, target):
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={
            "csrf": _csrf(form.text),
            "username": "ops-li",
            "password": PASSWORD,
            "next": target,
        },
    )
    assert r.headers["location"] == "/cockpit/"
    r = client.get("/cockpit/lang/en", params={"next": target})
    assert r.headers["location"] == "/cockpit/"


def test_logout_needs_the_sessions_csrf_token_and_revokes_the_token(client):
    csrf = login(client, "operations")
    token = client.cookies.get("careops_session")
    bearer = {"Authorization": f"Bearer {token}"}
    r = client.post("/cockpit/logout", data={"csrf": "forged"})
    assert r.status_code == 403
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 200  # still live
    r = client.post("/cockpit/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/cockpit/login"
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    client.cookies.set("careops_session", token, path="/cockpit")
    assert client.get("/cockpit/portrait").status_code == 303  # the old cookie is no way in


def test_a_form_that_is_not_urlencoded_or_too_large_is_refused(client):
    form = client.get("/cockpit/login")
    r = client.post("/cockpit/login", json={"csrf": _csrf(form.text), "username": "x"})
    assert r.status_code == 422
    r = client.post("/cockpit/login", data={"csrf": "x" * 10_000})
    assert r.status_code == 422


def test_an_api_key_or_garbage_in_the_cookie_is_no_session(client):
    for value in ("cok_abc", "not-a-token", "x" * 5000):
        client.cookies.set("careops_session", value, path="/cockpit")
        assert client.get("/cockpit/portrait").status_code == 303


def test_navigation_follows_the_role(client):
    login(client, "auditor")
    page = client.get("/cockpit/audit").text
    assert re.findall(r'data-nav="(\w+)"', page) == ["audit"]
    assert client.get("/cockpit/").headers["location"] == "/cockpit/audit"
    r = client.get("/cockpit/portrait")
    assert r.status_code == 403 and "patients.portrait" in r.text


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/cockpit/patients/p1?as_of=yesterday", 422, "as_of"),
        ("/cockpit/patients/p1?as_of=2999-01-01", 422, "as_of"),
        ("/cockpit/layers/lifecycle/active?offset=-1", 422, "offset"),
        ("/cockpit/layers/lifecycle/active?offset=99999999999", 422, "offset"),
        ("/cockpit/layers/lifecycle/nonsense?as_of=2026-01-01", 422, "layer"),
        ("/cockpit/layers/secret_table/x?as_of=2026-01-01", 422, "layer"),
        ("/cockpit/layers?as_of=2026-01-01&dimension=drop", 422, "dimension"),
        ("/cockpit/portrait?user_id=a%01b", 422, "user_id"),
        ("/cockpit/audit?actor=" + "a" * 500, 403, "audit.read"),
    ],
)
def test_bad_input_is_a_page_naming_the_field(client, path, status, field):
    login(client, "operations")
    r = client.get(path)
    assert r.status_code == status, r.text
    assert field in r.text and "Traceback" not in r.text


def test_markup_in_a_patient_id_is_shown_as_text(client):
    login(client, "operations")
    r = client.get("/cockpit/patients/%3Cscript%3Ealert(1)%3C%2Fscript%3E?as_of=2026-01-01")
    assert r.status_code in (403, 404, 422)
    assert "<script>alert(1)" not in r.text
    r = client.get("/cockpit/patients/" + "9" * 5000 + "?as_of=2026-01-01")
    assert 400 <= r.status_code < 500


def test_layer_lists_are_for_roles_that_may_export_patients(client):
    login(client, "medical")  # may read layer counts, not export a layer's patients
    for path in ("/cockpit/layers/lifecycle/silent", "/cockpit/layers/lifecycle/silent/export.csv"):
        r = client.get(path + "?as_of=2026-01-01")
        assert r.status_code == 403 and "segments.export" in r.text
    page = client.get("/cockpit/layers?as_of=2026-01-01")
    assert page.status_code == 200, page.text
    assert 'data-layer="lifecycle/silent"' in page.text
    assert "/cockpit/layers/lifecycle/" not in page.text  # no drill-down links either


def test_clinical_records_are_for_clinical_roles_and_known_kinds(client):
    login(client, "operations")
    assert client.get("/cockpit/patients/p1/records/observations").status_code == 403
    client.cookies.clear()
    login(client, "medical")
    r = client.get("/cockpit/patients/p1/records/passwords")
    assert r.status_code == 422 and "record kind" in r.text


def test_static_files_are_a_fixed_list_with_a_strict_policy_on_pages(client):
    r = client.get("/cockpit/static/htmx.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert client.get("/cockpit/static/echarts.min.js").status_code == 200
    for name in ("../pages.py", "..%2Fpages.py", "texts.py", "HTMX-LICENSE.txt"):
        assert client.get(f"/cockpit/static/{name}").status_code == 404
    page = client.get("/cockpit/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text  # no inline script: the policy allows none
    assert page.headers["x-content-type-options"] == "nosniff"


def test_english_on_request_chinese_by_default(client):
    assert '<html lang="zh-CN">' in client.get("/cockpit/login").text
    en = client.get("/cockpit/login", headers={"Accept-Language": "en"}).text
    assert '<html lang="zh-CN">' in en  # Chinese unless switched
    r = client.get("/cockpit/lang/en", params={"next": "/cockpit/login"})
    assert r.headers["location"] == "/cockpit/login"
    page = client.get("/cockpit/login").text
    assert '<html lang="en">' in page and "Log in" in page
    assert client.get("/cockpit/lang/fr").status_code == 422


def test_a_post_without_a_session_goes_to_the_login_page_not_back(client):
    r = client.post("/cockpit/logout", data={"csrf": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/cockpit/login"


def test_an_unknown_cockpit_path_is_a_page_and_an_unknown_api_path_json(client):
    r = client.get("/cockpit/no-such-page")
    assert r.status_code == 404 and "<html" in r.text and "no such page" in r.text
    assert client.get("/api/v1/no-such-route").json()["error"]["code"] == "not_found"

"""The OWASP API Security Top 10 (2023), item by item, against the whole service.

Each test is named after its item. Where another file already covers an item, the test here
says which and adds what was missing. Generic tests read the routes from the running app and
its OpenAPI document, so a route added later is checked without anyone listing it here.

- API6 (unrestricted access to sensitive business flows): the flows worth abusing are login
  (lock-out, tests/api/test_auth.py) and segment exports (audited per page,
  tests/api/test_segments_api.py); nothing here sells or books anything yet.
- API10 (unsafe consumption of APIs): the service calls no third-party API with what a client
  sent. FHIR and files come in through the CLI's validating import, not by URL; the channel
  senders (SMS, WeChat) will call providers configured by administrators in settings, and are
  to be tested against local peers where they land. `test_api7_…` checks that no route takes a
  URL to fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from careops.api.app import API_PREFIX, create_app
from careops.api.deps import route_permission
from careops.config import get_settings
from careops.identity import accounts, apikeys
from careops.identity.roles import GRANTS, ROLES
from careops.service import Ops
from careops.warehouse import connect, create_tables
from tests.api.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
#: property names that must never appear in an answer
SECRET_FIELDS = {
    "password",
    "password_hash",
    "secret_hash",
    "key_hash",
    "token_hash",
    "sealed",
    "ciphertext",
    "nonce",
    "signing_key",
    "failed_logins",
}
#: names of request fields that would make the service fetch a URL (SSRF)
URL_FIELDS = re.compile(r"(url|uri|href|webhook|callback|endpoint|redirect)", re.IGNORECASE)
HOSTILE = [
    "' OR '1'='1' --",
    '"; DROP TABLE patients; --',
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "a\x00b",
    "<script>alert(1)</script>",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "\u202e\ufeff患者",
    "x" * 100_000,
]


@pytest.fixture
def api() -> Iterator[TestClient]:
    """The service over a warehouse with the canonical tables (empty), so requests reach the
    domain code instead of stopping at "no warehouse"."""
    settings = get_settings()
    con = connect(settings.warehouse)
    create_tables(con)
    con.disconnect()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _routes(api) -> list[tuple[str, str, object]]:
    """(METHOD, path, route) of every route the app serves (FastAPI ≥ 0.16x keeps included
    routers as such: `iter_route_contexts` flattens them)."""
    out = []
    for ctx in iter_route_contexts(api.app.routes):
        for method in sorted(ctx.methods or ()):
            if method != "HEAD":
                out.append((method, ctx.path, ctx))
    return out


def _operations(api) -> list[tuple[str, str, dict]]:
    """(METHOD, path, OpenAPI operation) of every published operation."""
    spec = api.get("/openapi.json").json()
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _spec(api) -> dict:
    return api.get("/openapi.json").json()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _fill(spec: dict, schema: dict, text: str, depth: int = 0):
    """A value of `schema` with every free text set to `text` (enums take their first value)."""
    schema = _resolve(spec, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _fill(spec, options[0], text, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: _fill(spec, sub, text, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if depth < 3
        }
    if kind == "array":
        return [_fill(spec, schema.get("items", {"type": "string"}), text, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return text


def _path_with(path: str, value: str) -> str:
    from urllib.parse import quote

    return re.sub(r"\{[^}]+\}", quote(value, safe=""), path)


# --- API1: broken object level authorization ------------------------------------------------


def test_api1_bola_staff_accounts_keys_and_care_lists_of_others_are_out_of_reach(
    api, login, admin_ops
):
    """Only administrators see or change accounts, keys and care assignments; anyone else
    gets the same 403 whether the object exists or not (guessing names reveals nothing).
    Patients of another department or manager: tests/api/test_patients.py and
    tests/privacy/test_access.py."""
    accounts.add_user(admin_ops, "hm-zhang", "health_manager", PASSWORD)
    apikeys.create_key(admin_ops, "his-app", ["events.write"], [])
    for role in ROLES:
        if role == "admin":
            continue
        headers = login(role, ("儿科",) if role == "medical" else ())
        answers = set()
        for method, path in [
            ("GET", "/api/v1/users/hm-zhang"),
            ("GET", "/api/v1/users/no-such-user"),
            ("PATCH", "/api/v1/users/hm-zhang"),
            ("GET", "/api/v1/users/hm-zhang/patients"),
            ("GET", "/api/v1/users/no-such-user/patients"),
            ("DELETE", "/api/v1/api-keys/his-app"),
            ("DELETE", "/api/v1/api-keys/no-such-app"),
        ]:
            body = {"disabled": True} if method == "PATCH" else None
            r = api.request(method, path, headers=headers, json=body)
            assert r.status_code == 403, (role, method, path, r.text)
            answers.add(r.json()["error"]["detail"])
        assert len(answers) == 1, (role, answers)
    assert not accounts.get_user(admin_ops, "hm-zhang").disabled
    assert apikeys.list_keys(admin_ops, 10, 0)[0][0].revoked_at is None


def test_api1_bola_an_app_key_cannot_reach_staff_objects(api, admin_ops):
    """An app's key, whatever its scopes, is no member of staff: accounts and keys are out."""
    new = apikeys.create_key(admin_ops, "kiosk", sorted(apikeys.APP_SCOPES), [])
    headers = {"Authorization": f"Bearer {new.secret}"}
    for method, path in [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/api-keys"),
        ("DELETE", "/api/v1/api-keys/kiosk"),
        ("GET", "/api/v1/audit"),
    ]:
        assert api.request(method, path, headers=headers).status_code == 403, (method, path)


# --- API2: broken authentication --------------------------------------------------------------


def test_api2_credentials_only_in_the_authorization_header(api, login):
    """Forged, expired, early, foreign, revoked tokens, disabled accounts, lock-out and a
    password change ending tokens: tests/api/test_auth.py and test_auth_apikeys.py. Here: a
    token anywhere but the Authorization header (query string, cookie, another scheme) is
    not a credential, since query strings end up in proxy logs and cookies invite CSRF."""
    token = login("admin")["Authorization"].split()[1]
    me = "/api/v1/auth/me"
    assert api.get(me, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for name in ("access_token", "token", "api_key", "key"):
        r = api.get(me, params={name: token})
        assert r.status_code == 401, (name, r.text)
    api.cookies.set("access_token", token)
    try:
        assert api.get(me).status_code == 401
    finally:
        api.cookies.clear()
    for scheme in ("Basic", "Token", "bearer  ", "JWT"):
        r = api.get(me, headers={"Authorization": f"{scheme} {token}"})
        assert r.status_code in (200, 401), scheme
        if scheme != "bearer  ":
            assert r.status_code == 401, scheme


def test_api2_the_old_password_stops_working_after_a_change(api, login):
    login("operations")
    body = {"current_password": PASSWORD, "new_password": "a new long passphrase 7"}
    headers = login("operations")
    assert api.post("/api/v1/auth/password", json=body, headers=headers).status_code == 204
    old = {"username": "uoperations-all", "password": PASSWORD}
    assert api.post("/api/v1/auth/token", json=old).status_code == 401
    new = {"username": "uoperations-all", "password": "a new long passphrase 7"}
    assert api.post("/api/v1/auth/token", json=new).status_code == 200


def test_api2_a_login_answer_is_never_cached_and_names_no_account_detail(api, login):
    login("auditor")
    r = api.post("/api/v1/auth/token", json={"username": "uauditor-all", "password": PASSWORD})
    assert r.headers["cache-control"] == "no-store"
    assert set(r.json()) == {"access_token", "token_type", "expires_in"}


# --- API3: broken object property level authorization ---------------------------------------

MASS_ASSIGNMENT = {
    "role": "admin",
    "id": 1,
    "user_id": "u1",
    "created_by": "os:root",
    "created_at": "2020-01-01T00:00:00Z",
    "disabled": False,
    "is_admin": True,
    "permissions": ["users.manage"],
    "scopes": ["users.manage"],
    "password_hash": "$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA",
    "secret_hash": "x",
    "failed_logins": 0,
    "locked_until": None,
}


def test_api3_mass_assignment_every_body_refuses_fields_it_does_not_take(api, login):
    """Every POST/PUT/PATCH body (read from the schema, so new routes are covered) answers 422
    naming each extra field, whether or not the rest of the body is valid."""
    headers = login("admin")
    spec = _spec(api)
    checked = 0
    for method, path, op in _operations(api):
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not content:
            continue
        schema = _resolve(spec, content["schema"])
        body = _fill(spec, schema, "mass-assignment-probe")
        extras = {k: v for k, v in MASS_ASSIGNMENT.items() if k not in schema["properties"]}
        r = api.request(method, _path_with(path, "probe"), json=body | extras, headers=headers)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        detail = r.json()["error"]["detail"]
        for field in extras:  # by field, or by the domain's sentence naming them all
            if isinstance(detail, list):
                assert ("body", field) in {tuple(d["loc"]) for d in detail}, (path, field)
            else:
                assert field in detail, (method, path, field, detail)
        checked += 1
    assert checked >= 8


def test_api3_no_answer_schema_carries_a_secret_property(api):
    """No answer of any operation (2xx or error, following every reference) has a property
    named like a secret: hashes, sealed contact values, keys, lock-out counters. The one
    `secret` is the API key's creation answer, shown that once (tests/api/test_users.py)."""
    spec = _spec(api)
    names: set[str] = set()
    seen: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref not in seen:
                seen.add(ref)
                walk(spec["components"]["schemas"][ref.rsplit("/", 1)[-1]])
            names.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for _, _, op in _operations(api):
        walk(op["responses"])
    assert names, "no answer schema found"
    assert not names & SECRET_FIELDS, names & SECRET_FIELDS


def test_api3_answers_carry_no_hash_or_secret(api, login, admin_ops):
    headers = login("admin")
    created = api.post(
        "/api/v1/api-keys", json={"name": "pharmacy", "scopes": ["events.write"]}, headers=headers
    )
    secret = created.json()["secret"]
    for path in ["/api/v1/users", "/api/v1/api-keys", "/api/v1/audit", "/api/v1/auth/me"]:
        text = api.get(path, headers=headers, params={"limit": 1000}).text
        assert "$argon2" not in text, path
        assert secret not in text and secret.split("_")[-1] not in text, path


# --- API4: unrestricted resource consumption --------------------------------------------------


def test_api4_bodies_over_the_limit_are_refused_declared_or_streamed(api, login):
    headers = login("admin") | {"content-type": "application/json"}
    r = api.post("/api/v1/users", content=b"[" + b"0," * 1_100_000 + b"0]", headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks():
        for _ in range(30):
            yield b" " * 100_000

    r = api.post("/api/v1/users", content=chunks(), headers=headers)
    assert r.status_code == 413


@pytest.mark.parametrize(
    "params",
    [{"limit": 1001}, {"limit": 0}, {"limit": -1}, {"offset": 10**12}, {"limit": "9" * 5000}],
)
def test_api4_pages_are_bounded(api, login, params):
    """Every list answers a page of at most 1,000 items; a bigger or odd page is refused."""
    headers = login("admin")
    for method, path, op in _operations(api):
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        if method != "GET" or "limit" not in names or "{" in path:
            continue
        r = api.get(path, params=params, headers=headers)
        assert r.status_code == 422, (path, params, r.text)
        assert r.json()["error"]["detail"][0]["loc"][0] == "query"


def test_api4_huge_query_strings_and_many_parameters_are_4xx(api, login):
    headers = login("admin")
    r = api.get("/api/v1/users", params={"role": "x" * 60_000}, headers=headers)
    assert r.status_code == 422  # (httpx itself refuses a query over 64 kB)
    many = {f"p{i}": "1" for i in range(5000)}
    r = api.get("/api/v1/users", params=many, headers=headers)
    assert r.status_code == 422 and len(r.json()["error"]["detail"]) <= 50


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
def test_api4_deeply_nested_json_is_refused_not_a_crash(api, login, depth):
    headers = login("admin") | {"content-type": "application/json"}
    for path in ["/api/v1/users", "/api/v1/events", "/api/v1/auth/token"]:
        body = b'{"events": ' + b"[" * depth + b"]" * depth + b"}"
        r = api.post(path, content=body, headers=headers)
        if r.status_code == 200:  # the intake answers per event: nothing nested is kept
            assert path == "/api/v1/events" and r.json()["accepted"] == 0, r.text[:300]
            continue
        assert 400 <= r.status_code < 500, (path, depth, r.status_code, r.text[:300])
        assert r.json()["error"]["code"] in {"bad_request", "invalid_input", "too_large"}


def test_api4_an_event_batch_holds_at_most_1000_events(api, admin_ops):
    new = apikeys.create_key(admin_ops, "app", ["events.write"], [])
    headers = {"Authorization": f"Bearer {new.secret}"}
    event = {"event_id": "e", "user_id": "u", "ts": "2026-01-01T00:00:00Z", "name": "app_open"}
    r = api.post("/api/v1/events", json={"events": [event] * 1001}, headers=headers)
    assert r.status_code == 422 and "1000" in str(r.json()["error"]["detail"])


def test_api4_a_long_header_or_many_headers_do_not_break_the_service(api, login):
    purpose = ("目的" * 20_000).encode()
    headers = login("admin") | {"X-Purpose": purpose, "X-Request-ID": "r" * 10_000}
    headers |= {f"x-junk-{i}": "1" for i in range(500)}
    r = api.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 200 and len(r.headers["x-request-id"]) <= 64


# --- API5: broken function level authorization ------------------------------------------------


def test_api5_every_route_names_its_permission_and_grants_come_from_roles(api):
    """Who may call what: tests/api/test_role_matrix.py runs every route as every role, an app
    key and nobody. Here: no /api/v1 route outside auth is left without a permission."""
    open_routes = {"/api/v1/auth/token", "/api/v1/auth/logout", "/api/v1/auth/me"}
    open_routes.add("/api/v1/auth/password")
    # providers' receipt pushes: verified by signature or callback token instead
    open_routes |= {"/api/v1/receipts/{provider}", "/api/v1/receipts/wechat"}
    every = set().union(*GRANTS.values())
    routes = _routes(api)
    assert len(routes) >= 30
    for _, path, route in routes:
        if path.startswith(API_PREFIX):
            permission = route_permission(route)
            assert permission or path in open_routes, path
            assert permission is None or permission in every, (path, permission)


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "PUT", "PATCH", "DELETE", "POST"])
def test_api5_method_confusion_answers_405_with_allow(api, login, method):
    """A method a path does not take answers 405 naming the ones it takes; never a 2xx (a
    HEAD or OPTIONS slipping past the permission check) and never a 5xx. HEAD on a GET path
    answers as GET does, permission check included, without the body."""
    headers = login("analyst")
    methods: dict[str, set[str]] = {}
    for m, path, _ in _routes(api):
        methods.setdefault(path, set()).add(m)
    for path, same_path in methods.items():
        if not path.startswith(API_PREFIX) and path not in {"/healthz", "/readyz"}:
            continue  # the docs and the cockpit's pages (HEAD answers like GET there)
        if method in same_path or (method == "POST" and path.endswith("/{user_id}")):
            continue  # (POST /patients/{user_id}: the same template as /patients/{x}/records)
        if method == "POST" and path == "/api/v1/receipts/wechat":
            continue  # POST /receipts/{provider} takes it (the push; the GET is the URL check)
        r = api.request(method, _path_with(path, "p1"), headers=headers)
        if method == "HEAD":  # answered like GET (405 where GET is), with no body
            get = api.get(_path_with(path, "p1"), headers=headers)
            assert (r.status_code, r.content) == (get.status_code, b""), path
            assert r.status_code < 500 and (r.status_code != 200 or "GET" in same_path), path
            continue
        assert r.status_code == 405, (method, path, r.status_code)
        assert set(r.headers["allow"].replace(" ", "").split(",")) >= same_path - {"HEAD"}
        if method != "HEAD":
            assert r.json()["error"]["code"] == "method_not_allowed"


def test_api5_method_override_headers_are_ignored(api, login):
    headers = login("analyst") | {"X-HTTP-Method-Override": "DELETE", "X-Method-Override": "PUT"}
    r = api.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 200


# --- API7: server side request forgery --------------------------------------------------------


def test_api7_no_route_takes_a_url_to_fetch(api, login):
    """No request body or parameter is a URL (no webhook or callback yet); a URL smuggled in
    as an extra field is refused like any extra field."""
    spec = _spec(api)
    for method, path, op in _operations(api):
        for p in op.get("parameters", []):
            assert not URL_FIELDS.search(p["name"]), (method, path, p["name"])
            assert _resolve(spec, p.get("schema", {})).get("format") != "uri"
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content:
            props = _resolve(spec, content["schema"]).get("properties", {})
            for name, sub in props.items():
                assert not URL_FIELDS.search(name), (method, path, name)
                assert _resolve(spec, sub).get("format") != "uri", (method, path, name)
    headers = login("admin")
    body = {"name": "hook", "scopes": ["events.write"], "webhook_url": "http://169.254.169.254/"}
    r = api.post("/api/v1/api-keys", json=body, headers=headers)
    assert r.status_code == 422


def test_api7_the_service_code_has_no_outbound_http_client():
    """The API and the domain code it calls do not import an HTTP client (the channel senders,
    when they land, call addresses from settings, never from a request)."""
    pattern = re.compile(r"^\s*(import|from)\s+(httpx|requests|urllib\.request|aiohttp)\b", re.M)
    for package in ["api", "identity", "privacy", "intake", "state"]:
        for file in (ROOT / "src" / "careops" / package).rglob("*.py"):
            assert not pattern.search(file.read_text(encoding="utf-8")), file


# --- API8: security misconfiguration ----------------------------------------------------------


def test_api8_security_headers_on_every_answer(api, login):
    headers = login("admin")
    for path in ["/healthz", "/api/v1/auth/me", "/api/v1/no-such-route", "/openapi.json"]:
        r = api.get(path, headers=headers)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert r.headers["cache-control"] == "no-store", path
        assert "server" not in r.headers, path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path


def test_api8_an_unexpected_error_shows_no_trace(api, login, monkeypatch):
    from careops.identity import sessions

    def explode(ops):
        raise RuntimeError("/srv/careops/secret.py line 42: password=hunter2")

    monkeypatch.setattr(sessions, "whoami", explode)
    r = api.get("/api/v1/auth/me", headers=login("admin"))
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error" and r.json()["error"]["detail"] is None
    assert "hunter2" not in r.text and "Traceback" not in r.text and "secret.py" not in r.text
    assert not api.app.debug


def test_api8_cors_is_closed_by_default(api):
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    r = api.options("/api/v1/auth/token", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    r = api.post("/api/v1/auth/token", json={"username": "a", "password": "b"}, headers=origin)
    assert "access-control-allow-origin" not in r.headers


def test_api8_the_documentation_is_served(api):
    assert api.get("/openapi.json").status_code == 200
    r = api.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "swagger" in r.text.lower()


# --- API9: improper inventory management ------------------------------------------------------


def _documented_routes() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", text))


def test_api9_every_route_is_in_openapi_and_in_docs_api_md(api):
    """No hidden route (every route of the app is in the OpenAPI document) and docs/api.md
    lists exactly the operations the service publishes, so neither drifts."""
    published = {(m, p) for m, p, _ in _operations(api)}
    for method, path, _ in _routes(api):
        if path.startswith(API_PREFIX) or path in {"/healthz", "/readyz"}:
            assert (method, path) in published, (method, path)
    documented = _documented_routes()
    assert published - documented == set(), "missing from docs/api.md"
    assert documented - published == set(), "in docs/api.md but not served"


def test_api9_only_one_version_is_served(api):
    paths = {p for _, p, _ in _operations(api)}
    assert all(p.startswith(API_PREFIX + "/") or p in {"/healthz", "/readyz"} for p in paths)
    # (the cockpit's pages at / and /cockpit are HTML for people, outside the API's schema)
    assert api.get("/api/v0/auth/me").status_code == 404
    assert api.get("/api/auth/me").status_code == 404


# --- injection through every parameter ------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:16]))
def test_injection_through_every_path_and_query_parameter_is_4xx_or_harmless(api, login, text):
    """SQL quotes, path traversal, NUL, markup, template and JNDI strings, bidi controls and
    100 kB strings in every path and query parameter of every GET and DELETE answer 2xx
    (taken as plain data) or 4xx, never 5xx; nothing they name is erased."""
    headers = login("admin")
    for method, path, op in _operations(api):
        if method not in {"GET", "DELETE"}:
            continue
        short = text[:8_000]  # httpx refuses a query over 64 kB (the path takes all 100 kB)
        query = {p["name"]: short for p in op.get("parameters", []) if p["in"] == "query"}
        r = api.request(method, _path_with(path, text[:30_000]), headers=headers)  # URL ≤ 64 kB
        assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
        if query:
            r = api.request(method, _path_with(path, "p1"), params=query, headers=headers)
            assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
    assert api.get("/readyz").status_code == 200


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:16]))
def test_injection_through_every_body_field_is_4xx_or_harmless(api, login, text):
    """The same strings in every text field of every request body (the rest of the body
    valid) answer 2xx or 4xx, never 5xx."""
    headers = login("admin")
    spec = _spec(api)
    for method, path, op in _operations(api):
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not content or path.startswith("/api/v1/auth/"):
            continue  # the auth routes: tests/api/test_auth.py (a hostile password locks)
        body = _fill(spec, content["schema"], text)
        r = api.request(method, _path_with(path, "p1"), json=body, headers=headers)
        assert r.status_code < 500, (method, path, r.status_code, r.text[:300])


def test_api8_a_warehouse_never_loaded_answers_503_naming_the_table():
    """A warehouse file opened for writing before any import has no tables: every route
    reading it answers 503 saying what to do, not a 500 (found trying the service as a new
    user: an erasure on an empty path made the file, then every read failed)."""
    settings = get_settings()
    connect(settings.warehouse).disconnect()  # an empty file, no tables
    ops = Ops.open()
    accounts.add_user(ops, "boss", "admin", PASSWORD)
    ops.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        token = client.post(
            "/api/v1/auth/token", json={"username": "boss", "password": PASSWORD}
        ).json()["access_token"]
        for path in ["/api/v1/layers", "/api/v1/patients/p1", "/api/v1/report"]:
            r = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 503, (path, r.text)
            assert "patients" in r.json()["error"]["detail"], path


def role_table() -> str:
    """The role × permission table of docs/api.md, from `careops.identity.roles`."""
    from careops.identity.roles import APP_SCOPES, PERMISSIONS
    from careops.labels import label

    lines = [
        "| 权限 / permission | "
        + " | ".join(f"{label(f'role.{r}')} `{r}`" for r in ROLES)
        + " | 应用密钥 / app key |",
        "|" + "---|" * (len(ROLES) + 2),
    ]
    for p in PERMISSIONS:
        zh, en = label(f"permission.{p}", "zh"), label(f"permission.{p}", "en")
        cells = ["✓" if p in GRANTS[r] else "" for r in ROLES]
        app = "✓" if p in APP_SCOPES else ""
        lines.append(f"| `{p}` {zh} / {en} | " + " | ".join(cells) + f" | {app} |")
    return "\n".join(lines)


def test_api5_the_role_table_in_docs_api_md_is_the_grants():
    """docs/api.md's role × permission table equals GRANTS and APP_SCOPES (regenerate it with
    `python -c "from tests.api.test_owasp import role_table; print(role_table())"`)."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- roles:begin[^>]*-->\n(.*?)\n<!-- roles:end -->", text, re.S)
    assert table, "docs/api.md lost its roles:begin/end markers"
    assert table.group(1) == role_table()

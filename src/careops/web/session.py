"""The cockpit's session: the API's own signed token in a cookie, and CSRF tokens for forms.

- The session cookie carries the access token `POST /api/v1/auth/token` would give (same
  signature, lifetime, revocation and lock-out: `careops.identity`), marked HttpOnly (no script
  reads it), SameSite=Strict (no other site sends it) and Secure when the page came over https.
  Logging out revokes the token itself, not only the cookie.
- Every form POST carries a CSRF token. Signed in, it is an HMAC of the session token under the
  deployment's signing key (it changes with each login and cannot be made without the key);
  on the login form, before any session exists, it is a random value also set as a cookie
  (double submit), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from careops.errors import Unauthorized
from careops.service import Actor, Ops

PREFIX = "/cockpit"
SESSION_COOKIE = "careops_session"
LOGIN_CSRF_COOKIE = "careops_login_csrf"
LANG_COOKIE = "careops_lang"
MAX_TOKEN = 4096


def ops_for(request: Request, actor: Actor) -> Ops:
    """An `Ops` for this request as `actor` (request id, client address; the API's builder)."""
    from careops.api.deps import _ops

    return _ops(request, actor)


def anonymous(request: Request) -> Ops:
    """An `Ops` for the not yet authenticated caller (login, token checks)."""
    return ops_for(request, Actor(name="anonymous", kind="system"))


def session_token(request: Request) -> str | None:
    """The token of the session cookie, if any (overlong values are ignored)."""
    token = request.cookies.get(SESSION_COOKIE)
    return token if token and len(token) <= MAX_TOKEN else None


def caller(request: Request) -> Ops:
    """The signed-in member of staff's `Ops`; `Unauthorized` without a valid session."""
    from careops.identity.sessions import actor_for_token

    token = session_token(request)
    if token is None or token.startswith("cok_"):
        raise Unauthorized("需要登录 / authentication required")
    anon = anonymous(request)
    try:
        actor = actor_for_token(anon, token)
    finally:
        anon.close()
    return ops_for(request, actor)


def _key(ops: Ops) -> bytes:
    from careops.identity import tokens
    from careops.identity.sessions import secret

    return tokens.signing_key(ops.state, secret(ops)).encode()


def csrf_for_session(ops: Ops, token: str) -> str:
    """The CSRF token of a signed-in session (an HMAC of its token)."""
    return hmac.new(_key(ops), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()


def check_session_csrf(ops: Ops, token: str, given: str | None) -> bool:
    """Whether the form's CSRF token belongs to this session."""
    return bool(given) and hmac.compare_digest(csrf_for_session(ops, token), str(given))


def login_csrf(request: Request) -> tuple[str, bool]:
    """The login form's CSRF value: the cookie's when present, else a new one (and True: the
    cookie has to be set)."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE)
    if current and 16 <= len(current) <= 128 and current.isalnum():
        return current, False
    return secrets.token_hex(16), True


def check_login_csrf(request: Request, given: str | None) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(cookie and given) and hmac.compare_digest(str(cookie), str(given))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A cookie for the cockpit's pages only: HttpOnly, SameSite=Strict, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PREFIX, httponly=True, samesite="strict", secure=_secure(request)
    )


def language(request: Request) -> str:
    """The page language: Chinese, unless the English switch was used (its cookie). The
    browser's `Accept-Language` is not followed: the cockpit is Chinese by default."""
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def safe_next(value: str | None) -> str:
    """Where to go after login or a language switch: only a cockpit path of this site (no
    scheme, no host, no `//`, no backslash, no control characters), else the start page."""
    if (
        not value
        or len(value) > 512
        or not value.startswith(PREFIX + "/")
        or "//" in value
        or "\\" in value
        or any(not c.isprintable() for c in value)
    ):
        return PREFIX + "/"
    return value


def login_url(request: Request) -> str:
    """The login page, coming back to the page asked for (a form post, whose session ended
    meanwhile, comes back to the start page: it cannot be replayed)."""
    if request.method != "GET":
        return f"{PREFIX}/login"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/login?next={quote(safe_next(target), safe='/')}"

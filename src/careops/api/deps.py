"""What every route depends on: the caller's `Ops` (who asks, from a bearer token) and the
permission a route needs. Routes never open a connection or check a role by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from careops.errors import Unauthorized
from careops.service import Actor, Ops
from careops.service import Request as Origin

_bearer = HTTPBearer(auto_error=False, description="登录令牌或 API 密钥 / token or API key")


def _header_text(raw: str) -> str:
    """A header as the client wrote it: HTTP hands headers over as latin-1, while a Chinese
    purpose (为复诊提醒) is sent as UTF-8 bytes; control characters are dropped."""
    try:
        text = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        text = raw
    return "".join(c for c in text if c.isprintable()).strip()


def _origin(request: Request) -> Origin:
    purpose = _header_text(request.headers.get("x-purpose", ""))[:256] or None
    client = request.client.host if request.client else None
    return Origin(
        request_id=getattr(request.state, "request_id", None), source_ip=client, purpose=purpose
    )


def _ops(request: Request, actor: Actor) -> Ops:
    app = request.app.state
    return Ops.open(
        warehouse=app.warehouse_url,
        state=app.state_url,
        actor=actor,
        settings=app.settings,
        request=_origin(request),
        shared_state=app.state_engine,
    )


def anonymous_ops(request: Request) -> Iterator[Ops]:
    """An `Ops` for a route anyone may call (login, health): the actor is `system:anonymous`."""
    ops = _ops(request, Actor(name="anonymous", kind="system"))
    try:
        yield ops
    finally:
        ops.close()


def bearer(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer credential of the request (a token or an API key); 401 without one."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("需要登录 / authentication required: send 'Authorization: Bearer …'")
    return credentials.credentials


def caller_ops(request: Request, credential: Annotated[str, Depends(bearer)]) -> Iterator[Ops]:
    """The authenticated caller's `Ops`; 401 without a valid token or key. A credential
    starting `cok_` is an app's API key (acting as `app:<name>` with its scopes), anything
    else a staff member's access token."""
    anon = _ops(request, Actor(name="anonymous", kind="system"))
    if credential.startswith("cok_"):
        from careops.identity.apikeys import actor_for_key

        actor = actor_for_key(anon, credential)
    else:
        from careops.identity.sessions import actor_for_token

        actor = actor_for_token(anon, credential)
    ops = _ops(request, actor)
    try:
        yield ops
    finally:
        ops.close()


#: the error answers every authenticated route may give, for its OpenAPI description (each in
#: the one error shape of `careops.api.problems`)
AUTH_ERRORS: dict[int | str, dict] = {
    401: {"description": "未登录或凭证无效 / not authenticated, or a bad token or key"},
    403: {"description": "无权限 / not allowed for this role or key"},
    422: {"description": "输入不合法 / invalid input (field and reason in `detail`)"},
}

Caller = Annotated[Ops, Depends(caller_ops)]
Credential = Annotated[str, Depends(bearer)]
Anonymous = Annotated[Ops, Depends(anonymous_ops)]


def require(permission: str) -> Callable[..., Ops]:
    """A dependency giving the caller's `Ops` once it holds `permission` (else 403)."""

    def dependency(ops: Caller) -> Ops:
        ops.require(permission)
        return ops

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    dependency.permission = permission  # type: ignore[attr-defined]  # read by the role matrix
    return dependency


def route_permission(route) -> str | None:
    """The permission a route requires (from its `require(...)` dependency), if any."""
    return _permission(route.dependant)


def _permission(dependant) -> str | None:
    for dep in dependant.dependencies:
        found = getattr(dep.call, "permission", None) or _permission(dep)
        if found:
            return found
    return None


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not take (422 naming each), as bodies refuse
    unknown fields: a misspelt `?limt=10` or a smuggled `?role=admin` is an error, not a
    silently ignored wish. A request without credentials to a protected route is left to the
    401 first."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    known = _query_names(route)
    if known is None or (known.needs_credentials and "authorization" not in request.headers):
        return
    unknown = sorted({k for k in request.query_params if k not in known.names})
    if unknown:
        raise RequestValidationError(
            [
                {"loc": ("query", name[:64]), "msg": "未知参数 / unknown parameter"}
                for name in unknown[:20]
            ]
        )


class _QueryNames:
    __slots__ = ("names", "needs_credentials")

    def __init__(self, names: frozenset[str], needs_credentials: bool) -> None:
        self.names = names
        self.needs_credentials = needs_credentials


def _query_names(route) -> _QueryNames | None:
    cached = getattr(route, "_careops_query_names", None)
    if cached is None and hasattr(route, "dependant"):
        every = [route.dependant, *_dependencies(route.dependant)]
        cached = _QueryNames(
            frozenset(p.alias for d in every for p in d.query_params),
            any(d.call is bearer for d in every),
        )
        route._careops_query_names = cached
    return cached


def _dependencies(dependant):
    for dep in dependant.dependencies:
        yield dep
        yield from _dependencies(dep)

"""What every route depends on: the caller's `Ops` (who asks, from a bearer token) and the
permission a route needs. Routes never open a connection or check a role by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from careops.errors import Unauthorized
from careops.service import Actor, Ops
from careops.service import Request as Origin

_bearer = HTTPBearer(auto_error=False, description="登录令牌或 API 密钥 / token or API key")


def _origin(request: Request) -> Origin:
    purpose = request.headers.get("x-purpose", "")[:256] or None
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

"""Login, logout, who am I, and changing one's own password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import AUTH_ERRORS, Anonymous, Caller, Credential
from careops.identity import accounts, sessions
from careops.identity.passwords import MAX_LENGTH, MIN_LENGTH

router = APIRouter(prefix="/auth", tags=["auth"])


class Credentials(BaseModel):
    """What a member of staff logs in with."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, description="用户名 / username")
    password: str = Field(min_length=1, max_length=256, description="密码 / password")


class TokenOut(BaseModel):
    """A bearer token for the `Authorization` header, and its lifetime in seconds."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    """Who the caller is and what they may do."""

    name: str = Field(description="用户名或应用名 / username or app name")
    kind: str = Field(description="user(员工) 或 app(应用密钥) / a staff member or an app key")
    role: str | None = Field(description="角色 / role (None for an app)")
    display_name: str
    departments: list[str]
    permissions: list[str] = Field(description="权限 / permissions (an app's scopes)")


class PasswordChange(BaseModel):
    """A member of staff's own password change: the current one proves it is them."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


_UNAUTHORIZED = {401: AUTH_ERRORS[401]}


@router.post(
    "/token",
    summary="登录, 取得访问令牌 / log in for an access token",
    responses={
        401: {"description": "用户名或密码错误, 或账号锁定 / wrong credentials or locked"},
        429: {"description": "此地址登录失败过多 / too many failed logins from this address"},
        422: AUTH_ERRORS[422],
    },
)
def token(body: Credentials, ops: Anonymous, request: Request) -> TokenOut:
    """Exchange a username and password for a short-lived token."""
    t = accounts.login(ops, body.username, body.password, request.app.state.login_throttle)
    return TokenOut(access_token=t.access_token, expires_in=t.expires_in)


@router.post(
    "/logout",
    status_code=204,
    summary="注销当前令牌 / log out: the token in hand stops working",
    responses={401: AUTH_ERRORS[401], 422: {"description": "API 密钥不能注销 / a key cannot"}},
)
def logout(ops: Caller, credential: Credential) -> Response:
    """Revoke the presented access token (an API key is revoked by an administrator instead)."""
    sessions.logout(ops, credential)
    return Response(status_code=204)


@router.get("/me", summary="当前身份 / who am I", responses=_UNAUTHORIZED)
def me(ops: Caller) -> MeOut:
    """The caller's name, role, departments and permissions."""
    m = sessions.whoami(ops)
    return MeOut(
        name=m.name,
        kind=m.kind,
        role=m.role,
        display_name=m.display_name,
        departments=list(m.departments),
        permissions=list(m.permissions),
    )


@router.post(
    "/password",
    status_code=204,
    summary="修改自己的密码 / change one's own password (every token ends)",
    responses={
        **AUTH_ERRORS,
        403: {"description": "当前密码错误或账号锁定 / wrong current password, or locked"},
    },
)
def change_password(body: PasswordChange, ops: Caller) -> Response:
    """Change the caller's own password; all their tokens end, this one included."""
    accounts.change_own_password(ops, body.current_password, body.new_password)
    return Response(status_code=204)

"""Login: a username and password for a short-lived bearer token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import Anonymous
from careops.identity import accounts

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


@router.post(
    "/token",
    summary="登录, 取得访问令牌 / log in for an access token",
    responses={401: {"description": "用户名或密码错误, 或账号锁定 / wrong credentials or locked"}},
)
def token(body: Credentials, ops: Anonymous) -> TokenOut:
    """Exchange a username and password for a short-lived token."""
    t = accounts.login(ops, body.username, body.password)
    return TokenOut(access_token=t.access_token, expires_in=t.expires_in)

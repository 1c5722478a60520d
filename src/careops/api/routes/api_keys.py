"""API keys of the hospital's apps and systems, for administrators (`users.manage`): the secret
is in the creation answer and nowhere else."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.pages import Page, PageParams, page_params
from careops.identity import apikeys
from careops.identity.accounts import DEPARTMENT_PATTERN, NAME_PATTERN
from careops.identity.roles import APP_SCOPES
from careops.service import Ops

router = APIRouter(
    prefix="/api-keys",
    tags=["api-keys"],
    responses={
        **AUTH_ERRORS,
        404: {"description": "没有该密钥 / no such key"},
        409: {"description": "名称已用或已吊销 / name taken, or already revoked"},
    },
)

Manage = Annotated[Ops, Depends(require("users.manage"))]
Department = Annotated[str, Field(min_length=1, max_length=64, pattern=DEPARTMENT_PATTERN)]
Scope = Literal[tuple(sorted(APP_SCOPES))]  # type: ignore[valid-type]


class KeyCreate(BaseModel):
    """A new key: the app's name, its scopes (see `APP_SCOPES`), optional departments."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=2, max_length=64, pattern=NAME_PATTERN, description="应用名 / the app's name"
    )
    scopes: list[Scope] = Field(min_length=1, max_length=20, description="权限范围 / scopes")
    departments: list[Department] = Field(
        default=[], max_length=50, description="科室 / departments"
    )


class KeyOut(BaseModel):
    """A key as listed (never its secret)."""

    key_id: str
    name: str
    scopes: list[str]
    departments: list[str]
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class NewKeyOut(KeyOut):
    """A key just created: `secret` is the bearer credential, shown this once."""

    secret: str = Field(description="完整密钥, 仅此一次 / the whole key, shown this once")


def _out(k: apikeys.ApiKey) -> dict:
    return {
        "key_id": k.key_id,
        "name": k.name,
        "scopes": list(k.scopes),
        "departments": list(k.departments),
        "created_at": k.created_at,
        "created_by": k.created_by,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    }


@router.get("", summary="API 密钥列表 / list API keys")
def list_keys(ops: Manage, page: Annotated[PageParams, Depends(page_params)]) -> Page[KeyOut]:
    """Keys by name, revoked ones included (who had access when)."""
    items, total = apikeys.list_keys(ops, page.limit, page.offset)
    return Page(
        items=[KeyOut(**_out(k)) for k in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("", status_code=201, summary="新建 API 密钥 / create an API key (shown once)")
def create_key(body: KeyCreate, ops: Manage) -> NewKeyOut:
    """Create a key; the answer holds the secret, which is never shown again."""
    new = apikeys.create_key(ops, body.name, body.scopes, body.departments)
    return NewKeyOut(**_out(new.key), secret=new.secret)


@router.delete("/{name}", summary="吊销 API 密钥 / revoke an API key")
def revoke_key(
    name: Annotated[str, Path(min_length=2, max_length=64, description="名称或密钥 ID")],
    ops: Manage,
) -> KeyOut:
    """Revoke a key by name or key id; requests with it answer 401 from now on."""
    return KeyOut(**_out(apikeys.revoke_key(ops, name)))

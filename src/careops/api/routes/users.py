"""Staff accounts for administrators (`users.manage`): list, create, read, change; the patients
in a health manager's care."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import AUTH_ERRORS, require
from careops.api.pages import Page, PageParams, page_params
from careops.identity import accounts, assignments
from careops.identity.accounts import DEPARTMENT_PATTERN, NAME_PATTERN
from careops.identity.passwords import MAX_LENGTH, MIN_LENGTH
from careops.identity.roles import Role
from careops.service import Ops

router = APIRouter(
    prefix="/users",
    tags=["users"],
    responses={
        **AUTH_ERRORS,
        404: {"description": "没有该账号 / no such account"},
        409: {"description": "已存在或与当前状态冲突 / exists already, or a conflict"},
    },
)

Manage = Annotated[Ops, Depends(require("users.manage"))]
Username = Annotated[
    str,
    Path(min_length=2, max_length=64, pattern=NAME_PATTERN, description="用户名"),
]
Department = Annotated[str, Field(min_length=1, max_length=64, pattern=DEPARTMENT_PATTERN)]


class UserCreate(BaseModel):
    """A new staff account. Only these fields: counters, locks and hashes are not input."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(
        min_length=2,
        max_length=64,
        pattern=NAME_PATTERN,
        description="用户名(小写字母开头) / username: lower-case, a letter first",
    )
    password: str = Field(
        min_length=MIN_LENGTH, max_length=MAX_LENGTH, description="初始密码 / initial password"
    )
    role: Role = Field(description="角色 / role")
    departments: list[Department] = Field(default=[], max_length=50, description="科室")
    display_name: str = Field(default="", max_length=128, description="显示名 / display name")


class UserUpdate(BaseModel):
    """Changes to an account; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    disabled: bool | None = Field(default=None, description="停用 / disable (true) or enable")
    role: Role | None = None
    departments: list[Department] | None = Field(default=None, max_length=50)
    display_name: str | None = Field(default=None, max_length=128)


class PasswordSet(BaseModel):
    """An administrator's password reset."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class UserOut(BaseModel):
    """An account as administrators see it (never its password hash or counters)."""

    username: str
    display_name: str
    role: str
    departments: list[str]
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
    created_by: str


class PatientIds(BaseModel):
    """Patients to put in a health manager's care."""

    model_config = ConfigDict(extra="forbid")
    user_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=1000
    )


class AssignmentOut(BaseModel):
    """One patient in a health manager's care."""

    user_id: str
    assigned_at: dt.datetime
    assigned_by: str


class ChangedOut(BaseModel):
    """Which patients an assignment changed, and which were already so."""

    changed: list[str]
    unchanged: list[str]


def _out(a: accounts.Account) -> UserOut:
    return UserOut(
        username=a.username,
        display_name=a.display_name,
        role=a.role,
        departments=list(a.departments),
        disabled=a.disabled,
        locked_until=a.locked_until,
        created_at=a.created_at,
        created_by=a.created_by,
    )


@router.get("", summary="员工账号列表 / list staff accounts")
def list_users(
    ops: Manage,
    page: Annotated[PageParams, Depends(page_params)],
    role: Role | None = None,
) -> Page[UserOut]:
    """Accounts in username order, a page at a time (optionally of one role)."""
    items, total = accounts.list_users(ops, page.limit, page.offset, role=role)
    return Page(items=[_out(a) for a in items], total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201, summary="新建员工账号 / create a staff account")
def create_user(body: UserCreate, ops: Manage) -> UserOut:
    """Create an account; only an administrator may create an administrator."""
    a = accounts.add_user(
        ops, body.username, body.role, body.password, body.departments, body.display_name
    )
    return _out(a)


@router.get("/{username}", summary="员工账号 / one staff account")
def get_user(username: Username, ops: Manage) -> UserOut:
    """One account."""
    return _out(accounts.get_user(ops, username))


@router.patch("/{username}", summary="修改账号: 停用/启用/角色/科室 / change an account")
def update_user(username: Username, body: UserUpdate, ops: Manage) -> UserOut:
    """Disable or enable an account, change its role, departments or display name; disabling
    or changing role or departments ends its live tokens."""
    a = accounts.update_user(
        ops,
        username,
        disabled=body.disabled,
        role=body.role,
        departments=body.departments,
        display_name=body.display_name,
    )
    return _out(a)


@router.put("/{username}/password", status_code=204, summary="重设密码 / reset a password")
def set_password(username: Username, body: PasswordSet, ops: Manage) -> Response:
    """Set an account's password; it is unlocked and its tokens end."""
    accounts.set_password(ops, username, body.password)
    return Response(status_code=204)


@router.get("/{username}/patients", summary="健康管理师名下患者 / a health manager's patients")
def patients(
    username: Username, ops: Manage, page: Annotated[PageParams, Depends(page_params)]
) -> list[AssignmentOut]:
    """The patients in a health manager's care, by patient id."""
    rows = assignments.patients_of(ops, username, page.limit, page.offset)
    return [
        AssignmentOut(user_id=r.user_id, assigned_at=r.assigned_at, assigned_by=r.assigned_by)
        for r in rows
    ]


@router.post("/{username}/patients", summary="分配患者 / put patients in a health manager's care")
def assign(username: Username, body: PatientIds, ops: Manage) -> ChangedOut:
    """Assign patients (already assigned ones are reported unchanged)."""
    done = assignments.assign(ops, username, body.user_ids)
    return ChangedOut(changed=list(done.changed), unchanged=list(done.unchanged))


@router.delete(
    "/{username}/patients/{user_id}",
    summary="取消分配 / take a patient out of a health manager's care",
)
def unassign(
    username: Username,
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    ops: Manage,
) -> ChangedOut:
    """Unassign one patient."""
    done = assignments.unassign(ops, username, [user_id])
    return ChangedOut(changed=list(done.changed), unchanged=list(done.unchanged))

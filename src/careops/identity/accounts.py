"""Staff accounts: create one, log in (with lock-out after repeated failures), look one up."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from careops.errors import AlreadyExists, InvalidInput, NotFound, Unauthorized
from careops.identity import passwords, tokens
from careops.identity.roles import ROLES
from careops.service import Actor, Ops
from careops.state.models import users

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
DEPARTMENT = re.compile(r"^[^\x00-\x1f\x7f<>\"'&]{1,64}$")


@dataclass(frozen=True)
class Account:
    """A staff account as others may see it (never its password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    departments: tuple[str, ...]
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class Token:
    """A login's result: the bearer token and how long it lives."""

    access_token: str
    expires_in: int
    token_type: str = "bearer"


def _account(row) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        departments=tuple(row.departments or ()),
        disabled=bool(row.disabled),
        locked_until=_aware(row.locked_until),
        created_at=_aware(row.created_at),
        created_by=row.created_by,
    )


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def check_departments(departments: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Department names as given, refused when empty, huge, or holding markup or controls."""
    out = []
    for d in departments:
        d = d.strip()
        if not DEPARTMENT.match(d):
            raise InvalidInput(f"科室名不合法 / bad department name {d[:80]!r}")
        out.append(d)
    return tuple(dict.fromkeys(out))


def add_user(
    ops: Ops,
    username: str,
    role: str,
    password: str,
    departments: tuple[str, ...] = (),
    display_name: str = "",
) -> Account:
    """Create a staff account; audited in the same transaction."""
    ops.require("users.manage")
    if not USERNAME.match(username):
        raise InvalidInput(
            f"用户名不合法 / bad username {username[:80]!r}: 2–64 lower-case letters, digits, "
            "'_', '.', '-', starting with a letter"
        )
    if role not in ROLES:
        raise InvalidInput(f"未知角色 / unknown role {role[:40]!r}; one of {', '.join(ROLES)}")
    if len(display_name) > 128 or not DEPARTMENT.match(display_name or "x"):
        raise InvalidInput("显示名不合法 / bad display name")
    departments = check_departments(departments)
    if role == "medical" and not departments:
        raise InvalidInput("医生/医助账号须指定科室 / a medical account needs a department")
    passwords.check_strength(password)
    now = dt.datetime.now(dt.UTC)
    with ops.state.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
            raise AlreadyExists(f"用户已存在 / user {username} already exists")
        conn.execute(
            users.insert().values(
                username=username,
                display_name=display_name,
                role=role,
                departments=list(departments),
                password_hash=passwords.hash_password(password),
                disabled=False,
                failed_logins=0,
                created_at=now,
                created_by=ops.actor.label,
                password_changed_at=now,
            )
        )
        ops.audit(
            "user.add",
            target=f"user:{username}",
            detail={"role": role, "departments": list(departments)},
            conn=conn,
        )
    return get_user(ops, username)


def get_user(ops: Ops, username: str) -> Account:
    """One account by username."""
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"用户不存在 / no user {username[:64]!r}")
    return _account(row)


_BAD_LOGIN = "用户名或密码错误 / wrong username or password"


def login(ops: Ops, username: str, password: str) -> Token:
    """Check a username and password and issue a short-lived token. After
    `api.max_failed_logins` failures in a row the account is locked for `api.lockout_s`; an
    unknown name, a wrong password, a disabled and a locked account all answer 401, and an
    unknown name costs the same hashing time as a known one."""
    settings = ops.settings.api
    now = dt.datetime.now(dt.UTC)
    with ops.state.begin() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            passwords.verify_password(passwords.DUMMY_HASH, password)
            ops.audit("auth.login_failed", target=f"user:{username[:64]}", conn=conn)
            raise Unauthorized(_BAD_LOGIN)
        locked = _aware(row.locked_until)
        if locked is not None and locked > now:
            ops.audit("auth.login_locked", target=f"user:{username}", conn=conn)
            raise Unauthorized(
                "账号因多次登录失败已锁定, 请稍后再试或联系管理员 / the account is locked after "
                "repeated failed logins; try later or ask an administrator"
            )
        ok = passwords.verify_password(row.password_hash, password)
        if not ok or row.disabled:
            failures = row.failed_logins + 1
            values: dict = {"failed_logins": failures}
            if failures >= settings.max_failed_logins:
                values = {
                    "failed_logins": 0,
                    "locked_until": now + dt.timedelta(seconds=settings.lockout_s),
                }
            conn.execute(users.update().where(users.c.id == row.id).values(**values))
            ops.audit("auth.login_failed", target=f"user:{username}", conn=conn)
    # the failure is committed above before answering (a raise inside would roll it back)
    if not ok or row.disabled:
        raise Unauthorized(_BAD_LOGIN)
    with ops.state.begin() as conn:
        values = {"failed_logins": 0, "locked_until": None}
        if passwords.needs_rehash(row.password_hash):
            values["password_hash"] = passwords.hash_password(password)
        conn.execute(users.update().where(users.c.id == row.id).values(**values))
        ops.audit("auth.login", target=f"user:{username}", conn=conn)
    key = tokens.signing_key(ops.state, _secret(ops))
    token, _ = tokens.issue(
        key, row.username, row.role, tuple(row.departments or ()), settings.token_ttl_s
    )
    return Token(access_token=token, expires_in=settings.token_ttl_s)


def actor_for_token(ops: Ops, token: str) -> Actor:
    """The staff member a bearer token speaks for; `Unauthorized` if it is not valid, or the
    account has since been disabled or changed role."""
    key = tokens.signing_key(ops.state, _secret(ops))
    claims = tokens.verify(ops.state, key, token)
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == claims.username)).first()
    if row is None or row.disabled or row.role != claims.role:
        raise Unauthorized("令牌无效 / invalid token")
    return Actor(
        name=row.username,
        kind="user",
        roles=(row.role,),
        departments=tuple(row.departments or ()),
    )


def _secret(ops: Ops) -> str | None:
    key = ops.settings.api.secret_key
    return key.get_secret_value() if key else None

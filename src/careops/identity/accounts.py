"""Staff accounts: create, list, change (disable, enable, role, departments, password), log in
with lock-out after repeated failures.

Every change is audited in its own transaction and needs `users.manage`; only an administrator
may make an administrator. Disabling an account, changing its role or departments, or setting
its password ends its live tokens (see `sessions.end_sessions`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from careops.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from careops.identity import passwords, sessions, tokens
from careops.identity.roles import ROLES
from careops.identity.sessions import actor_for_token, aware
from careops.identity.throttle import LoginThrottle
from careops.service import Ops
from careops.state.models import users

__all__ = [
    "Account",
    "Token",
    "actor_for_token",
    "add_user",
    "get_user",
    "list_users",
    "login",
    "set_password",
    "update_user",
]

#: account and API-key names (also the pattern of the API's path and body fields)
NAME_PATTERN = r"^[a-z][a-z0-9_.-]{1,63}$"
USERNAME = re.compile(NAME_PATTERN.strip("^$"))
#: a department name: no control characters, markup or bidirectional overrides
DEPARTMENT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f<>\"'&\u202a-\u202e\u2066-\u2069]{1,64}$"
DEPARTMENT = re.compile(DEPARTMENT_PATTERN.strip("^$"))
DISPLAY_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f<>\"'&\u202a-\u202e\u2066-\u2069]{0,128}")


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
        locked_until=aware(row.locked_until),
        created_at=aware(row.created_at),
        created_by=row.created_by,
    )


def check_username(username: str, zh: str = "用户名", en: str = "username") -> str:
    """`username` if it is a valid account (or key, `zh`/`en` naming which) name, else
    `InvalidInput` saying why."""
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise InvalidInput(
            f"{zh}不合法 / bad {en} {str(username)[:80]!r}: 2–64 lower-case letters, digits, "
            "'_', '.', '-', starting with a letter"
        )
    return username


def check_role(role: str) -> str:
    """`role` if CareOps knows it."""
    if role not in ROLES:
        raise InvalidInput(f"未知角色 / unknown role {str(role)[:40]!r}; one of {', '.join(ROLES)}")
    return role


def check_departments(departments: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Department names as given, refused when empty, huge, or holding markup or controls."""
    if len(departments) > 50:
        raise InvalidInput("科室最多 50 个 / at most 50 departments")
    out = []
    for d in departments:
        d = d.strip()
        if not DEPARTMENT.fullmatch(d):
            raise InvalidInput(f"科室名不合法 / bad department name {d[:80]!r}")
        out.append(d)
    return tuple(dict.fromkeys(out))


def _check_display_name(display_name: str) -> str:
    if not DISPLAY_NAME.fullmatch(display_name):
        raise InvalidInput(
            "显示名不合法 / bad display name: at most 128 characters, no markup or control "
            "characters"
        )
    return display_name


def _check_grant(ops: Ops, role: str) -> None:
    """Only an administrator (or the machine's own OS account) may make an administrator."""
    if role == "admin" and not (ops.actor.kind == "os" or "admin" in ops.actor.roles):
        raise Forbidden("只有管理员可以授予管理员角色 / only an administrator may grant 'admin'")


def _check_medical(role: str, departments: tuple[str, ...]) -> None:
    if role == "medical" and not departments:
        raise InvalidInput("医生/医助账号须指定科室 / a medical account needs a department")


def add_user(
    ops: Ops,
    username: str,
    role: str,
    password: str,
    departments: tuple[str, ...] | list[str] = (),
    display_name: str = "",
) -> Account:
    """Create a staff account; audited in the same transaction."""
    ops.require("users.manage")
    check_username(username)
    check_role(role)
    _check_grant(ops, role)
    _check_display_name(display_name)
    departments = check_departments(departments)
    _check_medical(role, departments)
    passwords.check_strength(password, username)
    now = dt.datetime.now(dt.UTC)
    try:
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
    except sa.exc.IntegrityError:  # created by someone else between the check and the insert
        raise AlreadyExists(f"用户已存在 / user {username} already exists") from None
    return get_user(ops, username)


def get_user(ops: Ops, username: str) -> Account:
    """One account by username."""
    ops.require("users.manage")
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"用户不存在 / no user {str(username)[:64]!r}")
    return _account(row)


def list_users(
    ops: Ops, limit: int = 50, offset: int = 0, role: str | None = None
) -> tuple[list[Account], int]:
    """One page of accounts in username order, and how many there are (of `role`, if given)."""
    ops.require("users.manage")
    where = [users.c.role == check_role(role)] if role else []
    with ops.state.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(users).where(*where)).scalar()
        rows = conn.execute(
            sa.select(users).where(*where).order_by(users.c.username).limit(limit).offset(offset)
        ).all()
    return [_account(r) for r in rows], int(total or 0)


def update_user(
    ops: Ops,
    username: str,
    *,
    disabled: bool | None = None,
    role: str | None = None,
    departments: tuple[str, ...] | list[str] | None = None,
    display_name: str | None = None,
) -> Account:
    """Disable or enable an account, change its role, departments or display name (what is
    None stays). Disabling, or changing role or departments, ends its live tokens. Nobody
    disables or demotes their own account (so an administrator cannot lock everyone out)."""
    ops.require("users.manage")
    if role is not None:
        check_role(role)
        _check_grant(ops, role)
    if departments is not None:
        departments = check_departments(departments)
    if display_name is not None:
        _check_display_name(display_name)
    own = ops.actor.kind == "user" and ops.actor.name == username
    with ops.state.begin() as conn:
        row = conn.execute(
            sa.select(users).where(users.c.username == username).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"用户不存在 / no user {str(username)[:64]!r}")
        if row.role == "admin" and role not in (None, "admin"):
            _check_grant(ops, "admin")  # demoting an administrator is an administrator's call
        if own and (disabled or (role is not None and role != row.role)):
            raise Conflict("不能停用或降级自己的账号 / you cannot disable or demote yourself")
        values: dict = {}
        if disabled is not None and bool(disabled) != bool(row.disabled):
            values["disabled"] = bool(disabled)
            if not disabled:  # enabled again: a fresh start, not the old lock-out
                values |= {"failed_logins": 0, "locked_until": None}
        if role is not None and role != row.role:
            values["role"] = role
        if departments is not None and tuple(departments) != tuple(row.departments or ()):
            values["departments"] = list(departments)
        if display_name is not None and display_name != row.display_name:
            values["display_name"] = display_name
        _check_medical(
            values.get("role", row.role), tuple(values.get("departments", row.departments or ()))
        )
        if not values:
            return _account(row)
        conn.execute(users.update().where(users.c.id == row.id).values(**values))
        ended = 0
        if values.get("disabled") or "role" in values or "departments" in values:
            ended = sessions.end_sessions(conn, username)
        changes = {k: v for k, v in values.items() if k not in ("failed_logins", "locked_until")}
        ops.audit(
            "user.disable" if values.get("disabled") else "user.update",
            target=f"user:{username}",
            detail={"changes": changes, "sessions_ended": ended},
            conn=conn,
        )
        row = conn.execute(sa.select(users).where(users.c.id == row.id)).first()
    return _account(row)


def set_password(ops: Ops, username: str, password: str) -> Account:
    """Set an account's password (an administrator's reset); unlocks it and ends its tokens."""
    ops.require("users.manage")
    passwords.check_strength(password, username)
    hashed = passwords.hash_password(password)
    with ops.state.begin() as conn:
        row = conn.execute(
            sa.select(users.c.id).where(users.c.username == username).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"用户不存在 / no user {str(username)[:64]!r}")
        conn.execute(
            users.update()
            .where(users.c.id == row.id)
            .values(
                password_hash=hashed,
                password_changed_at=dt.datetime.now(dt.UTC),
                failed_logins=0,
                locked_until=None,
            )
        )
        ended = sessions.end_sessions(conn, username)
        ops.audit(
            "user.password_set",
            target=f"user:{username}",
            detail={"sessions_ended": ended},
            conn=conn,
        )
    return get_user(ops, username)


def change_own_password(ops: Ops, current: str, new: str) -> None:
    """A logged-in member of staff changes their own password, proving the current one; their
    tokens end (the one in hand too: they log in again). A wrong current password counts as a
    failed login, so a stolen token cannot be used to guess the password without lock-out."""
    if ops.actor.kind != "user":
        raise Forbidden("只有员工账号可以修改密码 / only a staff account has a password")
    username = ops.actor.name
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise Unauthorized(sessions.INVALID)
    locked = aware(row.locked_until)
    if locked is not None and locked > dt.datetime.now(dt.UTC):
        raise Forbidden(_LOCKED)
    if not passwords.verify_password(row.password_hash, current):
        _count_failure(ops, row.id, username, "password_change")
        raise Forbidden("当前密码错误 / the current password is wrong")
    if current == new:
        raise InvalidInput("新密码不能与当前密码相同 / the new password equals the current one")
    passwords.check_strength(new, username)
    hashed = passwords.hash_password(new)
    with ops.state.begin() as conn:
        changed = conn.execute(
            users.update()
            .where(users.c.id == row.id, users.c.password_hash == row.password_hash)
            .values(password_hash=hashed, password_changed_at=dt.datetime.now(dt.UTC))
        ).rowcount
        if not changed:
            raise Conflict("密码刚被修改 / the password was changed meanwhile; log in again")
        ended = sessions.end_sessions(conn, username)
        ops.audit(
            "user.password_change",
            target=f"user:{username}",
            detail={"sessions_ended": ended},
            conn=conn,
        )


_BAD_LOGIN = (
    "用户名或密码错误; 连续失败多次后账号会被暂时锁定, 请稍后再试或联系管理员 / wrong username "
    "or password; after repeated failures an account is locked for a while: try later or ask an "
    "administrator"
)
#: only to a caller who already proved who they are (changing their own password)
_LOCKED = (
    "账号因多次登录失败已锁定, 请稍后再试或联系管理员 / the account is locked after repeated "
    "failed logins; try later or ask an administrator"
)


def _attempted(username: str) -> str:
    """How the audit names a login attempt: the name when it can be one, else a placeholder (a
    password typed into the name field must not land in the audit trail)."""
    return f"user:{username}" if USERNAME.fullmatch(username) else "user:<invalid>"


def login(ops: Ops, username: str, password: str, throttle: LoginThrottle | None = None) -> Token:
    """Check a username and password and issue a short-lived token.

    After `api.max_failed_logins` failures in a row the account is locked for `api.lockout_s`.
    An unknown name, a wrong password, a disabled and a locked account all answer 401, and an
    unknown name costs the same hashing time as a known one. The counter is one atomic
    `UPDATE … SET failed_logins = failed_logins + 1 … RETURNING` (the row lock a `SELECT … FOR
    UPDATE` would take, in one statement), so concurrent failures each count, on PostgreSQL and
    on SQLite alike; success is one conditional `UPDATE` that also re-checks, under that lock,
    that the account was not disabled, locked or changed while the password was being checked.

    A locked account answers like a wrong password, so the answers never tell which names exist
    (the audit trail records the lock). With `throttle`, a client address that failed too often
    gets `TooManyRequests` before anything is checked, and each failure here counts against it.
    """
    address = ops.request.source_ip
    if throttle is not None:
        try:
            throttle.check(address)
        except TooManyRequests:
            ops.audit("auth.login_throttled", target=_attempted(username))
            raise
    try:
        return _login(ops, username, password)
    except Unauthorized:
        if throttle is not None:
            throttle.failed(address)
        raise


def _login(ops: Ops, username: str, password: str) -> Token:
    settings = ops.settings.api
    now = dt.datetime.now(dt.UTC)
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        passwords.verify_password(passwords.dummy_hash(), password)
        ops.audit("auth.login_failed", target=_attempted(username), detail={"reason": "unknown"})
        raise Unauthorized(_BAD_LOGIN)
    locked = aware(row.locked_until)
    if locked is not None and locked > now:
        ops.audit("auth.login_locked", target=f"user:{username}")
        raise Unauthorized(_BAD_LOGIN)
    if not passwords.verify_password(row.password_hash, password) or row.disabled:
        _count_failure(ops, row.id, username, "disabled" if row.disabled else "password")
        raise Unauthorized(_BAD_LOGIN)
    key = tokens.signing_key(ops.state, sessions.secret(ops))
    token, claims = tokens.issue(
        key, row.username, row.role, tuple(row.departments or ()), settings.token_ttl_s
    )
    values: dict = {"failed_logins": 0, "locked_until": None}
    if passwords.needs_rehash(row.password_hash):
        values["password_hash"] = passwords.hash_password(password)
    with ops.state.begin() as conn:
        done = conn.execute(
            users.update()
            .where(
                users.c.id == row.id,
                users.c.password_hash == row.password_hash,
                users.c.role == row.role,
                users.c.disabled == sa.false(),
                sa.or_(users.c.locked_until.is_(None), users.c.locked_until <= now),
            )
            .values(**values)
        ).rowcount
        if done:
            ops.audit(
                "auth.login",
                target=f"user:{username}",
                detail={"jti": claims.jti, "expires_at": claims.expires_at.isoformat()},
                conn=conn,
            )
    if not done:  # disabled, locked or changed while the password was checked
        raise Unauthorized(_BAD_LOGIN)
    return Token(access_token=token, expires_in=settings.token_ttl_s)


def _count_failure(ops: Ops, user_id: int, username: str, reason: str) -> None:
    """Count one failed login (committed before the 401 goes out); lock at the limit."""
    settings = ops.settings.api
    now = dt.datetime.now(dt.UTC)
    with ops.state.begin() as conn:
        counted = conn.execute(
            users.update()
            .where(
                users.c.id == user_id,
                sa.or_(users.c.locked_until.is_(None), users.c.locked_until <= now),
            )
            .values(failed_logins=users.c.failed_logins + 1)
            .returning(users.c.failed_logins)
        ).first()
        locked = counted is not None and counted.failed_logins >= settings.max_failed_logins
        if locked:
            conn.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(
                    failed_logins=0, locked_until=now + dt.timedelta(seconds=settings.lockout_s)
                )
            )
        ops.audit(
            "auth.login_failed",
            target=f"user:{username}",
            detail={"reason": reason, "locked": locked or counted is None},
            conn=conn,
        )

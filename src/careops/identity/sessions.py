"""Live sessions: who a bearer token speaks for, logout, and ending an account's tokens.

A token is valid while its signature, audience, issuer and times check out, its id (`jti`) is not
in `revoked_tokens`, and its account still exists, is enabled and has the role the token names.
Every login records its token's id and expiry in the audit trail (`auth.login`); that record is
what lets `end_sessions` revoke every live token of an account when it is disabled, its role or
departments change, or its password is set, so enabling it again does not bring old tokens back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from careops.errors import InvalidInput, Unauthorized
from careops.identity import tokens
from careops.service import Actor, Ops
from careops.state.models import audit_log, users

INVALID = "令牌无效 / invalid token"


@dataclass(frozen=True)
class Me:
    """Who the caller is, as the caller may see it."""

    name: str
    kind: str
    role: str | None
    display_name: str
    departments: tuple[str, ...]
    permissions: tuple[str, ...]


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def secret(ops: Ops) -> str | None:
    """The configured token signing key, if any."""
    key = ops.settings.api.secret_key
    return key.get_secret_value() if key else None


def actor_for_token(ops: Ops, token: str) -> Actor:
    """The staff member a bearer token speaks for; `Unauthorized` if it is not valid, or the
    account has since been disabled or changed role."""
    key = tokens.signing_key(ops.state, secret(ops))
    claims = tokens.verify(ops.state, key, token)
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == claims.username)).first()
    if row is None or row.disabled or row.role != claims.role:
        raise Unauthorized(INVALID)
    return Actor(
        name=row.username,
        kind="user",
        roles=(row.role,),
        departments=tuple(row.departments or ()),
    )


def logout(ops: Ops, token: str) -> None:
    """End the token in hand (it must be valid: a forged one is refused, not recorded)."""
    if token.startswith("cok_"):
        raise InvalidInput(
            "API 密钥不能注销, 请由管理员吊销 / an API key cannot log out; an administrator "
            "revokes it"
        )
    key = tokens.signing_key(ops.state, secret(ops))
    claims = tokens.verify(ops.state, key, token)
    with ops.state.begin() as conn:
        if tokens.revoke_in(conn, [(claims.jti, claims.expires_at)]):
            ops.audit("auth.logout", target=f"user:{claims.username}", conn=conn)


#: the longest a token can live (`api.token_ttl_s` allows up to a day): logins older than this
#: cannot have a live token, whatever the setting was when they happened
MAX_TTL_S = 86_400


def end_sessions(conn: Connection, username: str) -> int:
    """Revoke, inside `conn`'s transaction, every token of `username` that may still be live
    (its logins of the last day recorded them). How many were revoked."""
    now = dt.datetime.now(dt.UTC)
    rows = conn.execute(
        sa.select(audit_log.c.detail).where(
            audit_log.c.action == "auth.login",
            audit_log.c.target == f"user:{username}",
            audit_log.c.at >= now - dt.timedelta(seconds=MAX_TTL_S + 60),
        )
    ).scalars()
    ended: list[tuple[str, dt.datetime]] = []
    for detail in rows:
        try:
            jti = str(detail["jti"])
            expires = aware(dt.datetime.fromisoformat(detail["expires_at"]))
        except (TypeError, KeyError, ValueError):
            continue
        if expires is not None:
            ended.append((jti, expires))
    return tokens.revoke_in(conn, ended)


def whoami(ops: Ops) -> Me:
    """The caller: a staff member's account, or an app's key, with what it may do."""
    actor = ops.actor
    display = ""
    if actor.kind == "user":
        with ops.state.connect() as conn:
            display = (
                conn.execute(
                    sa.select(users.c.display_name).where(users.c.username == actor.name)
                ).scalar()
                or ""
            )
    return Me(
        name=actor.name,
        kind=actor.kind,
        role=actor.roles[0] if actor.roles else None,
        display_name=display,
        departments=actor.departments,
        permissions=tuple(sorted(actor.permissions)),
    )

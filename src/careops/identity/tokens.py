"""Short-lived signed access tokens (JWT, HS256) for staff after login.

A token carries the account's username, role and departments, an id (`jti`) that logout revokes,
and its expiry; the signing key comes from `api.secret_key` or, when none is set, is generated
once per deployment and kept in the state store so that every service process agrees on it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
import weakref
from dataclasses import dataclass

import jwt
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from careops.errors import Unauthorized
from careops.state.models import revoked_tokens, service_secrets

ALGORITHM = "HS256"
ISSUER = "careops"
AUDIENCE = "careops-api"


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its holder."""

    username: str
    role: str
    departments: tuple[str, ...]
    jti: str
    expires_at: dt.datetime


#: the generated signing key of each state store, read once per engine (not once per request)
_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def signing_key(engine: Engine, configured: str | None) -> str:
    """The configured key, else the deployment's generated one (created on first use)."""
    if configured:
        return configured
    if engine not in _KEYS:
        _KEYS[engine] = _stored_key(engine)
    return _KEYS[engine]


def _stored_key(engine: Engine) -> str:
    name = "token_signing_key"
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(service_secrets.c.value).where(service_secrets.c.name == name)
        ).first()
        if row:
            return row[0]
    value = secrets.token_urlsafe(48)
    try:
        with engine.begin() as conn:
            conn.execute(
                service_secrets.insert().values(
                    name=name, value=value, created_at=dt.datetime.now(dt.UTC)
                )
            )
        return value
    except sa.exc.IntegrityError:  # another process created it first: use theirs
        with engine.connect() as conn:
            return conn.execute(
                sa.select(service_secrets.c.value).where(service_secrets.c.name == name)
            ).scalar_one()


def issue(
    key: str, username: str, role: str, departments: tuple[str, ...], ttl_s: int
) -> tuple[str, Claims]:
    """A new signed token for an account, and what it claims."""
    now = dt.datetime.now(dt.UTC)
    claims = Claims(
        username=username,
        role=role,
        departments=tuple(departments),
        jti=uuid.uuid4().hex,
        expires_at=now + dt.timedelta(seconds=ttl_s),
    )
    payload = {
        "sub": username,
        "role": role,
        "dept": list(departments),
        "jti": claims.jti,
        "iat": now,
        "nbf": now,
        "exp": claims.expires_at,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM), claims


def verify(engine: Engine, key: str, token: str) -> Claims:
    """The claims of a valid token; `Unauthorized` for a forged, expired, malformed or revoked
    one (the reason is kept vague on purpose)."""
    if len(token) > 4096:
        raise Unauthorized("令牌无效 / invalid token")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # never "none", never a key-confusion algorithm
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("令牌已过期, 请重新登录 / the token has expired; log in again") from None
    except jwt.PyJWTError:
        raise Unauthorized("令牌无效 / invalid token") from None
    dept = payload.get("dept") or []
    if not isinstance(dept, list) or not all(isinstance(d, str) for d in dept):
        raise Unauthorized("令牌无效 / invalid token")
    claims = Claims(
        username=str(payload["sub"]),
        role=str(payload.get("role", "")),
        departments=tuple(dept),
        jti=str(payload["jti"]),
        expires_at=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
    )
    with engine.connect() as conn:
        revoked = conn.execute(
            sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == claims.jti)
        ).first()
    if revoked:
        raise Unauthorized("令牌已注销 / the token has been revoked; log in again")
    return claims


def revoke_in(conn: Connection, ended: list[tuple[str, dt.datetime]]) -> int:
    """Bar tokens `(jti, expires_at)` inside `conn`'s transaction (logout, a disabled account),
    after purging rows of tokens that have expired anyway, so the list stays as short as the
    live tokens it bars. Already barred ones are skipped; how many were added."""
    now = dt.datetime.now(dt.UTC)
    conn.execute(revoked_tokens.delete().where(revoked_tokens.c.expires_at < now))
    added = 0
    for jti, expires_at in dict(ended).items():
        if expires_at <= now:
            continue
        if conn.dialect.name in ("postgresql", "sqlite"):  # one statement: no race with a twin
            insert = _dialect(conn.dialect.name).insert(revoked_tokens)
            statement = (
                insert.values(jti=jti, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=["jti"])
                .returning(revoked_tokens.c.jti)  # rowcount is not reliable here (psycopg: -1)
            )
            added += len(conn.execute(statement).all())
        elif not conn.execute(
            sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)
        ).first():
            conn.execute(revoked_tokens.insert().values(jti=jti, expires_at=expires_at))
            added += 1
    return added


def _dialect(name: str):
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql
    from sqlalchemy.dialects import sqlite

    return sqlite

"""API keys of the hospital's apps and systems (HIS, the patient app, a WeChat mini-program).

A key reads `cok_<key_id>_<secret>`: `key_id` (16 hex digits) is public and names the row; only
the SHA-256 of the secret (256 random bits, so no slow hash is needed) is stored, compared in
constant time. The whole key is shown once, at creation. A key holds scopes (a subset of
`roles.APP_SCOPES`, never a role) and optional departments; it acts as `app:<name>`. Revoked
keys stay listed (who had access when) and answer 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from careops.errors import AlreadyExists, Conflict, InvalidInput, NotFound, Unauthorized
from careops.identity.accounts import check_departments, check_username
from careops.identity.roles import APP_SCOPES
from careops.identity.sessions import aware
from careops.service import Actor, Ops
from careops.state.models import api_keys

PREFIX = "cok_"
_KEY = re.compile(r"cok_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_INVALID = "API 密钥无效 / invalid API key"

#: last_used_at is written at most this often per key (not on every request)
TOUCH_EVERY_S = 60


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    departments: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class NewKey:
    """A key just created: `secret` is the whole credential, shown this once."""

    key: ApiKey
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=tuple(row.scopes or ()),
        departments=tuple(row.departments or ()),
        created_at=aware(row.created_at),
        created_by=row.created_by,
        revoked_at=aware(row.revoked_at),
        last_used_at=aware(row.last_used_at),
    )


def check_scopes(scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Scopes an app key may hold: at least one, each in `APP_SCOPES`."""
    scopes = tuple(dict.fromkeys(s.strip() for s in scopes))
    if not scopes:
        raise InvalidInput(
            f"至少需要一个权限范围 / a key needs a scope: {', '.join(sorted(APP_SCOPES))}"
        )
    bad = [s for s in scopes if s not in APP_SCOPES]
    if bad:
        raise InvalidInput(
            f"API 密钥不能持有该权限 / scope {bad[0][:64]!r} is not for apps; one of "
            f"{', '.join(sorted(APP_SCOPES))}"
        )
    return scopes


def create_key(
    ops: Ops,
    name: str,
    scopes: tuple[str, ...] | list[str],
    departments: tuple[str, ...] | list[str] = (),
) -> NewKey:
    """A new key for the app `name`; the secret is in the answer and nowhere else."""
    ops.require("users.manage")
    check_username(name, "密钥名", "key name")
    scopes = check_scopes(scopes)
    departments = check_departments(departments)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    try:
        with ops.state.begin() as conn:
            if conn.execute(sa.select(api_keys.c.key_id).where(api_keys.c.name == name)).first():
                raise AlreadyExists(
                    f"密钥名已被使用 / a key named {name} exists (revoked keys keep their name)"
                )
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    secret_hash=_digest(secret),
                    scopes=list(scopes),
                    departments=list(departments),
                    created_at=now,
                    created_by=ops.actor.label,
                )
            )
            ops.audit(
                "apikey.add",
                target=f"app:{name}",
                detail={"key_id": key_id, "scopes": list(scopes), "departments": list(departments)},
                conn=conn,
            )
    except sa.exc.IntegrityError:
        raise AlreadyExists(f"密钥名已被使用 / a key named {name} exists") from None
    return NewKey(key=get_key(ops, name), secret=f"{PREFIX}{key_id}_{secret}")


def get_key(ops: Ops, name: str) -> ApiKey:
    """One key by its name or its key id."""
    ops.require("users.manage")
    with ops.state.connect() as conn:
        row = conn.execute(
            sa.select(api_keys).where(sa.or_(api_keys.c.name == name, api_keys.c.key_id == name))
        ).first()
    if row is None:
        raise NotFound(f"没有该 API 密钥 / no API key {str(name)[:64]!r}")
    return _key(row)


def list_keys(
    ops: Ops, limit: int = 50, offset: int = 0, include_revoked: bool = True
) -> tuple[list[ApiKey], int]:
    """One page of keys by name, and how many there are."""
    ops.require("users.manage")
    where = [] if include_revoked else [api_keys.c.revoked_at.is_(None)]
    with ops.state.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(api_keys).where(*where)
        ).scalar()
        rows = conn.execute(
            sa.select(api_keys).where(*where).order_by(api_keys.c.name).limit(limit).offset(offset)
        ).all()
    return [_key(r) for r in rows], int(total or 0)


def revoke_key(ops: Ops, name: str) -> ApiKey:
    """Revoke a key (by name or key id): every later request with it answers 401."""
    ops.require("users.manage")
    now = dt.datetime.now(dt.UTC)
    with ops.state.begin() as conn:
        row = conn.execute(
            sa.select(api_keys)
            .where(sa.or_(api_keys.c.name == name, api_keys.c.key_id == name))
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"没有该 API 密钥 / no API key {str(name)[:64]!r}")
        if row.revoked_at is not None:
            raise Conflict(f"该密钥已吊销 / the key {row.name} is already revoked")
        conn.execute(
            api_keys.update().where(api_keys.c.key_id == row.key_id).values(revoked_at=now)
        )
        ops.audit(
            "apikey.revoke", target=f"app:{row.name}", detail={"key_id": row.key_id}, conn=conn
        )
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == row.key_id)).first()
    return _key(row)


def actor_for_key(ops: Ops, credential: str) -> Actor:
    """The app an API key speaks for; `Unauthorized` for a malformed, unknown, wrong or revoked
    key (alike, on purpose). Notes when the key was used, at most once a minute."""
    m = _KEY.fullmatch(credential)
    if m is None:
        raise Unauthorized(_INVALID)
    key_id, secret = m.groups()
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
    stored = row.secret_hash if row is not None else _digest("careops-no-such-key")
    if not hmac.compare_digest(stored, _digest(secret)) or row is None or row.revoked_at:
        raise Unauthorized(_INVALID)
    _touch(ops, key_id, aware(row.last_used_at))
    return Actor(
        name=row.name,
        kind="app",
        scopes=tuple(row.scopes or ()),
        departments=tuple(row.departments or ()),
    )


def _touch(ops: Ops, key_id: str, last: dt.datetime | None) -> None:
    now = dt.datetime.now(dt.UTC)
    if last is not None and (now - last).total_seconds() < TOUCH_EVERY_S:
        return
    stale = now - dt.timedelta(seconds=TOUCH_EVERY_S)
    with ops.state.begin() as conn:  # one conditional UPDATE: concurrent requests write once
        conn.execute(
            api_keys.update()
            .where(
                api_keys.c.key_id == key_id,
                sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < stale),
            )
            .values(last_used_at=now)
        )

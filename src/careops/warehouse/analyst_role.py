"""The PostgreSQL role analyst SQL runs as (default `careops_analyst`; docs/sql.md).

It may SELECT the analyst tables (`careops.warehouse.query.is_analyst_table`: the canonical
facts, the tag snapshots and `segment_members`) and nothing else: no login of its own unless the
DBA gives it one, no superuser, member of no role, never the owner of the warehouse. `careops
init` creates it when the warehouse login may create roles, and grants it SELECT on the analyst
tables present; docs/sql.md has the same statements for a DBA.

Tables made after `init` (a day's tag snapshot, `segment_members`, a canonical table a newer
CareOps adds) are granted when CareOps creates or replaces them (`grant_new_tables`), table by
table: no `ALTER DEFAULT PRIVILEGES`, which would also open every future table that is *not* an
analyst table (`contacts`, the quarantine) to the role. Replacing a table (a recomputed
snapshot) creates a new one, so the grant is made again each time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from careops.errors import Forbidden


@dataclass(frozen=True)
class RoleSetup:
    """What `ensure_analyst_role` did: the role, whether it was created, the tables granted,
    or why it could not (the DBA then runs docs/sql.md)."""

    role: str
    created: bool
    granted: tuple[str, ...]
    problem: str | None = None


def ensure_analyst_role(con, role: str) -> RoleSetup:
    """Create the analyst role if missing and grant it SELECT on the analyst tables present
    (idempotent; safe to run beside another `careops init`)."""
    from psycopg import errors, sql

    from careops.warehouse.query import is_analyst_table

    raw = con.con  # the warehouse owner's psycopg connection (autocommit)
    created = False
    with raw.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            try:
                cur.execute(
                    sql.SQL(
                        "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                        "NOINHERIT NOREPLICATION NOBYPASSRLS"
                    ).format(sql.Identifier(role))
                )
                created = True
            except (errors.DuplicateObject, errors.UniqueViolation):
                pass  # another init created it just now
            except errors.InsufficientPrivilege:
                return RoleSetup(
                    role,
                    False,
                    (),
                    problem=(
                        f"the warehouse login may not create roles; a DBA creates {role} "
                        "with docs/sql.md"
                    ),
                )
        cur.execute(
            "SELECT current_schema(), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        )
        schema, superuser = cur.fetchone()
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        present = sorted(r[0] for r in cur.fetchall() if is_analyst_table(r[0]))
        try:
            cur.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )
            if present:
                cur.execute(
                    sql.SQL("GRANT SELECT ON {} TO {}").format(
                        sql.SQL(", ").join(sql.Identifier(schema, t) for t in present),
                        sql.Identifier(role),
                    )
                )
            if not superuser:  # the owner may then SET ROLE to it (superusers always may)
                cur.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
        except (errors.InsufficientPrivilege, errors.InvalidGrantOperation) as exc:
            return RoleSetup(role, created, (), problem=str(exc).splitlines()[0])
        except errors.UniqueViolation:  # a concurrent GRANT of the same privilege
            pass
    return RoleSetup(role, created, tuple(present))


def grant_new_tables(con, names: Iterable[str], role: str | None = None) -> tuple[str, ...]:
    """Grant the analyst role SELECT on those of `names` that are analyst tables, just after
    CareOps created or replaced them; return the tables granted. PostgreSQL only (elsewhere, and
    when the role does not exist because a DBA has not set it up yet, nothing to do). Never
    grants a table that is not an analyst table."""
    from careops.warehouse.connect import backend_kind

    if backend_kind(con) != "postgres":
        return ()
    from psycopg import errors, sql

    from careops.warehouse.query import is_analyst_table

    wanted = sorted({n for n in names if is_analyst_table(n)})
    if not wanted:
        return ()
    if role is None:
        from careops.config import get_settings

        role = get_settings().sql.analyst_role
    with con.con.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            return ()
        try:
            cur.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in wanted), sql.Identifier(role)
                )
            )
        except (errors.InsufficientPrivilege, errors.InvalidGrantOperation):
            return ()  # not the owner here: the DBA grants (docs/sql.md)
        except errors.UniqueViolation:  # a concurrent GRANT of the same privilege
            pass
    return tuple(wanted)


def verify_analyst(cur, expected_role: str | None) -> None:
    """Refuse to run analyst SQL as anything but a plain role: not a superuser, member of no
    role, owner of no table here, and (after SET ROLE) the analyst role itself."""
    cur.execute("""
        SELECT current_user, r.rolsuper, r.rolbypassrls,
               EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid),
               EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid
                       AND c.relnamespace = current_schema()::regnamespace)
        FROM pg_roles r WHERE r.rolname = current_user""")
    user, superuser, bypass, member, owner = cur.fetchone()
    if expected_role is not None and user != expected_role:
        raise Forbidden(
            f"分析查询以 {user} 运行, 而不是 {expected_role} / analyst SQL runs as {user}, not "
            f"{expected_role}"
        )
    why = (
        "a superuser"
        if superuser
        else "allowed to bypass row security"
        if bypass
        else "a member of other roles"
        if member
        else "the owner of warehouse tables"
        if owner
        else None
    )
    if why:
        raise Forbidden(
            f"分析查询不能以 {user} 运行 / analyst SQL will not run as {user}: it is {why}; "
            "sql.analyst_url must log in as a role that can only SELECT (docs/sql.md)"
        )

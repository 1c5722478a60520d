"""The service context every capability runs in: which warehouse, which state store, who asks.

Domain services (`careops.<domain>.service`) are functions `f(ops: Ops, typed args) -> typed
result`. They open the warehouse through `ops.warehouse()` (closed when done, read-only when they
only read), write the audit trail through `ops.audit` (inside the transaction of the change where
the change is in the state store), and know nothing of flags, Rich or languages. The CLI, the API
and the cockpit build one `Ops` per command or request and print or render what comes back.

Where the state lives: with no `state` setting, the state store sits beside its warehouse — a
DuckDB file `x/warehouse.duckdb` keeps `x/warehouse.state.db`; a PostgreSQL warehouse keeps its
state in the same database; a Spark warehouse in `state.db` under its warehouse folder. So one
warehouse's experiments and audit never show up under another's, wherever a command runs.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from careops.config import Settings, get_settings

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from sqlalchemy.engine import Connection, Engine

ActorKind = Literal["os", "user", "app", "system"]


@dataclass(frozen=True)
class Actor:
    """Who asks. Until the service brings accounts, a CLI caller is the OS login, recorded as
    such (`os:alice`) and never as a verified identity."""

    name: str
    kind: ActorKind = "os"
    roles: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()  # an API key's permissions (apps hold scopes, not roles)

    @property
    def label(self) -> str:
        """How the audit trail names this actor: `os:alice`, `user:13`, `app:his`."""
        return f"{self.kind}:{self.name}"

    @property
    def permissions(self) -> frozenset[str]:
        """What this actor may do: its roles' grants, or an app's scopes. An OS login (the CLI
        on the warehouse's own machine) is trusted as an administrator of that machine."""
        from careops.identity.roles import GRANTS, permissions_of

        if self.kind == "os" and not self.roles:
            return GRANTS["admin"]
        if self.kind in ("app", "system"):  # an app key, or a CareOps job (journey worker)
            return frozenset(self.scopes)
        return permissions_of(self.roles)

    def can(self, permission: str) -> bool:
        """Whether this actor holds `permission` (see `careops.identity.roles`)."""
        return permission in self.permissions

    @classmethod
    def os_user(cls) -> Actor:
        """The operating-system account running the command (the CLI's caller), from the
        process' user id — not from LOGNAME/USER, which anyone can set."""
        try:
            name = pwd.getpwuid(os.getuid()).pw_name
        except (KeyError, OSError):  # a uid without a passwd entry (some containers)
            name = f"uid{os.getuid()}"
        return cls(name=name, kind="os")


def state_url_for(warehouse_url: str, settings: Settings | None = None) -> str:
    """The state store of a warehouse: the `state` setting, else beside the warehouse."""
    settings = settings or get_settings()
    if settings.state:
        return settings.state
    parsed = urlparse(warehouse_url)
    scheme = parsed.scheme.lower()
    if scheme == "duckdb":
        from careops.warehouse.connect import duckdb_path

        path = duckdb_path(warehouse_url)
        if path in ("", ":memory:"):
            return "sqlite:///:memory:"
        p = Path(path)
        return f"sqlite:///{p.with_name(p.stem + '.state.db')}"
    if scheme in ("postgresql", "postgres"):
        return warehouse_url.split("?", 1)[0]
    from careops.warehouse.spark import local_dir  # imports no pyspark

    folder = local_dir(settings.spark.warehouse_dir)
    if folder is None:
        from careops.errors import ConfigError

        raise ConfigError(
            "Spark 仓库不在本机, 请用 CAREOPS_STATE 指定状态库 (PostgreSQL) / the Spark "
            f"warehouse {settings.spark.warehouse_dir} is not on this machine: set the state "
            "store with CAREOPS_STATE (postgresql://…), shared by every process of the deployment"
        )
    return f"sqlite:///{folder / 'state.db'}"


@dataclass(frozen=True)
class Request:
    """Where a call came from, for the audit trail: the API's request id and client address,
    and the purpose the caller declared (PIPL: why personal data was read)."""

    request_id: str | None = None
    source_ip: str | None = None
    purpose: str | None = None


@dataclass
class Ops:
    """One caller's view of CareOps: settings, warehouse URL, state store, actor."""

    warehouse_url: str
    state_url: str
    actor: Actor
    settings: Settings = field(repr=False)
    request: Request = field(default_factory=Request)
    shared_state: Engine | None = field(default=None, repr=False)  # the service's, kept open

    @classmethod
    def open(
        cls,
        warehouse: str | None = None,
        state: str | None = None,
        actor: Actor | None = None,
        settings: Settings | None = None,
        request: Request | None = None,
        shared_state: Engine | None = None,
    ) -> Ops:
        """The context from explicit URLs (CLI flags, a request), else the settings."""
        settings = settings or get_settings()
        url = warehouse or settings.warehouse
        return cls(
            warehouse_url=url,
            state_url=state or state_url_for(url, settings),
            actor=actor or Actor.os_user(),
            settings=settings,
            request=request or Request(),
            shared_state=shared_state,
        )

    def require(self, permission: str) -> None:
        """Raise `Forbidden` unless the actor holds `permission`."""
        if not self.actor.can(permission):
            from careops.errors import Forbidden
            from careops.labels import label_or

            zh, en = (label_or(f"permission.{permission}", permission, g) for g in ("zh", "en"))
            raise Forbidden(f"无权限: {zh} / not allowed: {en} ({permission})")

    @contextmanager
    def warehouse(
        self, *, read_only: bool = False, existing: bool = False
    ) -> Iterator[BaseBackend]:
        """The warehouse, closed when the block ends (also on an exception).

        A DuckDB file another process holds is retried for `service.cli_wait_s` seconds (0:
        answered `WarehouseBusy` at once). In a service process that owns the file, the
        service's gate opens it (`careops.warehouse.connect.own`). `existing`: write only into
        a warehouse that is there (never create an empty one)."""
        from careops.warehouse import warehouse

        wait = self.settings.service.cli_wait_s
        with warehouse(
            self.warehouse_url, read_only=read_only, wait_s=wait, existing=existing
        ) as con:
            yield con

    @cached_property
    def state(self) -> Engine:
        """The state store, migrated to the current schema on first use (a long-running service
        hands its own engine, migrated once, as `shared_state`)."""
        from careops.state.store import connect_state, migrate

        if self.shared_state is not None:
            return self.shared_state
        engine = connect_state(self.state_url)
        migrate(engine)
        return engine

    def audit(
        self,
        action: str,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        *,
        conn: Connection | None = None,
        subject: str | None = None,
        purpose: str | None = None,
    ) -> None:
        """Record who did what to which data (PIPL); inside `conn`'s transaction when given.
        `subject`: the patient whose data was read or changed; `purpose`: why (default: the
        purpose the request declared)."""
        from careops.state.store import write_audit

        context = {
            "role": ",".join(self.actor.roles) or None,
            "subject": subject,
            "purpose": purpose or self.request.purpose,
            "source_ip": self.request.source_ip,
            "request_id": self.request.request_id,
        }
        if conn is not None:
            write_audit(conn, action, target, detail, self.actor.label, **context)
            return
        with self.state.begin() as c:
            write_audit(c, action, target, detail, self.actor.label, **context)

    def close(self) -> None:
        """Release the state store's connections (not a service's shared engine)."""
        if "state" in self.__dict__ and self.shared_state is None:
            self.state.dispose()


def now() -> dt.datetime:
    """The current time in UTC (one place, so tests can freeze it)."""
    return dt.datetime.now(dt.UTC)

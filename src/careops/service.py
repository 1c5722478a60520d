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

    @property
    def label(self) -> str:
        """How the audit trail names this actor: `os:alice`, `user:13`, `app:his`."""
        return f"{self.kind}:{self.name}"

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
    return f"sqlite:///{Path(settings.spark.warehouse_dir) / 'state.db'}"


@dataclass
class Ops:
    """One caller's view of CareOps: settings, warehouse URL, state store, actor."""

    warehouse_url: str
    state_url: str
    actor: Actor
    settings: Settings = field(repr=False)

    @classmethod
    def open(
        cls,
        warehouse: str | None = None,
        state: str | None = None,
        actor: Actor | None = None,
        settings: Settings | None = None,
    ) -> Ops:
        """The context from explicit URLs (CLI flags, a request), else the settings."""
        settings = settings or get_settings()
        url = warehouse or settings.warehouse
        return cls(
            warehouse_url=url,
            state_url=state or state_url_for(url, settings),
            actor=actor or Actor.os_user(),
            settings=settings,
        )

    @contextmanager
    def warehouse(self, *, read_only: bool = False) -> Iterator[BaseBackend]:
        """The warehouse, closed when the block ends (also on an exception)."""
        from careops.warehouse import warehouse

        with warehouse(self.warehouse_url, read_only=read_only) as con:
            yield con

    @cached_property
    def state(self) -> Engine:
        """The state store, migrated to the current schema on first use."""
        from careops.state.store import connect_state, migrate

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
    ) -> None:
        """Record who did what to which data (PIPL); inside `conn`'s transaction when given."""
        from careops.state.store import write_audit

        if conn is not None:
            write_audit(conn, action, target, detail, self.actor.label)
            return
        with self.state.begin() as c:
            write_audit(c, action, target, detail, self.actor.label)

    def close(self) -> None:
        """Release the state store's connections."""
        if "state" in self.__dict__:
            self.state.dispose()


def now() -> dt.datetime:
    """The current time in UTC (one place, so tests can freeze it)."""
    return dt.datetime.now(dt.UTC)

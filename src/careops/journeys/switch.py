"""Which journeys run live (启用/停用): a switch per journey in the state store.

The live worker (`clock.live_tick`) runs a journey when it is switched on. Without a switch of
its own, a hospital's journey (setting `journeys.dir`) is on — a file placed there is meant to
run — and a shipped template is off until someone enables it. Switching is audited with who
and why; a disabled journey's enrolments stop advancing until it is enabled again (nothing is
lost: timers fire late, the policy still applies). Replays (`journeys run`) ignore switches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from careops.journeys.definition import Loaded
from careops.service import Ops
from careops.state.models import metadata

switches = sa.Table(
    "journey_switches",
    metadata,
    sa.Column("journey", sa.String(64), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("changed_by", sa.String(128), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.String(500), nullable=False),
)


@dataclass(frozen=True)
class Switch:
    """A journey's live state and the last change of it."""

    journey: str
    enabled: bool
    default: bool  # no switch recorded: the origin's default
    changed_by: str | None = None
    changed_at: dt.datetime | None = None
    note: str = ""


def _default(origin: str) -> bool:
    return origin == "hospital"


def _recorded(conn: Connection) -> dict[str, sa.Row]:
    return {r.journey: r for r in conn.execute(sa.select(switches)).all()}


def state_of(ops: Ops, key: str, origin: str) -> Switch:
    """A journey's switch (its origin's default when none was recorded)."""
    with ops.state.connect() as conn:
        row = conn.execute(sa.select(switches).where(switches.c.journey == key)).first()
    if row is None:
        return Switch(key, _default(origin), True)
    return Switch(key, row.enabled, False, row.changed_by, row.changed_at, row.note)


def live(ops: Ops, loaded: list[tuple[Loaded, str]]) -> list[Loaded]:
    """Of (journey, origin) pairs, the journeys switched on."""
    with ops.state.connect() as conn:
        recorded = _recorded(conn)
    out = []
    for item, origin in loaded:
        row = recorded.get(item.journey.key)
        if row.enabled if row is not None else _default(origin):
            out.append(item)
    return out


def set_enabled(ops: Ops, key: str, enabled: bool, note: str = "") -> Switch:
    """Switch journey `key` (of the catalogue) on or off; audited. Needs `journeys.write`."""
    from careops.errors import InvalidInput
    from careops.journeys.service import find_in_catalogue

    ops.require("journeys.write")
    loaded = find_in_catalogue(key, ops)  # NotFound / InvalidInput for an unknown key
    if len(note) > 500 or any(ord(c) < 32 and c not in "\t" for c in note):
        raise InvalidInput("备注过长或含控制字符 / the note is too long or has control characters")
    now = dt.datetime.now(dt.UTC)
    actor = f"{ops.actor.kind}:{ops.actor.name}"
    values = {"enabled": enabled, "changed_by": actor, "changed_at": now, "note": note}
    with ops.state.begin() as conn:
        try:  # two administrators at once: the second insert becomes an update
            with conn.begin_nested():
                conn.execute(switches.insert().values(journey=loaded.journey.key, **values))
        except sa.exc.IntegrityError:
            conn.execute(
                switches.update().where(switches.c.journey == loaded.journey.key).values(**values)
            )
        ops.audit(
            "journey.enable" if enabled else "journey.disable",
            f"journey:{loaded.journey.key}",
            {"version": loaded.journey.version, "note": note},
            conn=conn,
        )
    return Switch(loaded.journey.key, enabled, False, actor, now, note)

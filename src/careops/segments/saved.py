"""Saved segments: named rules in the state store, their membership per date in the warehouse.

Definitions are typed records (`SegmentCreate` in, `SavedSegment` stored, `SegmentPublic` out)
in two state-store tables: `saved_segments` (the current version of each name) and
`saved_segment_versions` (every version ever saved, also of deleted segments, so an old
experiment or journey can tell which rule a name meant when). Experiments and journeys refer to
a saved segment by name inside state-store transactions, which is why definitions live there.

Membership snapshots (who was in the segment on which evaluated day) stay in the warehouse table
`segment_members`, keyed by segment name: they are patient-level and grow with patients × days,
they are computed in the warehouse and compared there (entries and exits are anti-joins), and
nothing transactional refers to them. One row with a null user_id marks each run, so an
evaluation with no members is recorded too; the table is append-only, so it works the same on
DuckDB, PostgreSQL and Spark.

Carry-over: before the state store held them, definitions were appended to the warehouse table
`segment_definitions`. The first time a state store is used with such a warehouse, every
version there is copied in (`carry_over`), once: the copy is recorded in `carried_over`, so a
segment deleted afterwards does not come back. The warehouse table is left in place, not dropped:
the copy runs from read-only commands (a read-only DuckDB file cannot drop anything, and on
DuckDB only one process may write), the same warehouse may serve another state store that has
not copied it yet, and the old rows are the only record of who saved what before the upgrade.
Nothing reads it after the copy.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator

from careops.errors import NotFound
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import Node, parse_rule, to_data, to_text
from careops.state.models import carried_over, saved_segment_versions, saved_segments

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from sqlalchemy.engine import Connection

    from careops.config import Settings

OLD_DEFINITIONS = "segment_definitions"
MEMBERS = "segment_members"
TS = "timestamp('UTC')"
MEMBERS_SCHEMA = ibis.schema(
    {"segment": "string", "as_of": "date", "user_id": "string", "computed_at": TS}
)
_NAME = re.compile(r"^[\w\-]{1,64}$")


class SegmentNotFound(NotFound):
    """No saved segment of that name."""


class SegmentCreate(BaseModel):
    """What a caller gives to save a segment: a name, a rule (text or its JSON form), a note."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rule: str | dict[str, Any]
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name or ""):
            raise RuleError(
                f"人群名 {name!r} 应为 1–64 个字母、数字、'_' 或 '-' / segment name {name!r}: "
                "use 1–64 letters, digits, '_' or '-'"
            )
        return name


class SavedSegment(BaseModel):
    """A saved segment as stored: the checked rule in its JSON form and as text, its version,
    when and by whom it was saved."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    rule: dict[str, Any]
    rule_text: str
    description: str = ""
    saved_at: datetime
    saved_by: str

    @field_validator("saved_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @classmethod
    def of(
        cls,
        name: str,
        rule: str | dict[str, Any] | Node,
        description: str = "",
        version: int = 1,
        saved_by: str = "",
        saved_at: datetime | None = None,
    ) -> SavedSegment:
        """A checked rule as a saved segment, not (yet) stored anywhere."""
        node, _ = check(parse_rule(rule))
        return cls(
            name=SegmentCreate(name=name, rule="x").name,
            version=version,
            rule=json.loads(json.dumps(to_data(node), ensure_ascii=False, default=str)),
            rule_text=to_text(node),
            description=description,
            saved_at=saved_at or datetime.now(UTC),
            saved_by=saved_by,
        )

    @property
    def node(self) -> Node:
        return parse_rule(self.rule)

    @property
    def text(self) -> str:
        return self.rule_text

    def public(self) -> SegmentPublic:
        return SegmentPublic(
            name=self.name,
            version=self.version,
            rule=self.rule_text,
            description=self.description,
            saved_at=self.saved_at,
        )


class SegmentPublic(BaseModel):
    """What a saved segment shows outside (CLI JSON, API): no account names."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    rule: str
    description: str
    saved_at: datetime


def _stored(row: Any) -> SavedSegment:
    return SavedSegment.model_validate(dict(row._mapping))


def save_segment(
    conn: Connection, segment: SegmentCreate, actor: str, now: datetime | None = None
) -> SavedSegment:
    """Check the rule and save it under its name inside `conn`'s transaction: a new name, or a
    new version of an existing one (the old versions are kept)."""
    current = conn.execute(
        sa.select(sa.func.max(saved_segment_versions.c.version)).where(
            saved_segment_versions.c.name == segment.name
        )
    ).scalar()
    saved = SavedSegment.of(
        segment.name, segment.rule, segment.description, (current or 0) + 1, actor, now
    )
    values = saved.model_dump()
    conn.execute(saved_segment_versions.insert().values(values))
    conn.execute(saved_segments.delete().where(saved_segments.c.name == segment.name))
    conn.execute(saved_segments.insert().values(values))
    return saved


def list_segments(conn: Connection) -> list[SavedSegment]:
    """The saved segments (current version of each), by name."""
    rows = conn.execute(sa.select(saved_segments).order_by(saved_segments.c.name))
    return [_stored(r) for r in rows]


def get_segment(conn: Connection, name: str) -> SavedSegment:
    """A saved segment by name, or an error naming the closest saved one."""
    from careops.tags.registry import unknown_message

    row = conn.execute(sa.select(saved_segments).where(saved_segments.c.name == name)).first()
    if row is None:
        found = [
            r[0]
            for r in conn.execute(sa.select(saved_segments.c.name).order_by(saved_segments.c.name))
        ]
        raise SegmentNotFound(
            unknown_message("saved segment", name, found)
            + (f"; saved: {', '.join(found)}" if found else "; none saved yet")
        )
    return _stored(row)


def delete_segment(conn: Connection, name: str) -> SavedSegment:
    """Remove a saved segment's current version (its history stays); returns what it was."""
    segment = get_segment(conn, name)
    conn.execute(saved_segments.delete().where(saved_segments.c.name == name))
    return segment


# --- carry-over from the warehouse of earlier versions -------------------------------------


def carry_over_source(warehouse_url: str) -> str:
    """The key under which the copy from this warehouse is recorded (credentials redacted)."""
    from careops.privacy.redact import redact

    return f"{OLD_DEFINITIONS}@{redact(warehouse_url)}"[:512]


def carried(conn: Connection, source: str) -> bool:
    return (
        conn.execute(
            sa.select(carried_over.c.source).where(carried_over.c.source == source)
        ).first()
        is not None
    )


def old_definitions(con: BaseBackend) -> list[dict[str, Any]]:
    """Every version in a warehouse's old `segment_definitions` table, oldest first."""
    if OLD_DEFINITIONS not in con.list_tables():
        return []
    t = con.table(OLD_DEFINITIONS)
    return t.order_by([t.name, t.saved_at]).to_pyarrow().to_pylist()


def carry_over(
    conn: Connection,
    source: str,
    rows: list[dict[str, Any]],
    actor: str,
    now: datetime | None = None,
) -> dict[str, int]:
    """Copy old warehouse definitions into the state store inside `conn`'s transaction, once
    per `source`. A name the state store already has keeps its own definition (it was saved
    here after the upgrade); a row whose rule is not readable JSON is skipped (a rule naming a
    tag that has since gone is kept: using it says which tag). Returns the counts
    (`segments`, `versions`, `skipped`); nothing when the copy was made already."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[conn.dialect.name]
    now = now or datetime.now(UTC)
    claimed = conn.execute(
        insert(carried_over)
        .values(source=source, carried_at=now, rows=len(rows))
        .on_conflict_do_nothing()
    ).rowcount
    if not claimed:  # another process copied it first
        return {}
    have = {r[0] for r in conn.execute(sa.select(saved_segment_versions.c.name).distinct())}
    versions: dict[str, list[dict[str, Any]]] = {}
    skipped = 0
    for row in rows:
        if row["name"] in have or not _NAME.match(row["name"] or ""):
            skipped += 1
            continue
        try:
            rule = json.loads(row["rule_json"])
            parse_rule(rule)
        except (ValueError, TypeError, RuleError):
            skipped += 1
            continue
        versions.setdefault(row["name"], []).append(
            {
                "name": row["name"],
                "version": len(versions.get(row["name"], [])) + 1,
                "rule": rule,
                "rule_text": row["rule_text"] or "",
                "description": row["description"] or "",
                "saved_at": row["saved_at"] or now,
                "saved_by": "carried-over",
            }
        )
    for rows_of_name in versions.values():
        conn.execute(saved_segment_versions.insert(), rows_of_name)
        conn.execute(saved_segments.insert().values(rows_of_name[-1]))
    return {
        "segments": len(versions),
        "versions": sum(map(len, versions.values())),
        "skipped": skipped,
    }


# --- membership snapshots, in the warehouse --------------------------------------------------


def _ensure_members(con: BaseBackend) -> None:
    if MEMBERS not in con.list_tables():
        from careops.warehouse.analyst_role import grant_new_tables

        con.create_table(MEMBERS, schema=MEMBERS_SCHEMA)
        grant_new_tables(con, [MEMBERS])


def refresh_members(
    con: BaseBackend, segment: SavedSegment, as_of: date, *, settings: Settings | None = None
) -> int:
    """Evaluate a saved segment as of a date and append its members; return how many."""
    from careops.segments.evaluate import members
    from careops.tags.compute import require_patients

    require_patients(con, as_of, settings)
    _ensure_members(con)
    m = members(con, segment.rule, as_of, settings=settings)
    now = datetime.now(UTC)
    rows = m.select(
        segment=ibis.literal(segment.name),
        as_of=ibis.literal(as_of, type="date"),
        user_id=m.user_id,
        computed_at=ibis.literal(now.replace(tzinfo=None), type="timestamp").cast(TS),
    )
    con.insert(MEMBERS, rows)
    # one marker row per run (user_id null), so an evaluation with no members is recorded too
    con.insert(
        MEMBERS,
        pa.table(
            {
                "segment": [segment.name],
                "as_of": pa.array([as_of], pa.date32()),
                "user_id": pa.array([None], pa.string()),
                "computed_at": pa.array([now], pa.timestamp("us", tz="UTC")),
            }
        ),
    )
    t = con.table(MEMBERS).filter(ibis._.user_id.notnull())
    return int(
        t.filter(
            t.segment == segment.name,
            t.as_of == as_of,
            t.computed_at.cast("timestamp") == now.replace(tzinfo=None),
        )
        .count()
        .execute()
    )


def membership_history(con: BaseBackend, name: str) -> list[dict]:
    """Per evaluated date: members, and how many entered / left since the previous date."""
    if MEMBERS not in con.list_tables():
        return []
    t = con.table(MEMBERS).filter(ibis._.segment == name)
    batches = t.group_by("as_of").aggregate(latest=t.computed_at.max())
    cur = t.join(batches, (t.as_of == batches.as_of) & (t.computed_at == batches.latest)).select(
        "as_of", "user_id"
    )
    sizes = {
        r["as_of"]: int(r["n"])
        for r in cur.group_by("as_of").aggregate(n=cur.user_id.count()).to_pyarrow().to_pylist()
    }
    cur = cur.filter(cur.user_id.notnull())
    out, previous = [], None
    for day in sorted(sizes):
        row = {"as_of": day, "members": sizes[day], "entered": None, "left": None}
        if previous is not None:
            now, before = cur.filter(cur.as_of == day), cur.filter(cur.as_of == previous)
            row["entered"] = int(now.anti_join(before, "user_id").count().execute())
            row["left"] = int(before.anti_join(now, "user_id").count().execute())
        out.append(row)
        previous = day
    return out

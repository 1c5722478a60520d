"""Saved segments and their membership history, kept in two warehouse tables.

`segment_definitions` holds every saved version of a rule (the latest `saved_at` wins);
`segment_members` holds the members of each evaluation (segment, as_of, computed_at), plus one
row with a null user_id marking the run itself (so an empty result is recorded). Both are
append-only, so they work the same on DuckDB, PostgreSQL and Spark. (The SQLAlchemy state store
does not exist yet; when it does, definitions can move there — membership stays analytical.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.config import Settings
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.evaluate import members
from careops.segments.rules import Node, parse_rule, to_data, to_text
from careops.tags.compute import require_patients
from careops.tags.registry import unknown_message

DEFINITIONS = "segment_definitions"
MEMBERS = "segment_members"
TS = "timestamp('UTC')"
SCHEMAS = {
    DEFINITIONS: ibis.schema({"name": "string", "rule_json": "string", "rule_text": "string",
                              "description": "string", "saved_at": TS}),
    MEMBERS: ibis.schema({"segment": "string", "as_of": "date", "user_id": "string",
                          "computed_at": TS}),
}
_NAME = re.compile(r"^[\w\-]{1,64}$")


@dataclass(frozen=True)
class SavedSegment:
    name: str
    rule: Node
    description: str
    saved_at: datetime

    @property
    def text(self) -> str:
        return to_text(self.rule)


def _ensure(con: BaseBackend) -> None:
    have = set(con.list_tables())
    for name, schema in SCHEMAS.items():
        if name not in have:
            con.create_table(name, schema=schema)


def _now() -> datetime:
    return datetime.now(UTC)


def save_segment(con: BaseBackend, name: str, rule: str | dict | Node,
                 description: str = "") -> SavedSegment:
    """Check and save a rule under a name (saving again replaces it; history is kept)."""
    if not _NAME.match(name or ""):
        raise RuleError(f"segment name {name!r}: use 1–64 letters, digits, '_' or '-'")
    node, _ = check(parse_rule(rule))
    _ensure(con)
    saved = _now()
    con.insert(DEFINITIONS, pa.table({
        "name": [name], "rule_json": [json.dumps(to_data(node), ensure_ascii=False, default=str)],
        "rule_text": [to_text(node)], "description": [description],
        "saved_at": pa.array([saved], pa.timestamp("us", tz="UTC"))}))
    return SavedSegment(name, node, description, saved)


def list_segments(con: BaseBackend) -> list[SavedSegment]:
    """The saved segments, latest version of each, by name."""
    if DEFINITIONS not in con.list_tables():
        return []
    t = con.table(DEFINITIONS)
    w = ibis.window(group_by=t.name, order_by=t.saved_at.desc())
    latest = t.mutate(r=ibis.row_number().over(w)).filter(ibis._.r == 0).order_by("name")
    return [SavedSegment(r["name"], parse_rule(json.loads(r["rule_json"])),
                         r["description"] or "", r["saved_at"])
            for r in latest.to_pyarrow().to_pylist()]


def get_segment(con: BaseBackend, name: str) -> SavedSegment:
    """A saved segment by name, or an error naming the closest saved one."""
    found = {s.name: s for s in list_segments(con)}
    if name not in found:
        raise RuleError(unknown_message("saved segment", name, found)
                        + (f"; saved: {', '.join(found)}" if found else "; none saved yet"))
    return found[name]


def refresh_members(con: BaseBackend, name: str, as_of: date, *,
                    settings: Settings | None = None) -> int:
    """Evaluate a saved segment as of a date and append its members; return how many."""
    seg = get_segment(con, name)
    require_patients(con, as_of, settings)
    m = members(con, seg.rule, as_of, settings=settings)
    now = _now()
    rows = m.select(
        segment=ibis.literal(name), as_of=ibis.literal(as_of, type="date"), user_id=m.user_id,
        computed_at=ibis.literal(now.replace(tzinfo=None), type="timestamp").cast(TS))
    con.insert(MEMBERS, rows)
    # one marker row per run (user_id null), so an evaluation with no members is recorded too
    con.insert(MEMBERS, pa.table({
        "segment": [name], "as_of": pa.array([as_of], pa.date32()),
        "user_id": pa.array([None], pa.string()),
        "computed_at": pa.array([now], pa.timestamp("us", tz="UTC"))}))
    t = con.table(MEMBERS).filter(ibis._.user_id.notnull())
    return int(t.filter(t.segment == name, t.as_of == as_of,
                        t.computed_at.cast("timestamp") == now.replace(tzinfo=None))
               .count().execute())


def membership_history(con: BaseBackend, name: str) -> list[dict]:
    """Per evaluated date: members, and how many entered / left since the previous date."""
    get_segment(con, name)
    _ensure(con)
    t = con.table(MEMBERS).filter(ibis._.segment == name)
    batches = t.group_by("as_of").aggregate(latest=t.computed_at.max())
    cur = t.join(batches, (t.as_of == batches.as_of) & (t.computed_at == batches.latest)) \
        .select("as_of", "user_id")
    sizes = {r["as_of"]: int(r["n"]) for r in
             cur.group_by("as_of").aggregate(n=cur.user_id.count()).to_pyarrow().to_pylist()}
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

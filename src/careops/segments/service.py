"""Segments as a service: count, sample and export a rule's patients; save, list, delete,
refresh and follow saved segments. Functions of `ops: Ops` and typed arguments, returning typed
results; the CLI (and later the API and the cockpit) print or render them.

A segment to evaluate is either a rule (text, JSON form) or a saved segment's name
(`Target.rule(...)` / `Target.saved(...)`). Exports of patient lists are audited (who, which
rule or segment, how many rows, to which file); save and delete write their audit row in the
same state-store transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from careops.errors import Conflict, InvalidInput
from careops.segments import saved as store
from careops.segments.saved import SavedSegment, SegmentCreate

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.service import Ops


@dataclass(frozen=True)
class Target:
    """What to evaluate: a rule, or a saved segment by name."""

    rule: str | dict[str, Any] | None = None
    segment: str | None = None

    def __post_init__(self) -> None:
        if (self.rule is None) == (self.segment is None):
            raise InvalidInput(
                "请给出规则或已保存人群的名称, 不能同时给出 / give either a rule or a saved "
                "segment's name, not both"
            )

    @property
    def label(self) -> str:
        return f"segment:{self.segment}" if self.segment else "rule"


@dataclass(frozen=True)
class Evaluation:
    """A count, a sample or an export: the rule evaluated (as text), the answer, and notes on
    event values the warehouse never has (the rule still runs; they match nobody)."""

    rule_text: str
    as_of: date
    count: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    segment: str | None = None


@dataclass(frozen=True)
class HistoryRow:
    as_of: date
    members: int
    entered: int | None
    left: int | None


def ensure_carried_over(ops: Ops, con: BaseBackend | None = None) -> dict[str, int]:
    """Copy the saved segments an older CareOps kept in this warehouse into the state store,
    the first time this state store meets this warehouse (see `careops.segments.saved`)."""
    source = store.carry_over_source(ops.warehouse_url)
    with ops.state.connect() as conn:
        if store.carried(conn, source):
            return {}
    if con is not None:
        rows = store.old_definitions(con)
    elif _missing_duckdb(ops.warehouse_url):
        rows = []
    else:
        with ops.warehouse(read_only=True) as wh:
            rows = store.old_definitions(wh)
    with ops.state.begin() as conn:
        counts = store.carry_over(conn, source, rows, ops.actor.label)
        if counts.get("versions"):
            ops.audit("segment.carry_over", source, counts, conn=conn)
    return counts


def _missing_duckdb(url: str) -> bool:
    """A DuckDB warehouse file that does not exist yet (so it holds no old definitions)."""
    if not url.startswith("duckdb://"):
        return False
    path = url[len("duckdb://") :]
    path = path[1:] if path.startswith("/") else path
    return path in ("", ":memory:") or not Path(path).is_file()


def _rule_of(ops: Ops, target: Target) -> tuple[Any, str | None]:
    if target.segment is None:
        return target.rule, None
    return get(ops, target.segment).rule, target.segment


def _evaluate(ops: Ops, target: Target, as_of: date, lang: str, run) -> Evaluation:
    from careops.segments.compile import check
    from careops.segments.rules import parse_rule, to_text
    from careops.segments.vocab import rule_warnings

    rule, name = _rule_of(ops, target)
    node, _ = check(parse_rule(rule))  # a bad rule fails before the warehouse is opened
    with ops.warehouse(read_only=True) as con:
        notes = rule_warnings(con, rule, lang)
        count, rows, path = run(con, node)
    return Evaluation(to_text(node), as_of, count, rows, path, notes, name)


def count(ops: Ops, target: Target, as_of: date, lang: str = "zh") -> Evaluation:
    """How many patients match as of the date (0 is a normal answer)."""
    from careops.segments import evaluate

    return _evaluate(
        ops,
        target,
        as_of,
        lang,
        lambda con, node: (evaluate.count(con, node, as_of, settings=ops.settings), [], None),
    )


def sample(ops: Ops, target: Target, as_of: date, limit: int = 10, lang: str = "zh") -> Evaluation:
    """Up to `limit` matching patients (the first by user_id) with the tags the rule reads."""
    from careops.segments import evaluate

    def run(con, node):
        rows = evaluate.sample(con, node, as_of, limit, settings=ops.settings)
        return len(rows), rows, None

    return _evaluate(ops, target, as_of, lang, run)


def export(
    ops: Ops,
    target: Target,
    as_of: date,
    path: str | Path,
    columns: list[str] | None = None,
    lang: str = "zh",
) -> Evaluation:
    """Write the matching patients to CSV or Parquet, and audit the export: who, which rule or
    saved segment, as of when, how many rows, to which file (a patient list leaving CareOps).
    If the audit row cannot be written, the file is removed and the error raised."""
    from careops.segments import evaluate

    path = Path(path)

    def run(con, node):
        n = evaluate.export(con, node, as_of, path, columns=columns or (), settings=ops.settings)
        return n, [], path

    with ops.state.connect():  # an unreachable state store fails before any list is written
        pass
    result = _evaluate(ops, target, as_of, lang, run)
    try:
        ops.audit(
            "segment.export",
            target.label,
            {
                "segment": result.segment,
                "rule": result.rule_text,
                "as_of": as_of.isoformat(),
                "rows": result.count,
                "path": str(path.resolve()),
                "columns": list(columns or []),
            },
        )
    except BaseException:
        path.unlink(missing_ok=True)  # no patient list leaves without its audit row
        raise
    return result


def export_page(
    ops: Ops, target: Target, as_of: date, limit: int = 100, offset: int = 0, lang: str = "zh"
) -> Evaluation:
    """One page of the matching patients' ids (by user_id) and how many match in all, for a
    caller that takes the list page by page (the API); every page is audited like an export
    to a file: who, which rule or segment, as of when, which rows."""
    from careops.segments import evaluate
    from careops.tags.compute import require_patients

    if limit < 1 or offset < 0:
        raise InvalidInput(
            f"limit 须 ≥ 1 且 offset ≥ 0 / limit must be ≥ 1 and offset ≥ 0, got {limit} and "
            f"{offset}",
            field="limit",
        )

    def run(con, node):
        require_patients(con, as_of, ops.settings)
        m = evaluate.members(con, node, as_of, settings=ops.settings).select("user_id")
        total = int(m.count().to_pyarrow().as_py())
        rows = m.order_by("user_id").limit(limit, offset=offset).to_pyarrow().to_pylist()
        return total, rows, None

    with ops.state.connect():  # an unreachable state store fails before any list is read
        pass
    result = _evaluate(ops, target, as_of, lang, run)
    ops.audit(
        "segment.export",
        target.label,
        {
            "segment": result.segment,
            "rule": result.rule_text,
            "as_of": as_of.isoformat(),
            "rows": len(result.rows),
            "total": result.count,
            "offset": offset,
            "to": "api",
        },
    )
    return result


def save(ops: Ops, segment: SegmentCreate, lang: str = "zh") -> tuple[SavedSegment, list[str]]:
    """Save a rule under a name (a new version if the name exists), audited in the same
    transaction; returns the saved segment and notes on event values the warehouse lacks."""
    from careops.segments.compile import check
    from careops.segments.rules import parse_rule
    from careops.segments.vocab import rule_warnings

    check(parse_rule(segment.rule))
    notes: list[str] = []
    if not _missing_duckdb(ops.warehouse_url):
        with ops.warehouse(read_only=True) as con:
            ensure_carried_over(ops, con)
            notes = rule_warnings(con, segment.rule, lang)
    else:
        ensure_carried_over(ops)
    with ops.state.begin() as conn:
        saved = store.save_segment(conn, segment, ops.actor.label)
        ops.audit(
            "segment.save",
            segment.name,
            {"version": saved.version, "rule": saved.rule_text, "description": saved.description},
            conn=conn,
        )
    return saved, notes


def list_saved(ops: Ops) -> list[SavedSegment]:
    """The saved segments (current version of each), by name."""
    ensure_carried_over(ops)
    with ops.state.connect() as conn:
        return store.list_segments(conn)


def get(ops: Ops, name: str) -> SavedSegment:
    """A saved segment by name (`SegmentNotFound` names the closest)."""
    ensure_carried_over(ops)
    with ops.state.connect() as conn:
        return store.get_segment(conn, name)


def delete(ops: Ops, name: str) -> SavedSegment:
    """Delete a saved segment (its versions stay in the history), audited in the same
    transaction. A segment an experiment targets is kept: the experiment needs it."""
    from careops.experiments.store import experiments_targeting

    ensure_carried_over(ops)
    with ops.state.begin() as conn:
        users = experiments_targeting(conn, name)
        if users:
            raise Conflict(
                f"已保存的人群 {name!r} 是实验 {', '.join(users)} 的目标人群, 实验存在期间保留 / "
                f"saved segment {name!r} is targeted by experiment(s) "
                f"{', '.join(users)}; it is kept while they exist"
            )
        segment = store.delete_segment(conn, name)
        ops.audit(
            "segment.delete",
            name,
            {"version": segment.version, "rule": segment.rule_text},
            conn=conn,
        )
    return segment


def refresh(ops: Ops, name: str, as_of: date) -> int:
    """Evaluate a saved segment as of a date and record its members in the warehouse."""
    segment = get(ops, name)
    with ops.warehouse() as con:
        return store.refresh_members(con, segment, as_of, settings=ops.settings)


def history(ops: Ops, name: str) -> list[HistoryRow]:
    """Members per evaluated date, with how many entered and left since the previous date."""
    get(ops, name)
    if _missing_duckdb(ops.warehouse_url):
        return []
    with ops.warehouse(read_only=True) as con:
        return [HistoryRow(**r) for r in store.membership_history(con, name)]
